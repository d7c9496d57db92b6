"""Embeddings through an OpenAI-compatible /v1/embeddings endpoint (the provider's embedding model:
OpenAI, vLLM, Ollama, llama.cpp, or the embedded model's own server), batched per request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..base.versions import EMBEDDED_MODEL, embedding_version
from .client import ModelClient

if TYPE_CHECKING:
    import numpy as np

BATCH = 64  # texts per request: well under every provider's limit, few round trips for a pool
# The embedded model's server embeds about 4 texts a second on 2 cores: 16 keep a request far
# inside the client's timeout.
EMBEDDED_BATCH = 16


class EndpointEmbedder:
    """An Engine-like embed() over HTTP. The embedded model's server names its middle-layer
    embeddings "<model>:layers<N>" (with ":last", the last token's state too); any other model
    ignores `layers` and `last` (its own embedding)."""

    def __init__(self, client: ModelClient, model: str, batch: int | None = None, owns_client: bool = False) -> None:
        self.client = client
        self.owns_client = owns_client  # made for these embeddings alone: closed with them
        self.model = model
        self.batch = batch or (EMBEDDED_BATCH if model == EMBEDDED_MODEL else BATCH)

    def identity(self, layers: int = 0, last: bool = False) -> str:
        """What keys the stored vectors and enters the hash of the versions that use them: the
        embedded model keeps its in-process name, so either way its vectors are the same ones."""
        if self.model == EMBEDDED_MODEL:
            return embedding_version(layers, last)
        return f"endpoint:{self.model}"

    def hash_identity(self) -> str | None:
        """What enters a version's hash for these embeddings: None for the embedded model's own
        (the hash already names them), else the endpoint's model."""
        return None if self.model == EMBEDDED_MODEL else self.identity()

    def embed(self, texts: Sequence[str], layers: int = 0, last: bool = False) -> "np.ndarray":
        """One row per text, `batch` texts per request."""
        import numpy as np

        # Another model embeds the text its own way: `last` is the embedded model's alone.
        name = f"{self.model}:layers{layers}{':last' * last}" if self.model == EMBEDDED_MODEL and layers else self.model
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch):
            rows += self.client.embeddings(list(texts[start : start + self.batch]), name)
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)

    def close(self) -> None:
        """Close the client if it was made for these embeddings alone."""
        if self.owns_client:
            self.client.close()
