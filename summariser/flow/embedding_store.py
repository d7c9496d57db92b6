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
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..base.engine_api import Engine, load_engine
from ..base.versions import embedding_version
from .storage import open_private_cache, private_folder

if TYPE_CHECKING:
    import numpy as np


class EmbeddingStore:
    """Vectors by text and embedding, from disk (directory) or memory (None), else from the engine."""

    def __init__(self, directory: Path | None = None, engine: Engine | None = None) -> None:
        self.directory = directory
        self._engine = engine
        self._own_engine = False  # loaded here: closed with the store
        self._lock = threading.Lock()  # one embedding model serves one call at a time
        self._store: Any = None
        self._memory: dict[str, np.ndarray] = {}  # without a store, or when writing to it failed

    @classmethod
    def beside(cls, cache_dir: Path, engine: Engine | None = None) -> "EmbeddingStore":
        """The store in a response cache's folder: the same privacy, the same `--cache-dir`."""
        return cls(cache_dir / "embeddings", engine)

    def embed(self, texts: Sequence[str], layers: int = 0) -> "np.ndarray":
        """One row per text, from the store where it is there, else from the engine: unit length
        (layers = 0), or the mean hidden states after the model's first `layers` layers."""
        import numpy as np

        version = embedding_version(layers)
        keys = [hashlib.sha256(f"{version}\n{t}".encode()).hexdigest() for t in texts]
        with self._lock:
            store = self._open()
            found = {k: self._memory.get(k) if store is None else store.get(k, self._memory.get(k)) for k in keys}
            missing = {k: text for k, text in zip(keys, texts) if found[k] is None}  # each text once
            for key in _progress(missing):
                found[key] = np.asarray(self.engine().embed([missing[key]], layers)[0], dtype=np.float32)
                self._keep(store, key, found[key])
        return np.vstack([found[k] for k in keys])

    def engine(self) -> Engine:
        """The engine that computes missing vectors, loaded on first need."""
        if self._engine is None:
            self._engine = load_engine()
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
            self._store = open_private_cache(self.directory)
        return self._store


def _progress(missing: dict[str, str]) -> Iterable[str]:
    if len(missing) <= 1:
        return missing
    from tqdm import tqdm

    # A pool, once per machine: a minute or two that should not look like a hang.
    return tqdm(missing, desc="embedding papers", unit="paper", file=sys.stderr, leave=False,
                dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 30)
