"""`summariser prompts`: list, show and compare prompt versions."""

from __future__ import annotations

import click

from ..base.errors import PromptError
from pathlib import Path

from .common import fail, prompts_dir_option


@click.group()
def prompts() -> None:
    """List, show and compare prompt versions."""


@prompts.command("list")
@prompts_dir_option
def prompts_list(prompts_dir: Path | None) -> None:
    """Each prompt version: API style, hash, release state, status (recommended, superseded,
    experimental, and for which endpoints), what it requires, and what it is. "(default: chat)"
    marks the version `run` and `eval` use without --prompt on that kind of endpoint. Your own
    versions (--prompts-dir, or ./prompts) are listed with the packaged ones, as drafts."""
    from ..flow.fit import default_versions
    from ..prompting.store import available_versions, load_prompt, read_lock
    from ..prompting.version import requirements

    lock = read_lock()
    defaults: dict[str, list[str]] = {}
    for kind, version in default_versions().items():
        defaults.setdefault(version, []).append(kind)
    for name in available_versions(prompts_dir):
        try:
            p = load_prompt(name, prompts_dir)
        except PromptError as exc:
            click.echo(f"{name}: invalid: {exc}")
            continue
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

    try:
        path = resolve_path(version, prompts_dir)
        prompt = load_prompt(version, prompts_dir)
    except PromptError as exc:
        fail(str(exc))
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

    try:
        click.echo(diff_prompts(a, b, prompts_dir) or "(identical)", nl=False)
    except PromptError as exc:
        fail(str(exc))
