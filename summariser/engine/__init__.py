"""The embedded model's engine: everything that runs llama.cpp (through llama-cpp-python).

The core reaches it only through base.engine_api.load_engine(), which makes a LlamaEngine: an
OpenAI-compatible server on a loopback port (server.py starting app.py, which serves greedy
completions with the batching engine, batching.py, and a faster grammar sampler, sampling.py) and
in-process text embeddings (embedder.py, layers.py). Importing this package imports no
llama-cpp-python: that happens when the server starts or the first text is embedded, and a
missing install is then an EmbeddedModelError saying what to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..base.versions import EMBEDDED_MODEL, EMBEDDED_SLOTS

if TYPE_CHECKING:
    import numpy as np

    from .embedder import Embedder

__all__ = ["LlamaEngine"]


class LlamaEngine:
    """base.engine_api.Engine for the embedded model: started on first use, stopped by close()."""

    model = EMBEDDED_MODEL
    slots = EMBEDDED_SLOTS

    def __init__(self, threads: int | None = None) -> None:
        from .server import EmbeddedServer

        self._server = EmbeddedServer(threads)
        self._embedder: "Embedder | None" = None  # made on the first embed

    def base_url(self) -> str:
        """The server's /v1 URL, starting it if needed."""
        return self._server.base_url()

    def close(self) -> None:
        """Stop the server if it runs, and free the embedding models."""
        self._server.close()
        if self._embedder is not None:
            self._embedder.close()

    def embed(self, texts: Sequence[str], layers: int = 0, last: bool = False) -> "np.ndarray":
        """One vector per text (see embedder.py)."""
        if self._embedder is None:
            from .embedder import Embedder

            self._embedder = Embedder()
        return self._embedder.embed(texts, layers, last)
