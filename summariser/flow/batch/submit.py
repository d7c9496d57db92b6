"""`batch submit` and `batch status`: each prepared request file uploaded and made a batch once,
whatever is killed when; the batches' progress, one line each."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .api import api_call, batch_client, cached_client, counts, find_batch, retrieve
from .models import PreparedFile, Settings
from .prepare import read_manifest
from .state import Entry, State, locked_state, save_state

if TYPE_CHECKING:
    import openai

Say = Callable[[str], None]


def file_sha256(path: Path) -> str:
    """The hash of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def submit(prepared: Path, state_dir: Path, say: Say) -> list[Entry]:
    """Upload each request file of a prepared folder and create its batch, recording the upload
    before creating the batch and the batch right after: a file already submitted (the same
    content) is never submitted again, and one uploaded by a killed submit gets the batch made
    from it, if any, else one now. The entries of the folder's files."""
    manifest = read_manifest(prepared)
    client = batch_client(manifest.settings.base_url)
    done: list[Entry] = []
    with locked_state(state_dir) as state:
        for prepared_file in manifest.files:
            done.append(_submit_file(client, state, state_dir, prepared.resolve(), prepared_file, manifest.settings, say))
    return done


def _submit_file(
    client: "openai.OpenAI", state: State, state_dir: Path, folder: Path, prepared: PreparedFile, settings: Settings, say: Say
) -> Entry:
    path = folder / prepared.name
    sha = file_sha256(path)
    entry = state.submitted(sha)
    if entry is not None and entry.batch_id:
        say(f"{prepared.name}: already submitted as batch {entry.batch_id}: not sent again")
        return entry
    if entry is None:
        entry = _upload(client, path, prepared, sha, settings, folder)
        state.entries.append(entry)
        save_state(state_dir, state)  # the upload is known before any batch is made from it
    else:
        found = find_batch(client, entry.file_id, entry.uploaded_at)
        if found is not None:
            entry.batch_id, entry.status = found.id, found.status
            save_state(state_dir, state)
            say(f"{prepared.name}: batch {found.id} was made from upload {entry.file_id} before an interruption: recorded, not sent again")
            return entry
    batch = create_batch(client, entry)
    entry.batch_id, entry.status = batch.id, batch.status
    save_state(state_dir, state)
    say(f"{prepared.name}: {prepared.requests} requests uploaded as {entry.file_id}, batch {batch.id} ({batch.status})")
    return entry


def _upload(client: "openai.OpenAI", path: Path, prepared: PreparedFile, sha: str, settings: Settings, folder: Path) -> Entry:
    """Upload a request file (purpose batch), named with its content's hash."""
    name = f"{path.stem}-{sha[:12]}.jsonl"
    with open(path, "rb") as data:
        uploaded = api_call(f"uploading {path}", lambda: client.files.create(file=(name, data, "application/jsonl"), purpose="batch"))
    return Entry(
        sha256=sha, file=str(path), papers=str(folder / prepared.papers), requests=prepared.requests, settings=settings,
        file_id=uploaded.id, uploaded_at=time.time(),
    )


def create_batch(client: "openai.OpenAI", entry: Entry) -> "openai.types.Batch":
    """The batch of an uploaded request file, answered within the API's 24 hours."""
    endpoint = entry.settings.endpoint
    return api_call(
        f"creating the batch of {entry.file_id}",
        lambda: client.batches.create(input_file_id=entry.file_id, endpoint=endpoint, completion_window="24h"),  # type: ignore[arg-type]
    )


def status(state_dir: Path, say: Say) -> list[Entry]:
    """One line per batch: its status and request counts (asked of the API unless collected),
    recorded in the state."""
    clients: dict[str | None, "openai.OpenAI"] = {}
    with locked_state(state_dir) as state:
        if not state.entries:
            say("no batches submitted from this cache folder")
        for entry in state.entries:
            if entry.batch_id is not None and not entry.collected:
                base_url = entry.settings.base_url
                client = cached_client(clients, base_url)
                batch = retrieve(client, entry.batch_id)
                entry.status, entry.counts = batch.status, counts(batch)
                save_state(state_dir, state)
            say(status_line(entry))
    return state.entries


def status_line(entry: Entry) -> str:
    """batch id, status, request counts, file, and whether it was collected."""
    if entry.batch_id is None:
        folder = Path(entry.file).parent
        return f"(no batch)  uploaded as {entry.file_id}, no batch yet: run `summariser batch submit {folder}` again  {entry.file}"
    got = entry.counts
    numbers = f"{got.get('completed', 0)}/{got.get('total', entry.requests)} completed, {got.get('failed', 0)} failed" if got else f"{entry.requests} requests"
    collected = "  collected" if entry.collected else ""
    return f"{entry.batch_id}  {entry.status or 'submitted'}  {numbers}  {entry.file}{collected}"
