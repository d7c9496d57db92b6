"""`summariser cache`: inspect or empty the response cache."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import click

from .common import cache_dir_option, open_cache


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
