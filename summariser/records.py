"""Reading dumps of papers: plain-text listings, JSONL/JSON and CSV, from a file or stdin."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from .base.errors import InputError

Format = Literal["text", "jsonl", "json", "csv"]
FORMATS: tuple[str, ...] = ("text", "jsonl", "json", "csv")

# Text glued to the first title by scraped listing pages (a button label next to it).
_GLUED_PREFIX = re.compile(r"^(?:Subscribe)(?=[A-Z0-9\"'(\[])")
# In a plain-text dump an abstract is a long line and a title a short one.
_ABSTRACT_MIN_WORDS = 30
_TITLE_MAX_WORDS = 40
# Real abstracts stay under ~2,000 characters (arXiv's limit is 1,920). Longer text is cut so a
# paper always fits the model's context next to the prompt: 4,000 characters of LaTeX-heavy text
# is at most ~2,700 tokens, which leaves room for the embedded model's 4,096-token context.
MAX_ABSTRACT_CHARS = 4000
MAX_TITLE_CHARS = 400


class Paper(BaseModel):
    """One paper from a dump."""

    id: str
    title: str
    abstract: str
    line: int | None = None  # where the paper starts in its source (1-based), for messages
    warnings: list[str] = []  # what was changed to make the paper usable (shown in its row)


@dataclass
class Dump:
    """The papers read from one input, plus what was passed over and why."""

    papers: list[Paper]
    format: str
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    cleaned: list[tuple[int, str]] = field(default_factory=list)  # (line, what was changed)
    unit: str = "line"  # what the numbers above count: lines, or a JSON list's items


def paper_id(title: str) -> str:
    """A stable id from the title alone, so the same paper gets the same id in any dump."""
    norm = " ".join(re.sub(r"[^\w\s]", " ", title.casefold()).split())
    return "p" + hashlib.sha256(norm.encode()).hexdigest()[:10]


def detect_format(name: str, text: str) -> Format:
    """Pick the format from the file extension, else from the content."""
    suffix = Path(name).suffix.lower()
    by_suffix = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".txt": "text"}
    if suffix in by_suffix:
        return by_suffix[suffix]  # type: ignore[return-value]
    head = text.lstrip()[:1]
    if head == "[":
        return "json"
    if head == "{":
        first = text.lstrip().splitlines()[0].strip()
        return "jsonl" if first.endswith("}") else "json"
    first_line = text.splitlines()[0].casefold() if text.strip() else ""
    if "," in first_line and "title" in first_line and "abstract" in first_line:
        return "csv"
    return "text"


def read_dump(source: str, fmt: str | None = None) -> Dump:
    """Read papers from a path or "-" (stdin). Raises InputError when nothing usable can be read."""
    name = "<stdin>" if source == "-" else source
    if source == "-":
        data = sys.stdin.buffer.read()
    else:
        path = Path(source)
        if not path.exists():
            raise InputError(f"{source}: no such file")
        if path.is_dir():
            raise InputError(f"{source}: is a directory, expected a file")
        data = path.read_bytes()
    text, replaced = _decode(data, name)
    if not text.strip():
        raise InputError(f"{name}: is empty")
    fmt = fmt or detect_format(name, text)
    parser = {"text": _parse_text, "jsonl": _parse_jsonl, "json": _parse_json, "csv": _parse_csv}[fmt]
    try:
        dump = parser(text, name)
    except csv.Error as exc:
        raise InputError(f"{name}: malformed CSV: {exc}") from None
    if replaced:
        dump.cleaned.insert(0, replaced)
    _drop_duplicates(dump)
    for paper in dump.papers:
        _fit(paper, dump)
    if not dump.papers:
        first = f"; {dump.unit} {dump.skipped[0][0]}: {dump.skipped[0][1]}" if dump.skipped else ""
        raise InputError(f"{name}: no papers found (read as {fmt}; a paper needs a title and an abstract{first})")
    return dump


def _decode(data: bytes, name: str) -> tuple[str, tuple[int, str] | None]:
    """The text of a file, and where (line, what) invalid UTF-8 was replaced, if it was.

    Text that is not UTF-8 is decoded anyway, each bad byte becoming U+FFFD and reported: one
    mis-encoded accent should not stop a 50,000-paper run, and the report says where to look."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), None
        except UnicodeDecodeError:
            raise InputError(f"{name}: starts like UTF-16 text but does not decode as it") from None
    if b"\x00" in data[:8192]:
        raise InputError(f"{name}: looks like a binary file, expected text, JSONL or CSV")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        first_line = data.count(b"\n", 0, exc.start) + 1
    text = data.decode("utf-8-sig", errors="replace")
    bad = text.count("\ufffd") - data.count("\ufffd".encode())
    return text, (first_line, f"not valid UTF-8: {bad} invalid byte sequence(s) replaced with U+FFFD (first on this line)")


def _drop_duplicates(dump: Dump) -> None:
    first: dict[str, int] = {}
    unique = []
    for paper in dump.papers:
        if paper.id in first:
            dump.skipped.append((paper.line or 0, f"duplicate of the paper at {dump.unit} {first[paper.id]} (id {paper.id}): processed once"))
            continue
        first[paper.id] = paper.line or 0
        unique.append(paper)
    dump.papers = unique


def _cut(text: str, limit: int) -> str:
    cut = text[:limit]
    return cut[: cut.rfind(" ")] if " " in cut[limit // 2 :] else cut  # at a word boundary when there is one


def _fit(paper: Paper, dump: Dump) -> None:
    """Cut an over-long abstract or title to fit the model's context, saying so in the row."""
    for name, limit in (("abstract", MAX_ABSTRACT_CHARS), ("title", MAX_TITLE_CHARS)):
        value = getattr(paper, name)
        if len(value) > limit:
            short = _cut(value, limit)
            setattr(paper, name, short)
            what = f"{name} truncated from {len(value):,} to {len(short):,} characters to fit the model's context"
            paper.warnings.append(what)
            dump.cleaned.append((paper.line or 0, what))


def _parse_text(text: str, name: str) -> Dump:
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    dump = Dump(papers=[], format="text")
    i = 0
    while i < len(lines):
        n, line = lines[i]
        nxt = lines[i + 1][1] if i + 1 < len(lines) else None
        if nxt is not None and _is_title(line) and _is_abstract(nxt):
            title = line
            glued = _GLUED_PREFIX.match(title)
            if glued:
                dump.cleaned.append((n, f"removed {glued.group(0)!r} glued to the title"))
                title = title[glued.end():]
            dump.papers.append(Paper(id=paper_id(title), title=title, abstract=nxt, line=n))
            i += 2
        else:
            dump.skipped.append((n, _unpaired(line, nxt, i == 0 or not _is_title(lines[i - 1][1]))))
            i += 1
    return dump


def _unpaired(line: str, nxt: str | None, after_non_title: bool) -> str:
    """Why a line of a plain-text dump is not part of a paper, in the user's terms."""
    if _is_abstract(line) and after_non_title:
        return "an abstract with no title line before it"
    if _is_title(line):
        return "a title (or page text) with no abstract line after it"
    return "not part of a title/abstract pair"


def _is_title(line: str) -> bool:
    return len(line.split()) <= _TITLE_MAX_WORDS


def _is_abstract(line: str) -> bool:
    return len(line.split()) >= _ABSTRACT_MIN_WORDS


def _record_to_paper(obj: object, line: int, dump: Dump) -> None:
    if not isinstance(obj, dict):
        dump.skipped.append((line, "not an object with title and abstract"))
        return
    title = str(obj.get("title") or "").strip()
    abstract = str(obj.get("abstract") or "").strip()
    missing = [k for k, v in (("title", title), ("abstract", abstract)) if not v]
    if missing:
        dump.skipped.append((line, f"missing {' and '.join(missing)}"))
        return
    pid = str(obj["id"]).strip() if obj.get("id") not in (None, "") else paper_id(title)
    dump.papers.append(Paper(id=pid, title=" ".join(title.split()), abstract=" ".join(abstract.split()), line=line))


def _parse_jsonl(text: str, name: str) -> Dump:
    dump = Dump(papers=[], format="jsonl")
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            dump.skipped.append((n, f"malformed JSON: {exc.msg}"))
            continue
        _record_to_paper(obj, n, dump)
    return dump


def _parse_json(text: str, name: str) -> Dump:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}:{exc.lineno}: malformed JSON: {exc.msg}") from None
    if isinstance(data, dict):
        data = data.get("papers", [data])
    if not isinstance(data, list):
        raise InputError(f"{name}: expected a JSON list of objects with title and abstract")
    dump = Dump(papers=[], format="json", unit="item")
    for i, obj in enumerate(data, start=1):
        _record_to_paper(obj, i, dump)
    return dump


def _parse_csv(text: str, name: str) -> Dump:
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().casefold() for f in (reader.fieldnames or [])}
    missing = {"title", "abstract"} - fields
    if missing:
        raise InputError(f"{name}:1: CSV header lacks column(s) {', '.join(sorted(missing))}")
    dump = Dump(papers=[], format="csv")
    start = reader.line_num + 1  # a quoted field may span lines: a row is named by its first
    for row in reader:
        row = {(k or "").strip().casefold(): v for k, v in row.items()}
        _record_to_paper(row, start, dump)
        start = reader.line_num + 1
    return dump
