"""Merging caches made on several machines (a dump sharded by id range, each shard run with its
own cache) into one, so that `summariser run` on the whole dump finds every answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..base.errors import InputError
from .cache import ResponseCache
from .embedding_store import EmbeddingStore
from .storage import open_private_cache

# The folders a cache is made of: the answers (and a learning version's chosen settings), and
# the papers' embeddings beside them.
PARTS = {"answers": "", "embeddings": EmbeddingStore.FOLDER}


class Merged(BaseModel):
    """What one part of one source brought: entries copied, already there, and entries the
    destination holds with another value (kept as they were)."""

    source: str
    part: str
    copied: int = 0
    present: int = 0
    conflicting: int = 0


def merge_caches(sources: list[Path], destination: Path) -> list[Merged]:
    """Copy every entry of the source caches that the destination lacks (the destination wins
    where both hold a key; a request's answer is the same on any machine unless the model
    changed). Streams entry by entry: a cache of millions of answers needs no more memory than one."""
    out = []
    for source in sources:
        if not (source / "cache.db").is_file():
            raise InputError(f"{source}: not a summariser cache (no cache.db)")
        if source.resolve() == destination.resolve():
            raise InputError(f"{source}: is the destination itself")
        for part, sub in PARTS.items():
            if (source / sub / "cache.db").is_file():
                out.append(_merge_folder(source / sub, destination / sub, Merged(source=str(source), part=part)))
    return out


def _merge_folder(source: Path, destination: Path, tally: Merged) -> Merged:
    # The destination is opened as its owner opens it (answers: ResponseCache, embeddings:
    # EmbeddingStore), so merging never culls what it copies.
    limit = EmbeddingStore.SIZE_LIMIT if tally.part == "embeddings" else ResponseCache.SIZE_LIMIT
    src, dst = open_private_cache(source), open_private_cache(destination, size_limit=limit)
    try:
        for key in src.iterkeys():
            value = src.get(key)
            if value is None:  # evicted or removed meanwhile
                continue
            if dst.add(key, value):
                tally.copied += 1
            elif _same(dst.get(key), value):
                tally.present += 1
            else:
                tally.conflicting += 1
    finally:
        src.close()
        dst.close()
    return tally


def _same(a: Any, b: Any) -> bool:
    """Equal values; for embeddings, equal arrays."""
    if hasattr(a, "shape") or hasattr(b, "shape"):
        import numpy as np

        return bool(np.array_equal(a, b))
    return bool(a == b)
