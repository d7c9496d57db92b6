"""`summariser init`: a workspace of one's own, with a prompt version to edit and a gold template."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from ..base.versions import DEFAULT_VERSION
from ..base.data import packaged
from .common import fail

WORKSPACE_README = """# A summariser workspace

- `prompts/{name}.toml`: your own prompt version, a copy of `{source}` to edit (instructions,
  label fields and their values, worked examples). Commands run here find it by name:
  `summariser run papers.txt --prompt {name}`. Packaged versions stay available by name; a file
  of yours may not take a packaged version's name with other content.
- `evals/gold-template.jsonl`: the shape of a hand-labelled gold file, one row per paper and
  annotator; `evals/GUIDE.md`: how the packaged gold set was labelled, to adapt to your labels.
- `summariser eval --prompt {name} --gold evals/gold.jsonl --input papers.txt` measures how
  your version's labels agree with yours.

`summariser prompts list` shows your versions (as drafts) with the packaged ones.
"""


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--from", "source", default=DEFAULT_VERSION, show_default=True, help="The packaged version to copy for editing.")
@click.option("--name", default="my-prompt", show_default=True, help="Your version's name (a file name: letters, digits, - and _).")
def init(directory: Path, source: str, name: str) -> None:
    """Make a workspace in DIRECTORY (default: here): prompts/ with a copy of a packaged prompt
    version (and its pool) to edit, evals/ with a gold template and the labelling guide, and a
    short README. Files that exist already are left as they are."""
    from ..base.errors import PromptError
    from ..prompting.store import load_prompt, packaged_dir

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        fail(f"--name {name!r}: use letters, digits, - and _")
    if (packaged_dir() / f"{name}.toml").exists():
        fail(f"--name {name!r} is a packaged version's name: give yours another")
    if not (packaged_dir() / f"{source}.toml").is_file():
        fail(f"--from {source!r}: not a packaged version (summariser prompts list)")
    try:
        prompt = load_prompt(source, packaged_dir())
    except PromptError as exc:
        fail(str(exc))
    text = (packaged_dir() / f"{source}.toml").read_text(encoding="utf-8").split("\n[meta]\n")[0]
    text = text.replace(f'version = "{source}"', f'version = "{name}"', 1)
    text += '\n[meta]\n# Yours: not released; status and requirements are checked when it loads.\nstatus = "experimental"\n'
    files = {
        Path("prompts") / f"{name}.toml": text,
        Path("evals") / "gold-template.jsonl": _gold_template(prompt.fields),
        Path("evals") / "GUIDE.md": packaged("GUIDE.md").read_text(encoding="utf-8"),
        Path("README.md"): WORKSPACE_README.format(name=name, source=source),
    }
    if prompt.retrieval is not None:
        pool = Path("prompts") / prompt.retrieval.pool
        files[pool] = (packaged_dir() / prompt.retrieval.pool).read_text(encoding="utf-8")
    for relative, content in files.items():
        _write_new(directory / relative, content)
    click.echo(f"next: cd {directory} && summariser prompts list && summariser run papers.txt --prompt {name}")


def _write_new(path: Path, content: str) -> None:
    if path.exists():
        click.echo(f"kept {path} (exists)")
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        fail(f"{exc.filename}: {exc.strerror}")
    click.echo(f"wrote {path}")


def _gold_template(fields: list) -> str:
    rows = [
        {
            "id": f"paper-{n}",
            "title": "The paper's title, as in your dump",
            "annotator": "your-name",
            "labels": {f.name: f"one of: {' | '.join(f.values)}" for f in fields},
            "summary": "One line saying what the paper contributes and finds (optional).",
        }
        for n in (1, 2)
    ]
    return "".join(json.dumps(row) + "\n" for row in rows)
