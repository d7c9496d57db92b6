"""The response cache: validated answers on disk, keyed by the hash of the full request."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from ..base.types import Answer, Usage
from .storage import default_cache_dir, open_private_cache


class CachedAnswer(BaseModel):
    """What is kept per request: only validated answers (errors are never cached)."""

    answer: Answer
    usage: Usage
    # A learning version's answer is kept as the model gave it, with the model's distribution
    # over each field's values, so its labels can be decided again as its labelled file grows.
    distributions: dict[str, dict[str, float] | None] | None = None


class ResponseCache:
    """A diskcache-backed store, safe for several processes sharing one directory."""

    SIZE_LIMIT = 2**34  # bytes before diskcache culls

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory else default_cache_dir()
        self._cache = open_private_cache(self.directory, size_limit=self.SIZE_LIMIT)

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

    def get_text(self, key: str) -> str | None:
        """A text stored beside the answers (a learning version's chosen settings), or None."""
        value = self._cache.get(key)
        return value if isinstance(value, str) else None

    def set_text(self, key: str, value: str) -> None:
        """Store a text beside the answers."""
        self._cache.set(key, value)

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
