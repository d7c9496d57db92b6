"""`batch prepare`: the requests of a dump the cache does not hold yet, written as Batch-API
request files as they are rendered (never all in memory), each under the API's limits, with a
paper file beside each mapping its requests' custom_ids back to their papers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Iterable, Iterator

from ...records import Paper
from ..calls import VersionRun
from .models import MANIFEST, MAX_BYTES, MAX_REQUESTS, BatchError, Manifest, PaperLine, PreparedFile, RequestLine, Settings
from .state import State, locked_state

OURS = ("requests-*.jsonl", "papers-*.jsonl", ".*.tmp", MANIFEST)


def short_key(custom_id: str) -> int:
    """64 bits of a cache key: enough to tell a dump's requests apart, in a fraction of the memory."""
    return int(custom_id[:16], 16)


def paper_keys(lines: IO[bytes]) -> Iterator[tuple[int, int]]:
    """Each request of a paper file (PaperLine JSONL): its line's byte offset, and its short key."""
    offset = 0
    for line in lines:
        if line.strip():
            yield offset, short_key(json.loads(line)["custom_id"])
        offset += len(line)


class RequestFiles:
    """Request files (and their paper files) written line by line, a new pair started whenever
    the next line would pass either limit; each pair appears under its name once complete."""

    def __init__(self, folder: Path, max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES) -> None:
        self.folder, self.max_requests, self.max_bytes = folder, max_requests, max_bytes
        self.written: list[PreparedFile] = []
        self._out: tuple[IO[bytes], IO[bytes]] | None = None
        self._count = self._bytes = 0

    def write(self, request: RequestLine, paper: PaperLine) -> None:
        line = request.model_dump_json().encode() + b"\n"
        if len(line) > self.max_bytes:
            raise BatchError(f"the request of paper {paper.paper.id} alone is {len(line)} bytes, over the {self.max_bytes} a file may hold")
        if self._out is None or self._count >= self.max_requests or self._bytes + len(line) > self.max_bytes:
            self._finish()
            number = len(self.written) + 1
            self._out = (open(self._tmp("requests", number), "wb"), open(self._tmp("papers", number), "wb"))
        self._out[0].write(line)
        self._out[1].write(paper.model_dump_json().encode() + b"\n")
        self._count += 1
        self._bytes += len(line)

    def _tmp(self, kind: str, number: int) -> Path:
        return self.folder / f".{kind}-{number:05d}.jsonl.tmp"

    def _finish(self) -> None:
        if self._out is None:
            return
        number = len(self.written) + 1
        for handle, kind in zip(self._out, ("requests", "papers")):
            handle.close()
            os.replace(self._tmp(kind, number), self.folder / f"{kind}-{number:05d}.jsonl")
        self.written.append(PreparedFile(name=f"requests-{number:05d}.jsonl", papers=f"papers-{number:05d}.jsonl", requests=self._count, bytes=self._bytes))
        self._out, self._count, self._bytes = None, 0, 0

    def close(self) -> list[PreparedFile]:
        """Finish the last pair; the files written."""
        self._finish()
        return self.written


def prepare(
    papers: Iterable[Paper], run: VersionRun, settings: Settings, out_dir: Path, state_dir: Path,
    max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES,
) -> Manifest:
    """Write the requests of the papers the cache has no answer for into out_dir (its earlier
    request files replaced), each request once, leaving out those already in batches submitted
    and not yet collected; the manifest, written last, says what was written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with locked_state(state_dir) as state:
        _check_free(out_dir, state)
        pending = pending_keys(state)
    _clear(out_dir)
    manifest = Manifest(settings=settings)
    files = RequestFiles(out_dir, max_requests, max_bytes)
    seen: set[int] = set()
    for paper in papers:
        manifest.papers += 1
        request, key, hit = run.keyed(paper)
        if hit is not None:
            manifest.cached += 1
            continue
        short = short_key(key)
        if short in pending or short in seen:
            manifest.pending += short in pending
            manifest.duplicates += short not in pending
            continue
        seen.add(short)
        path, body = request.endpoint_body()
        manifest.settings.endpoint = "/v1" + path  # the same for every request of a version
        files.write(RequestLine(custom_id=key, url="/v1" + path, body=body), PaperLine(custom_id=key, paper=paper))
    manifest.files = files.close()
    tmp = out_dir / f".{MANIFEST}.tmp"
    tmp.write_text(manifest.model_dump_json(indent=1))
    os.replace(tmp, out_dir / MANIFEST)
    return manifest


def _check_free(out_dir: Path, state: State) -> None:
    """Refuse to replace request files whose batches are still to be collected (their paper
    files map the answers back)."""
    here = out_dir.resolve()
    busy = [e.batch_id or e.file_id for e in state.entries if e.pending and Path(e.file).parent == here]
    if busy:
        raise BatchError(
            f"{out_dir} holds request files of batches not collected yet ({', '.join(busy[:3])}): "
            "run `summariser batch collect` first, or prepare into another folder with -o"
        )


def pending_keys(state: State) -> set[int]:
    """The requests (short keys) of batches submitted and not yet collected: not to be sent again."""
    keys: set[int] = set()
    for entry in state.entries:
        if not entry.pending:
            continue
        try:
            with open(entry.papers, "rb") as lines:
                keys.update(key for _, key in paper_keys(lines))
        except (OSError, ValueError, KeyError) as exc:
            raise BatchError(f"{entry.papers}: cannot read the papers of batch {entry.batch_id or entry.file_id} ({exc})") from None
    return keys


def _clear(out_dir: Path) -> None:
    for pattern in OURS:
        for path in out_dir.glob(pattern):
            path.unlink()


def read_manifest(folder: Path) -> Manifest:
    """A prepared folder's manifest; BatchError if the folder was not (completely) prepared."""
    path = folder / MANIFEST
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise BatchError(f"{folder}: no {MANIFEST}: prepare it first with `summariser batch prepare DUMP -o {folder}`") from None
    except ValueError as exc:
        raise BatchError(f"{path}: unreadable ({' '.join(str(exc).split())[:200]})") from None
