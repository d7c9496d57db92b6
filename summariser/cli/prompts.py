"""`summariser prompts`: list, show and compare prompt versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..base.errors import PromptError
from .common import fail, prompts_dir_option


class _PromptsGroup(click.Group):
    """A version that cannot be read or written ends any `prompts` command with one line (exit 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PromptError as exc:
            fail(str(exc))


@click.group(cls=_PromptsGroup)
def prompts() -> None:
    """List, show and compare prompt versions; make a draft of your own, check it, release it."""


@prompts.command("list")
@prompts_dir_option
def prompts_list(prompts_dir: Path | None) -> None:
    """Each prompt version: API style, hash, release state, status (recommended, superseded,
    experimental, and for which endpoints), what it requires, and what it is. "(default: chat)"
    marks the version `run` and `eval` use without --prompt on that kind of endpoint. Your own
    versions (--prompts-dir, or ./prompts) are listed with the packaged ones, as drafts."""
    from ..flow.fit import default_versions
    from ..prompting.store import available_versions, load_prompt, read_lock, resolve_path
    from ..prompting.version import requirements

    defaults: dict[str, list[str]] = {}
    for kind, version in default_versions().items():
        defaults.setdefault(version, []).append(kind)
    for name in available_versions(prompts_dir):
        try:
            p = load_prompt(name, prompts_dir)
        except PromptError as exc:
            click.echo(f"{name}: invalid: {exc}")
            continue
        lock = read_lock(resolve_path(name, prompts_dir).parent)  # the packaged lock, or your folder's
        released = "released" if lock.get(name) == p.sha256 else ("CHANGED after release" if name in lock else "draft")
        default = f" (default: {', '.join(defaults[name])})" if name in defaults else ""
        status = p.meta.status + (f" for {'/'.join(p.meta.recommended_for)}" if p.meta.recommended_for else "")
        needs = ", ".join(requirements(p)) or "-"
        summary = p.description.strip().splitlines()[0]
        click.echo(f"{name}{default}\t{p.api}\t{p.sha256[:12]}\t{released}\t{status}\trequires: {needs}\t{summary}")


@prompts.command("show")
@click.argument("version")
@prompts_dir_option
def prompts_show(version: str, prompts_dir: Path | None) -> None:
    """Print a prompt version's file."""
    from ..prompting.store import load_prompt, resolve_path

    path = resolve_path(version, prompts_dir)
    prompt = load_prompt(version, prompts_dir)
    covers = " (of the file above [meta], its pool and retrieval settings)" if prompt.retrieval else " (of the file above [meta])"
    click.echo(f"# {path} sha256={prompt.sha256}{covers}")
    click.echo(path.read_text(), nl=False)


@prompts.command("diff")
@click.argument("a")
@click.argument("b")
@prompts_dir_option
def prompts_diff(a: str, b: str, prompts_dir: Path | None) -> None:
    """Unified diff between two prompt versions."""
    from ..prompting.store import diff_prompts

    click.echo(diff_prompts(a, b, prompts_dir) or "(identical)", nl=False)


@prompts.command("new")
@click.argument("name")
@click.option("--from", "source", required=True, metavar="VERSION", help="The version to copy (e.g. fewshot-v9).")
@click.option("--edit/--no-edit", default=None, help="Open the draft in $EDITOR and check it on save. Default: when run in a terminal.")
@prompts_dir_option
def prompts_new(name: str, source: str, edit: bool | None, prompts_dir: Path | None) -> None:
    """Make NAME, a draft copy of VERSION to edit: its label fields and their values (each with a
    definition), its instructions and worked examples. A draft copied from a version with a
    classifier (fewshot-v8, fewshot-v9) learns its labels from pools/NAME.jsonl, the papers you label with
    `summariser label`; how much the classifier counts is chosen on those labels. The draft is
    written to --prompts-dir (default ./prompts), is usable at once, and every row it makes is
    marked draft until `summariser prompts release NAME`."""
    import sys

    from ..prompting.drafts import new_draft
    from ..prompting.store import user_dir

    directory = user_dir(prompts_dir) or Path("prompts")
    path, learns = new_draft(name, source, directory)
    click.echo(f"wrote {path}" + (f" (labels learn from {directory / 'pools' / (name + '.jsonl')})" if learns else ""))
    if not learns:
        click.echo(f"note: {source} has no classifier, so {name}'s labels will not learn from labelled papers; copy fewshot-v9 for that")
    if edit if edit is not None else sys.stdin.isatty():
        _edit_until_valid(path)
    click.echo(f"next: edit {path}, check it with `summariser prompts check {name}`, then `summariser label DUMP --prompt {name}`")


def _edit_until_valid(path: Path) -> None:
    """Open the file in the user's editor until it loads, or the user gives up."""
    from ..prompting.store import load_prompt

    while True:
        click.edit(filename=str(path))
        try:
            load_prompt(str(path))
            click.echo(f"{path}: valid")
            return
        except PromptError as exc:
            click.echo(f"{exc}", err=True)
            if not click.confirm("edit again?", default=True):
                return


@prompts.command("check")
@click.argument("version")
@prompts_dir_option
def prompts_check(version: str, prompts_dir: Path | None) -> None:
    """Check that a version's file (and its labelled file) load, and say what it is."""
    from ..prompting.store import load_prompt

    p = load_prompt(version, prompts_dir)
    fields = "; ".join(f"{f.name}: {', '.join(f.values)}" for f in p.fields)
    state = "draft" if p.draft else "released"
    pool = f", {len(p.pool)} labelled papers" if p.retrieval else ""
    click.echo(f"{p.version}: valid ({state}{pool}); {fields}")


@prompts.command("release")
@click.argument("name")
@prompts_dir_option
def prompts_release(name: str, prompts_dir: Path | None) -> None:
    """Freeze draft NAME: its hash (file, labelled file and settings) goes into versions.lock in
    --prompts-dir (default ./prompts) and its rows stop being marked draft. Change it later by
    copying it to a new draft."""
    from ..prompting.drafts import release
    from ..prompting.store import user_dir

    sha = release(name, user_dir(prompts_dir) or Path("prompts"))
    click.echo(f"released {name} {sha[:12]}")
