"""What a run tells the user on stderr: input lines passed over, progress and the final tally."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import click
from tqdm import tqdm

from ..base.types import Row
from ..records import Dump

MAX_INPUT_NOTES = 20


def progress(rows: Iterable[Row], total: int, desc: str | None = None) -> Iterable[Row]:
    """A progress bar on stderr: redrawn in place on a terminal, written every 30 s at most in a log."""
    return tqdm(rows, total=total, unit="paper", desc=desc, file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5 if sys.stderr.isatty() else 30)


@dataclass
class Tally:
    """What a run's rows came to, for the summary on stderr."""

    total: int | None = None  # papers to process, once the input is read
    ok: int = 0
    error: int = 0
    cached: int = 0
    warned: int = 0
    needs_review: int = 0
    unscored: int = 0  # ok rows without any label confidence
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
        self.needs_review += row.needs_review
        self.unscored += not row.error and all(c is None for c in row.confidence.values())
        if not row.cached:
            self.prompt_tokens += row.usage.prompt_tokens
            self.completion_tokens += row.usage.completion_tokens

    def describe(self) -> str:
        """E.g. "170 ok (12 cached), 8 error, 1 with a warning"."""
        warned = f", {self.warned} with a warning" if self.warned else ""
        return f"{self.ok} ok ({self.cached} cached), {self.error} error{warned}"

    def summary(self, where: str, skipped: int, model: str, prompt: str, seconds: float, review_below: float | None) -> list[str]:
        """The lines a run ends with on stderr: what its rows came to, what they cost, the
        commonest errors, and how many rows need review (with --review-below)."""
        lines = [
            f"{self.total} papers{where}: {self.describe()}; {skipped} input line(s) skipped; model {model}, prompt {prompt}; "
            f"new tokens: {self.prompt_tokens} prompt + {self.completion_tokens} completion; {seconds:.1f} s"
        ]
        lines += [f"  {count} x {reason}" for reason, count in self.errors.most_common(3)]
        if review_below is not None:
            lines.append(f"{self.needs_review} row(s) need review (a label confidence below {review_below})")
            if self.unscored:
                lines.append(
                    f"{self.unscored} row(s) have no confidence to judge: prompt {prompt} does not ask for "
                    "log-probabilities, or the endpoint returned none"
                )
        return lines


def report_input(dump: Dump, source: str) -> None:
    """One line per input line passed over or changed, as file:line: what (the first 20)."""
    notes = sorted([(line, f"skipped: {why}") for line, why in dump.skipped] + dump.cleaned)
    for line, what in notes[:MAX_INPUT_NOTES]:
        where = f"{source}:{line}" if dump.unit == "line" else f"{source}: {dump.unit} {line}"
        click.echo(f"{where}: {what}", err=True)
    if len(notes) > MAX_INPUT_NOTES:
        click.echo(f"{source}: ... and {len(notes) - MAX_INPUT_NOTES} more such lines", err=True)
