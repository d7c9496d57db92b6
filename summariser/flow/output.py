"""Writing rows as JSONL, CSV or a Markdown table; files appear whole (written aside, then renamed)."""

from __future__ import annotations

import csv
import glob
import os
import sys
import tempfile
from pathlib import Path
from typing import IO

from ..base.types import Row

OUTPUT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".md": "md", ".markdown": "md"}


def output_format(path: str | None) -> str:
    """The format for an output path by its extension; stdout gets JSONL."""
    if path is None or path == "-":
        return "jsonl"
    if Path(path).is_dir():
        raise ValueError(f"{path}: is a directory, expected an output file")
    fmt = OUTPUT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown output extension, use one of {', '.join(OUTPUT_FORMATS)}")
    return fmt


def flat_row(row: Row) -> dict[str, object]:
    """A row as flat columns (labels and usage spread out), for CSV."""
    data: dict[str, object] = {"id": row.id, "title": row.title, "summary": row.summary}
    data.update(row.labels)
    data.update({f"{name}_confidence": value for name, value in row.confidence.items()})
    data.update(
        prompt=f"{row.prompt} (draft)" if row.draft else row.prompt,
        prompt_sha256=row.prompt_sha256,
        model=row.model,
        prompt_tokens=row.usage.prompt_tokens,
        completion_tokens=row.usage.completion_tokens,
        error=row.error,
        warning=row.warning,
        needs_review=row.needs_review,
    )
    return data


def _md_cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _remove_stale_parts(path: Path) -> None:
    """Remove partial files left by a run of this output that was killed (kill -9 runs no cleanup).

    A part file names its writer's process id; one whose process is gone is garbage, while one
    whose process lives belongs to a concurrent run and is left alone."""
    for part in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
        try:
            pid = int(part.name[len(path.name) + 2 :].split(".", 1)[0])
        except ValueError:
            continue
        if not _alive(pid):
            part.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class RowWriter:
    """Writes rows to a path (atomically, on close) or to stdout (streamed JSONL)."""

    def __init__(self, path: str | None, label_fields: list[str]) -> None:
        self.format = output_format(path)
        self.path = None if path in (None, "-") else Path(path)
        self.label_fields = label_fields
        self.count = 0
        self._tmp: Path | None = None
        if self.path is None:
            self._out: IO[str] = sys.stdout
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_parts(self.path)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.{os.getpid()}.", suffix=".part", dir=self.path.parent)
            self._tmp = Path(tmp)
            self._out = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self._csv: csv.DictWriter[str] | None = None
        if self.format == "md":
            cols = ["title", "summary", *label_fields, "error", "warning"]
            self._out.write("| " + " | ".join(cols) + " |\n" + "|" + "---|" * len(cols) + "\n")

    def write(self, row: Row) -> None:
        """Append one row."""
        if self.format == "jsonl":
            self._out.write(row.model_dump_json(exclude=None if row.draft else {"draft"}) + "\n")
            if self.path is None:
                self._out.flush()
        elif self.format == "csv":
            flat = flat_row(row)
            if self._csv is None:
                self._csv = csv.DictWriter(self._out, fieldnames=list(flat))
                self._csv.writeheader()
            self._csv.writerow(flat)
        else:
            # A draft's rows say so where a reader of the table looks: beside any warning.
            warning = "; ".join(filter(None, [row.warning, "draft prompt version" if row.draft else None])) or None
            cells = [row.title, row.summary, *(row.labels.get(f) for f in self.label_fields), row.error, warning]
            self._out.write("| " + " | ".join(_md_cell(c) for c in cells) + " |\n")
        self.count += 1

    def close(self) -> None:
        """Finish the file: flush, sync and move it into place."""
        if self._tmp is None or self.path is None:
            return
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        os.replace(self._tmp, self.path)
        self._tmp = None

    def abort(self) -> None:
        """Drop a partly written file, leaving any previous output untouched."""
        if self._tmp is not None:
            self._out.close()
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

