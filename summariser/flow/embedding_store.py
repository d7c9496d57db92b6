"""Paper embeddings kept on disk: each vector is computed once per machine and text.

The vectors are kept in the `embeddings` folder of the response cache a run uses, keyed by the
text and base.versions.embedding_version(), so a pool is embedded once and a paper once per text.
What is missing is computed by the embedded model's engine (engine/), loaded on first need: a
run whose vectors are all stored never loads a model.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..base import engine_api
from ..base.engine_api import Engine
from ..base.errors import EmbeddedModelError
from ..base.versions import embedding_version
from .storage import open_private_cache, private_folder

BATCH = 64  # texts embedded (and, through an endpoint, sent) at a time

if TYPE_CHECKING:
    import numpy as np

    from ..transport.embeddings import EndpointEmbedder


class EmbeddingStore:
    """Vectors by text and embedding, from disk (directory) or memory (None), else from the engine."""

    FOLDER = "embeddings"  # beside a response cache's files
    # No culling: diskcache's default 1 GB limit would drop vectors of a big dump (about 4 GB a million).
    SIZE_LIMIT = 2**40

    def __init__(self, directory: Path | None = None, engine: Engine | None = None, name: str | None = None) -> None:
        self.directory = directory
        self._engine = engine
        # What keys the vectors when set: another process's store over the same folder, reading
        # what an endpoint's model embedded (its engine's own identity otherwise).
        self.name = name
        self._own_engine = False  # loaded here: closed with the store
        self._lock = threading.Lock()  # one embedding model serves one call at a time
        self._store: Any = None
        self._memory: dict[str, np.ndarray] = {}  # without a store, or when writing to it failed

    @classmethod
    def beside(cls, cache_dir: Path, engine: "Engine | EndpointEmbedder | None" = None) -> "EmbeddingStore":
        """The store in a response cache's folder: the same privacy, the same `--cache-dir`."""
        return cls(cache_dir / cls.FOLDER, engine)

    def embed(self, texts: Sequence[str], layers: int = 0, last: bool = False) -> "np.ndarray":
        """One row per text, from the store where it is there, else from the engine: unit length
        (layers = 0), or the mean hidden states after the model's first `layers` layers (last:
        and the last token's after them)."""
        import numpy as np

        version = self.identity(layers, last)
        keys = [hashlib.sha256(f"{version}\n{t}".encode()).hexdigest() for t in texts]
        with self._lock:
            store = self._open()
            found = {k: self._memory.get(k) if store is None else store.get(k, self._memory.get(k)) for k in keys}
            missing = list({k: text for k, text in zip(keys, texts) if found[k] is None}.items())  # each text once
            with _progress(len(missing)) as bar:
                for start in range(0, len(missing), BATCH):  # kept as each batch arrives: a kill loses little
                    chunk = missing[start : start + BATCH]
                    vectors = self.engine().embed([text for _, text in chunk], layers, last)
                    for (key, _), vector in zip(chunk, vectors):
                        found[key] = np.asarray(vector, dtype=np.float32)
                        self._keep(store, key, found[key])
                    bar.update(len(chunk))
        return np.vstack([found[k] for k in keys])

    def identity(self, layers: int = 0, last: bool = False) -> str:
        """What keys the vectors: the embedding model and how it embeds (the embedded model's by
        default; an endpoint's model names itself)."""
        if self.name is not None:
            return self.name
        named = getattr(self._engine, "identity", None)
        return named(layers, last) if callable(named) else embedding_version(layers, last)

    def shared_name(self) -> str | None:
        """The name another process's store over this folder needs, to find these vectors."""
        named = getattr(self._engine, "hash_identity", None)
        return self.name or (named() if callable(named) else None)

    def engine(self) -> Engine:
        """The engine that computes missing vectors, loaded on first need."""
        if self._engine is None:
            if self.name is not None:  # a worker reading what the parent's embedder stored
                raise EmbeddedModelError(f"no stored embedding of a paper for {self.name}: run the same command again")
            self._engine = engine_api.load_engine()
            self._own_engine = True
        return self._engine

    def close(self) -> None:
        """Close the store's database (vectors already written stay), and free the embedding
        model if the store loaded it."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            if self._own_engine and self._engine is not None:
                self._engine.close()
                self._engine, self._own_engine = None, False

    def _keep(self, store: Any, key: str, vector: "np.ndarray") -> None:
        if store is not None:
            try:
                store.set(key, vector)
                return
            except (OSError, sqlite3.Error) as exc:  # a full disk, a locked database: recomputed next run
                print(f"summariser: warning: paper embedding not stored ({type(exc).__name__}: {exc})", file=sys.stderr)
        self._memory[key] = vector

    def _open(self) -> Any:
        if self._store is None and self.directory is not None:
            private_folder(self.directory.parent)  # a cache folder made for it is as private as the answers'
            self._store = open_private_cache(self.directory, size_limit=self.SIZE_LIMIT)
        return self._store


def _progress(total: int) -> Any:
    from tqdm import tqdm

    # A pool, once per machine: a minute or two that should not look like a hang.
    return tqdm(total=total, desc="embedding papers", unit="paper", file=sys.stderr, leave=False, disable=total <= 1,
                dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 30)
