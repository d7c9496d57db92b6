"""`summariser cache`: inspect or empty the response cache."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import click

from .common import cache_dir_option, fail, open_cache


@click.group()
def cache() -> None:
    """Inspect or empty the response cache."""


@cache.command("info")
@cache_dir_option
def cache_info(cache_dir: Path | None) -> None:
    """Where the cache is, how many answers it holds and its size."""
    with closing(open_cache(cache_dir)) as store:
        click.echo(f"{store.directory}: {len(store)} answers, {store.size_bytes() / 1e6:.1f} MB")


@cache.command("clear")
@cache_dir_option
def cache_clear(cache_dir: Path | None) -> None:
    """Remove every cached answer."""
    with closing(open_cache(cache_dir)) as store:
        click.echo(f"removed {store.clear()} answers from {store.directory}")


@cache.command("merge")
@click.argument("sources", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@cache_dir_option
def cache_merge(sources: tuple[Path, ...], cache_dir: Path | None) -> None:
    """Copy into this cache (--cache-dir, or the default) every answer and paper embedding of
    the SOURCES caches that it lacks: for a dump split over machines, each with its own cache,
    merged afterwards. Where both hold an entry, this cache's is kept. Sources are only read."""
    from ..base.errors import SummariserError
    from ..flow.merge import merge_caches
    from ..flow.storage import default_cache_dir

    destination = cache_dir or default_cache_dir()
    try:
        merged = merge_caches(list(sources), destination)
    except SummariserError as exc:
        fail(str(exc))
    for m in merged:
        clash = f", {m.conflicting} held here with another value (kept)" if m.conflicting else ""
        click.echo(f"{m.source} {m.part}: {m.copied} copied, {m.present} already here{clash}")
    click.echo(f"into {destination}")
