"""Private folders on disk: answers and embeddings come from abstracts that may be unpublished."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any


def default_cache_dir() -> Path:
    """$SUMMARISER_CACHE_DIR, else $XDG_CACHE_HOME/summariser, else ~/.cache/summariser."""
    env = os.environ.get("SUMMARISER_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "summariser"


def private_folder(directory: Path) -> None:
    """Make the folder, if missing, readable by the user only: answers and embeddings come from
    private abstracts."""
    try:
        directory.mkdir(parents=True, mode=0o700)
        os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask
    except FileExistsError:
        pass  # made before, or just now by a concurrent run


def open_private_cache(directory: Path, **settings: Any) -> Any:
    """A diskcache in a private folder. diskcache is safe across processes once open, but two
    processes opening one new cache at the same moment can fail (grantjenks/python-diskcache#266):
    opening is serialised."""
    import diskcache  # here: the CLI's options name the default folder without opening one

    private_folder(directory)
    with open(directory / "open.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return diskcache.Cache(str(directory), **settings)
