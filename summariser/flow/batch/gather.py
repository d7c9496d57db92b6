"""`batch collect`: every ended batch's output and error files taken into the cache (collect.py),
the batch then marked collected; what a failed or expired batch lost, with the commands that
send it again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..cache import ResponseCache
from ..calls import VersionRun
from .api import cached_client, counts, file_lines, retrieve
from .collect import Outcome, PaperFile, take_lines
from .runs import recorded_run, resubmit_command, table_command
from .state import ENDED, Entry, locked_state, save_state

if TYPE_CHECKING:
    import openai
    from openai.types import Batch

Say = Callable[[str], None]


def collect(state_dir: Path, cache: ResponseCache, say: Say, cache_args: list[str] | None = None) -> list[tuple[Entry, Outcome, int]]:
    """Collect every batch that ended and was not collected yet: (entry, outcome, requests lost)
    for each. cache_args: the options naming the cache folder, for the commands printed."""
    runs: dict[str, VersionRun] = {}
    clients: dict[str | None, "openai.OpenAI"] = {}
    done: list[tuple[Entry, Outcome, int]] = []
    with locked_state(state_dir) as state:
        todo = [entry for entry in state.entries if entry.pending]
        if not todo:
            say("nothing to collect: every batch submitted from this cache folder was collected")
        for entry in todo:
            if entry.batch_id is None:
                say(f"{entry.file}: uploaded as {entry.file_id} but no batch made: run `summariser batch submit {Path(entry.file).parent}` again")
                continue
            client = cached_client(clients, entry.settings.base_url)
            batch = retrieve(client, entry.batch_id)
            entry.status, entry.counts = batch.status, counts(batch)
            if batch.status not in ENDED:
                save_state(state_dir, state)
                say(f"{entry.batch_id}: {batch.status}, not ended: collect again later")
                continue
            key = entry.settings.model_dump_json()
            run = runs[key] = runs.get(key) or recorded_run(entry.settings, cache)
            outcome, lost = _collect_batch(client, batch, entry, run)
            entry.collected = True
            save_state(state_dir, state)
            _report(entry, outcome, lost, say, cache_args or [])
            done.append((entry, outcome, lost))
    for settings in {entry.settings.model_dump_json(): entry.settings for entry, _, _ in done}.values():
        say("the table, from the cache: " + table_command(settings, cache_args or []))
    return done


def _collect_batch(client: "openai.OpenAI", batch: "Batch", entry: Entry, run: VersionRun) -> tuple[Outcome, int]:
    """A batch's output and error files through take_lines, streamed; and how many of its
    requests have no line in either."""
    outcome = Outcome()
    papers = PaperFile(Path(entry.papers))
    try:
        for kind, file_id in (("output", batch.output_file_id), ("error", batch.error_file_id)):
            if file_id:
                with file_lines(client, file_id) as lines:
                    take_lines(lines, papers.find, run, outcome, f"{entry.batch_id} {kind} file")
        # A request whose line cannot be read is counted there (malformed), not as lost too.
        return outcome, max(0, len(papers) - len(outcome.seen) - outcome.unattributed)
    finally:
        papers.close()


def _report(entry: Entry, outcome: Outcome, lost: int, say: Say, cache_args: list[str]) -> None:
    head, *reasons = outcome.summary()
    say(f"{entry.batch_id} ({entry.status}, {Path(entry.file).name}): {head}")
    for reason in reasons:
        say(reason)
    if lost:
        say(f"  {lost} of its {entry.requests} requests got no answer ({entry.status}); to send them again:")
        # A folder of its own: the batch's folder may hold others still running.
        folder = Path(entry.file).parent
        say(f"  {resubmit_command(entry.settings, folder.with_name(f'{folder.name}-{entry.batch_id}'), cache_args)}")
