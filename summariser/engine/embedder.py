"""Text embeddings from the embedded model, computed in this process, whatever endpoint answers
the prompts: nothing is downloaded.

layers = 0 gives llama.cpp's embedding mode (mean pooling over the final hidden states, unit
length); layers = N the mean hidden states after the model's first N layers (layers.py), about
three times cheaper. TF-IDF matches words; these match what a paper is about even when the words
differ (docs/prompts.md: fewshot-v5 to v8).
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any, Sequence

import numpy as np

from ..base.errors import EmbeddedModelError
from .weights import weights_for_embedding

# Room for a whole abstract (the seed dump's longest paper is 525 tokens); longer texts are cut.
CONTEXT_TOKENS = 1024


class Embedder:
    """The models that embed texts, each loaded on first use and kept (one lock: a llama.cpp
    context serves one call at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pooled: Any = None
        self._layers: dict[int, Any] = {}  # LayerEmbedder by layer count
        # Freed before the interpreter tears down the modules llama-cpp-python frees them with.
        atexit.register(self.close)

    def close(self) -> None:
        """Free the models (a later embed loads them again)."""
        with self._lock:
            for model in [self._pooled, *self._layers.values()]:
                if model is not None:
                    model.close()
            self._pooled, self._layers = None, {}

    def embed(self, texts: Sequence[str], layers: int = 0, last: bool = False) -> np.ndarray:
        """One row per text (last, with layers: the mean hidden states, then the last token's)."""
        with self._lock:
            if layers:
                model = self._layer_model(layers)
                rows = [np.asarray(model.embed(t, last), dtype=np.float32) for t in texts]
            else:
                model = self._pooled_model()
                rows = [np.asarray(model.embed(t, normalize=True, truncate=True), dtype=np.float32) for t in texts]
        return np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def _layer_model(self, layers: int) -> Any:
        if layers not in self._layers:
            from .layers import LayerEmbedder, TooManyLayers

            try:
                self._layers[layers] = LayerEmbedder(weights_for_embedding(), layers, CONTEXT_TOKENS)
            except TooManyLayers as exc:  # the prompt version asks for more than the model has
                raise EmbeddedModelError(str(exc)) from None
        return self._layers[layers]

    def _pooled_model(self) -> Any:
        if self._pooled is None:
            path = weights_for_embedding()
            from llama_cpp import LLAMA_POOLING_TYPE_MEAN, Llama

            self._pooled = Llama(
                model_path=str(path),
                embedding=True,
                pooling_type=LLAMA_POOLING_TYPE_MEAN,
                n_ctx=CONTEXT_TOKENS,
                n_batch=CONTEXT_TOKENS,
                n_ubatch=CONTEXT_TOKENS,  # mean pooling needs a whole text in one batch
                n_threads=os.cpu_count() or 1,
                verbose=False,
            )
        return self._pooled
