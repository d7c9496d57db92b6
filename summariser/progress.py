"""What a run tells the user on stderr: input lines passed over, progress, the final tally,
and what to do after an interruption."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import click
from tqdm import tqdm

from .records import Dump
from .schema import Row

MAX_INPUT_NOTES = 20


def progress(rows: Iterable[Row], total: int, desc: str | None = None) -> Iterable[Row]:
    """A progress bar on stderr: redrawn in place on a terminal, written every 30 s at most in a log."""
    return tqdm(rows, total=total, unit="paper", desc=desc, file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5 if sys.stderr.isatty() else 30)


class Terminated(BaseException):
    """SIGTERM arrived: handled like Ctrl-C (rows so far are cached, the output is left untouched)."""


def stop_on_sigterm() -> None:
    """Make SIGTERM raise Terminated in the main thread, so it is handled like Ctrl-C."""

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)


@dataclass
class Tally:
    """What a run's rows came to, for the summary on stderr."""

    ok: int = 0
    error: int = 0
    cached: int = 0
    warned: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, row: Row) -> None:
        """Count one row."""
        if row.error:
            self.error += 1
            self.errors[row.error] += 1
        else:
            self.ok += 1
        self.cached += row.cached
        self.warned += row.warning is not None
        if not row.cached:
            self.prompt_tokens += row.usage.prompt_tokens
            self.completion_tokens += row.usage.completion_tokens

    def describe(self) -> str:
        """"170 ok (12 cached), 8 error, 1 with a warning"."""
        warned = f", {self.warned} with a warning" if self.warned else ""
        return f"{self.ok} ok ({self.cached} cached), {self.error} error{warned}"


def report_input(dump: Dump, source: str) -> None:
    """One line per input line passed over or changed, as file:line: what (the first 20)."""
    notes = sorted([(line, f"skipped: {why}") for line, why in dump.skipped] + dump.cleaned)
    for line, what in notes[:MAX_INPUT_NOTES]:
        click.echo(f"{source}:{line}: {what}", err=True)
    if len(notes) > MAX_INPUT_NOTES:
        click.echo(f"{source}: ... and {len(notes) - MAX_INPUT_NOTES} more such lines", err=True)


def exit_interrupted(stopped: BaseException, tally: Tally, total: int, resumable: bool, to_file: bool) -> None:
    """Say how far the run got and how to finish it, then exit at once.

    os._exit, because calls still in flight on worker threads would otherwise be waited for
    (their retries can take minutes): what they would return is not lost, only not yet paid for.
    """
    signal_name, status = ("SIGTERM", 143) if isinstance(stopped, Terminated) else ("Ctrl-C", 130)
    done = tally.ok + tally.error
    if resumable:
        how = "every answer received is cached; to finish, run the same command again: summariser " + shlex.join(sys.argv[1:])
    else:
        how = "answers were not cached (--no-cache): running again starts over"
    output = "the output file was left as it was" if to_file else "the rows so far went to stdout"
    click.echo(f"\nsummariser: interrupted ({signal_name}) after {done} of {total} papers: {tally.describe()}; {output}.", err=True)
    click.echo(f"summariser: {how}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
