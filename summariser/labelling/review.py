"""Review mode's papers: a run's output rows to check, least confident first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Sequence

from pydantic import BaseModel, ValidationError

from ..base.errors import InputError
from ..prompting.version import LabelField


class RunRow(BaseModel):
    """The part of a `summariser run` JSONL row that review reads (flow/output.py writes it)."""

    id: str
    title: str = ""
    summary: str | None = None
    labels: dict[str, str | None] = {}
    confidence: dict[str, float | None] = {}
    needs_review: bool = False
    error: str | None = None


class ReviewItem(BaseModel):
    """One paper to review: the run's answer for it, with values the version allows."""

    id: str
    labels: dict[str, str]
    confidence: dict[str, float | None] = {}
    summary: str | None = None

    @property
    def least(self) -> float | None:
        """The lowest confidence over the fields (None: the run gave none)."""
        known = [c for c in self.confidence.values() if c is not None]
        return min(known) if known else None


@dataclass
class Review:
    """The papers to review, in order, and what was left out and why (for stderr)."""

    items: list[ReviewItem]
    notes: list[str]


def _rows(path: Path) -> list[RunRow]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: {getattr(exc, 'strerror', None) or exc}") from None
    rows = []
    for n, line in enumerate(lines, start=1):
        if line.strip():
            try:
                rows.append(RunRow.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValidationError):
                raise InputError(f"{path}:{n}: not a row of `summariser run` JSONL output (-o out.jsonl)") from None
    if not rows:
        raise InputError(f"{path}: no rows to review")
    return rows


def read_review(path: str | Path, dump_ids: Collection[str], fields: Sequence[LabelField]) -> Review:
    """The rows of a run's JSONL output to review: those marked needs_review (all of them when
    none is), lowest confidence first (rows without one last). Raises InputError when none of
    them is a paper of the dump."""
    path = Path(path)
    rows, notes = _rows(path), []
    failed: list[RunRow] = []
    answered: list[RunRow] = []
    for r in rows:
        (failed if r.error or not any(r.labels.values()) else answered).append(r)
    if failed:
        notes.append(f"{path}: {len(failed)} row(s) with an error have no answer to review (label them without --review)")
    known = [r for r in answered if r.id in dump_ids]
    if len(known) < len(answered):
        notes.append(f"{path}: {len(answered) - len(known)} row(s) are not papers of the dump (by id): left out")
    if answered and not known:
        raise InputError(f"{path}: none of its rows is a paper of the dump: give the dump the run read")
    flagged = [r for r in known if r.needs_review]
    if not flagged:
        notes.append(f"{path}: no row is marked needs_review (run --review-below P): all {len(known)} are offered")
    items, off = [], 0
    for r in flagged or known:
        labels = {f.name: r.labels[f.name] for f in fields if r.labels.get(f.name) in f.values}
        off += len(labels) < len(fields)
        items.append(ReviewItem(id=r.id, labels=labels, confidence=r.confidence, summary=r.summary))
    if off:
        notes.append(f"{path}: {off} row(s) have labels this version does not allow; those fields start unselected")
    items.sort(key=lambda item: 2.0 if item.least is None else item.least)
    return Review(items=items, notes=notes)
