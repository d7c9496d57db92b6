"""The response cache: validated answers on disk, keyed by the hash of the full request."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import diskcache
from pydantic import BaseModel

from .schema import Answer, Usage


class CachedAnswer(BaseModel):
    """What is kept per request: only validated answers (errors are never cached)."""

    answer: Answer
    usage: Usage


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


def open_private_cache(directory: Path, **settings: object) -> diskcache.Cache:
    """A diskcache in a private folder. diskcache is safe across processes once open, but two
    processes opening one new cache at the same moment can fail (grantjenks/python-diskcache#266):
    opening is serialised."""
    private_folder(directory)
    with open(directory / "open.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return diskcache.Cache(str(directory), **settings)


class ResponseCache:
    """A diskcache-backed store, safe for several processes sharing one directory."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory else default_cache_dir()
        self._cache = open_private_cache(self.directory, size_limit=2**34)

    def get(self, key: str) -> CachedAnswer | None:
        """The cached answer for a request key, or None."""
        raw = self._cache.get(key)
        if raw is None:
            return None
        try:
            return CachedAnswer.model_validate_json(raw)
        except ValueError:
            return None  # written by an incompatible version: treat as a miss

    def set(self, key: str, entry: CachedAnswer) -> None:
        """Store a validated answer."""
        self._cache.set(key, entry.model_dump_json())

    def __len__(self) -> int:
        return len(self._cache)

    def size_bytes(self) -> int:
        """Disk space used by the cache."""
        return int(self._cache.volume())

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        return int(self._cache.clear())

    def close(self) -> None:
        """Close the underlying database."""
        self._cache.close()
