"""The batches submitted from this cache folder, in <cache>/batches/state.json: per request file
(by the hash of its content) its upload, its batch and whether its answers were collected.

Written whole after every step, atomically (a temporary file, then os.replace), so a process
killed at any moment leaves the state before or after that step, never half of it; one process
at a time holds it (a lock file beside it)."""

from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel, ValidationError

from ..storage import private_folder
from .models import BatchError, Settings

STATE = "state.json"
# A batch in one of these ends with no more answers coming (some may have come before).
ENDED = ("completed", "failed", "expired", "cancelled")
LOSSY = ("failed", "expired", "cancelled")


class Entry(BaseModel):
    """One request file sent to the Batch API: uploaded, then (once created) its batch."""

    sha256: str  # of the request file's content: the same content is never submitted twice
    file: str  # the request file, and the paper file beside it (absolute paths)
    papers: str
    requests: int
    settings: Settings
    file_id: str
    uploaded_at: float
    batch_id: str | None = None
    status: str | None = None  # as last seen by status or collect
    counts: dict[str, int] = {}  # the batch's request_counts, as last seen
    collected: bool = False

    @property
    def lost(self) -> bool:
        """Collected from a batch that ended without answering everything: its content may be
        submitted again (`batch prepare` writes only what is still missing)."""
        return self.collected and self.status in LOSSY

    @property
    def pending(self) -> bool:
        """Its answers are still to come or to be collected."""
        return not self.collected


class State(BaseModel):
    """Every request file submitted from this cache folder, oldest first."""

    entries: list[Entry] = []

    def submitted(self, sha256: str) -> Entry | None:
        """The latest entry for this content still to be answered or collected (None: it may be
        submitted). Once a batch is collected, whatever of it the cache still lacks (lost,
        errored or invalid answers) may go again: `batch prepare` writes only what is missing."""
        for entry in reversed(self.entries):
            if entry.sha256 == sha256 and not entry.collected:
                return entry
        return None


def state_folder(cache_dir: Path) -> Path:
    """Where the batches' state lives: <cache>/batches (made private if missing)."""
    folder = Path(cache_dir) / "batches"
    private_folder(Path(cache_dir))
    private_folder(folder)
    return folder


def load_state(folder: Path) -> State:
    """The state in folder (empty if there is none yet)."""
    path = folder / STATE
    try:
        return State.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return State()
    except (ValidationError, ValueError) as exc:
        raise BatchError(f"{path}: unreadable batch state ({' '.join(str(exc).split())[:200]})") from None


def save_state(folder: Path, state: State) -> None:
    """Replace the state file atomically: a kill leaves the old one or the new one."""
    fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(state.model_dump_json(indent=1).encode())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, folder / STATE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def locked_state(folder: Path) -> Iterator[State]:
    """The state, held by this process until the block ends (another batch command waits)."""
    with open(folder / "state.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield load_state(folder)
