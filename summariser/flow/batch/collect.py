"""`batch collect` and `batch import`: answers of a batch (its output and error files, or a
results file made elsewhere) taken into the cache line by line, each validated as `run`
validates an answer (VersionRun.store_completion); what fails is counted, a few reasons kept,
and left to `run`, which asks those papers again one by one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterable, Sequence

from pydantic import ValidationError

from ...base.errors import AnswerError, MalformedResponse
from ...records import Paper
from ...transport.logprobs import completion_from_data, one_line
from ..calls import VersionRun
from .models import OutputLine, PaperLine
from .prepare import paper_keys, short_key

REASONS_KEPT = 5
Find = Callable[[str], "Paper | None"]


@dataclass
class Outcome:
    """What became of the lines of a batch's files."""

    stored: int = 0  # valid answers, now in the cache
    invalid: int = 0  # answers that fail validation
    errored: int = 0  # requests the endpoint answered with an error
    malformed: int = 0  # lines that are no output line, bodies that are no completion, unknown custom_ids
    reasons: list[str] = field(default_factory=list)  # the first few, for the user
    seen: set[int] = field(default_factory=set)  # short keys of the requests that have a line
    unattributed: int = 0  # lines whose request cannot be told (no custom_id, or not one of ours)
    answered: set[int] = field(default_factory=set)  # short keys of the answers stored

    def note(self, kind: str, reason: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.reasons) < REASONS_KEPT:
            self.reasons.append(one_line(reason))

    @property
    def left(self) -> int:
        """Lines whose papers `run` will ask again."""
        return self.invalid + self.errored + self.malformed

    def summary(self) -> list[str]:
        """One line of counts, then the first reasons, indented."""
        head = f"{self.stored} answers stored in the cache"
        if self.left:
            head += f"; {self.left} left for `summariser run` to ask again: {self.invalid} invalid, {self.errored} errored, {self.malformed} malformed"
        return [head, *(f"  {reason}" for reason in self.reasons)]


def take_lines(lines: Iterable[str | bytes], find: Find, run: VersionRun, outcome: Outcome, source: str) -> None:
    """Store the valid answers of these output lines, counting the rest in outcome."""
    for number, line in enumerate(lines, 1):
        try:
            out = OutputLine.model_validate_json(line)
        except ValidationError as exc:
            outcome.note("malformed", f"{source} line {number}: not a batch output line ({exc.errors()[0]['msg']})")
            outcome.unattributed += 1
            continue
        paper = find(out.custom_id)
        if paper is None:
            outcome.note("malformed", f"{source} line {number}: custom_id {out.custom_id[:16]} is none of the requests prepared")
            outcome.unattributed += 1
            continue
        outcome.seen.add(short_key(out.custom_id))
        if out.error is not None or out.response is None or out.response.status_code != 200:
            outcome.note("errored", f"paper {paper.id}: {_error(out)}")
            continue
        try:
            completion = completion_from_data(out.response.body, run.prompt.api)
            run.store_completion(paper, out.custom_id, completion)
        except MalformedResponse as exc:
            outcome.note("malformed", f"paper {paper.id}: {exc}")
        except AnswerError as exc:
            outcome.note("invalid", f"paper {paper.id}: invalid answer: {exc}")
        else:
            outcome.stored += 1
            outcome.answered.add(short_key(out.custom_id))


def short_or_none(custom_id: str) -> int | None:
    """The short key of a custom_id, None if it cannot be one of ours (not a cache key)."""
    try:
        return short_key(custom_id) if len(custom_id) == 64 else None
    except ValueError:
        return None


def _error(out: OutputLine) -> str:
    if isinstance(out.error, str):
        return out.error
    if out.error is not None:
        return f"{out.error.code or 'error'}: {out.error.message or ''}"
    if out.response is None:
        return "no response"
    body = out.response.body
    message = body.get("error", {}).get("message") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None
    return f"HTTP {out.response.status_code}" + (f": {message}" if message else "")


class PaperFile:
    """A request file's paper file, read on demand: custom_id -> paper by the line's offset, so
    only the offsets of one file (at most 50,000) are held."""

    def __init__(self, path: Path) -> None:
        self._handle: IO[bytes] = open(path, "rb")
        self._offsets: dict[int, int] = {}
        for offset, key in paper_keys(self._handle):
            self._offsets[key] = offset

    def __len__(self) -> int:
        return len(self._offsets)

    def find(self, custom_id: str) -> Paper | None:
        short = short_or_none(custom_id)
        offset = self._offsets.get(short) if short is not None else None
        if offset is None:
            return None
        self._handle.seek(offset)
        entry = PaperLine.model_validate_json(self._handle.readline())
        return entry.paper if entry.custom_id == custom_id else None

    def close(self) -> None:
        self._handle.close()


@dataclass
class Imported:
    """A results file taken into the cache: its outcome, and the dump's papers still unanswered."""

    outcome: Outcome
    missing: int


def import_results(results: Iterable[str | bytes], papers: Sequence[Paper], run: VersionRun, source: str) -> Imported:
    """Take a results file made elsewhere (vLLM's run_batch, or a batch's output file) into the
    cache. Its custom_ids are mapped back by rendering the dump's requests again, one at a time,
    into a table of 64-bit keys -> paper positions (a few dozen bytes per paper)."""
    index: dict[int, int] = {}
    unanswered: set[int] = set()
    for position, paper in enumerate(papers):
        _, key, hit = run.keyed(paper)
        short = short_key(key)
        index.setdefault(short, position)
        if hit is None:
            unanswered.add(short)

    def find(custom_id: str) -> Paper | None:
        short = short_or_none(custom_id)
        position = index.get(short) if short is not None else None
        return papers[position] if position is not None else None

    outcome = Outcome()
    take_lines(results, find, run, outcome, source)
    return Imported(outcome, len(unanswered - outcome.answered))
