"""A labelled file: hand labels as an append-only JSONL log, one line per answer.

`summariser label` appends a line the moment an answer is given (flushed and fsync'd), so a
crash or a closed tab loses nothing; an undo or a skip is a line too. Reading resolves the log:
for each (paper, annotator) the last line counts, a `retracted` line withdraws the answer
before it, and a `skipped` line records that the paper was passed over. The same file serves
as a version's pool (the primary annotator's answers) and as a gold set (every annotator's).
Hand-written files in the older shape (title, abstract, summary, labels; no id or annotator)
read as the first annotator's answers.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ValidationError, model_validator

from .base.errors import InputError
from .records import paper_id

PRIMARY = "a1"  # the annotator of rows that name none


class LabelledRow(BaseModel):
    """One line of a labelled file: an answer, a skip or the withdrawal of an answer."""

    id: str = ""
    title: str = ""
    abstract: str = ""
    annotator: str = PRIMARY
    labels: dict[str, str] = {}
    summary: str | None = None
    note: str | None = None
    skipped: bool = False
    retracted: bool = False
    at: str | None = None  # when it was given (UTC, ISO 8601), for rows the label page writes

    @model_validator(mode="after")
    def _identified(self) -> "LabelledRow":
        if not self.id:
            if not self.title:
                raise ValueError("a row needs an id or a title")
            self.id = paper_id(self.title)
        if not (self.labels or self.skipped or self.retracted):
            raise ValueError("a row needs labels, skipped or retracted")
        return self

    @property
    def answered(self) -> bool:
        """Whether the row gives labels (not a skip or a withdrawal)."""
        return not (self.skipped or self.retracted)


@dataclass
class Labelled:
    """A labelled file resolved: the last line per (paper, annotator), in order of first answer."""

    path: Path
    latest: dict[tuple[str, str], tuple[int, LabelledRow]]  # (id, annotator) -> (line, row)
    torn_tail: bool = False  # the last line was cut off mid-write (it is ignored)
    relabelled: int = 0  # (paper, annotator) pairs answered more than once: the last answer counts

    @property
    def annotators(self) -> list[str]:
        """Annotators in order of first appearance."""
        return list(dict.fromkeys(who for _, who in self.latest))

    def answers(self, annotator: str | None = None) -> list[tuple[int, LabelledRow]]:
        """(line, row) of each paper's current answer by one annotator (by default a1 where the
        file has any of a1's lines, else the first annotator in it)."""
        who = annotator or (PRIMARY if PRIMARY in self.annotators or not self.latest else self.annotators[0])
        return [(n, row) for (_, a), (n, row) in self.latest.items() if a == who and row.answered]

    def seen(self, annotator: str) -> set[str]:
        """Ids of the papers this annotator answered or skipped (a withdrawal makes one unseen)."""
        return {pid for (pid, a), (_, row) in self.latest.items() if a == annotator and not row.retracted}


def read_labelled(path: str | Path, data: bytes | None = None) -> Labelled:
    """Read and resolve a labelled file (a missing file is an empty one). Raises InputError,
    with the line, on a malformed line other than a torn last one. data: the file's bytes, when
    the caller has read them (and hashed those very bytes)."""
    path = Path(path)
    latest: dict[tuple[str, str], tuple[int, LabelledRow]] = {}
    answered: dict[tuple[str, str], int] = {}
    if data is None:
        data = path.read_bytes() if path.is_file() else b""
    lines = data.decode("utf-8", errors="replace").split("\n")
    torn = False
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = LabelledRow.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as exc:
            if n == len(lines):  # no newline after it: a write cut off by a crash
                torn = True
                continue
            raise InputError(f"{path}:{n}: not a labelled row: {str(exc).splitlines()[0]}") from None
        key = (row.id, row.annotator)
        if row.answered:
            answered[key] = answered.get(key, 0) + 1
        latest[key] = (n, row)
    repeats = sum(1 for count in answered.values() if count > 1)
    return Labelled(path=path, latest=latest, torn_tail=torn, relabelled=repeats)


class LabelledWriter:
    """Appends rows to a labelled file, each flushed to disk before append returns. One writer
    per file: a second (another `summariser label` on the same file) is refused."""

    def __init__(self, path: str | Path) -> None:
        import fcntl

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = open(self.path, "a+b")
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise InputError(f"{self.path} is open in another labelling session; close that one first") from None
        self._mend_torn_tail()

    def _mend_torn_tail(self) -> None:
        """Make the file end with a newline: a last line cut off mid-write is dropped; a whole
        one without a newline (a hand-edited file) is kept and ended."""
        self._file.seek(0)
        data = self._file.read()  # a labelled file is small: a few hundred bytes per answer
        if not data or data.endswith(b"\n"):
            return
        start = data.rfind(b"\n") + 1
        try:
            LabelledRow.model_validate(json.loads(data[start:]))
            self._file.write(b"\n")
        except (json.JSONDecodeError, UnicodeDecodeError, ValidationError):
            self._file.truncate(start)
        self._file.flush()
        os.fsync(self._file.fileno())

    def append(self, row: LabelledRow) -> LabelledRow:
        """Write one row (stamped with the time if it has none) and make it durable."""
        if row.at is None:
            row = row.model_copy(update={"at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        data = {"id": row.id, "annotator": row.annotator} | row.model_dump(exclude_defaults=True, exclude={"id", "annotator"})
        line = (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")
        fd = self._file.fileno()
        end = os.fstat(fd).st_size
        try:
            written = 0
            while written < len(line):  # unbuffered: nothing of a failed line lingers to be written later
                written += os.write(fd, line[written:])
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, end)  # a full disk leaves no part of the line behind
            raise
        return row

    def close(self) -> None:
        """Release the file (and its lock)."""
        self._file.close()
