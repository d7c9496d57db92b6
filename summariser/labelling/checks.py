"""What is checked in a labelled file before a session starts, and what is said about it."""

from __future__ import annotations

from typing import Sequence

from ..base.errors import InputError
from ..labelled import Labelled
from ..prompting.version import LabelField


def check_values(labelled: Labelled, fields: Sequence[LabelField], version: str) -> None:
    """Refuse a file whose answers use a field or value the version does not have (InputError
    naming file:line, the value and the allowed values). Answers that no longer count (withdrawn
    or given again later) are not checked."""
    allowed = {f.name: list(f.values) for f in fields}
    for _, (line, row) in sorted(labelled.latest.items(), key=lambda item: item[1][0]):
        for name, value in row.labels.items() if row.answered else ():
            if name not in allowed:
                raise InputError(f"{labelled.path}:{line}: field {name!r} is not a field of {version} (its fields: {', '.join(allowed)})")
            if value not in allowed[name]:
                raise InputError(f"{labelled.path}:{line}: {name}={value!r} is not a value of {version} (allowed: {', '.join(allowed[name])})")


def file_notes(existing: Labelled) -> list[str]:
    """What stderr should say about the file as found: a torn last line, papers answered twice."""
    notes = [f"{existing.path}: the last line was cut off mid-write (a crash?); it was dropped"] if existing.torn_tail else []
    if existing.relabelled:
        notes.append(f"{existing.path}: {existing.relabelled} paper(s) answered more than once by one annotator "
                     "(after an undo, or labelled again); the last answer counts")
    return notes
