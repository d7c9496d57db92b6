"""The boundary between the core and the embedded model's engine (summariser/engine/).

The core knows the engine only by this interface and reaches it only through load_engine(), which
imports it by name when a run first needs it: nothing in the core imports the engine, or
llama-cpp-python, at import time, so an install without the [embedded] extra works against any
endpoint (import-linter checks this: pyproject.toml).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:
    import numpy as np

ENGINE_MODULE = "summariser.engine"


class Engine(Protocol):
    """An OpenAI-compatible endpoint on this machine, and text embeddings from its model."""

    model: str  # the model name the endpoint serves
    slots: int  # requests it decodes together: the client keeps this many in flight

    def base_url(self) -> str:
        """The endpoint's /v1 URL, starting it on first use; raises EmbeddedModelError."""
        ...

    def close(self) -> None:
        """Stop the endpoint if it runs."""
        ...

    def embed(self, texts: Sequence[str], layers: int = 0) -> "np.ndarray":
        """One vector per text: unit-length pooled final states (layers = 0), or the mean hidden
        states after the model's first `layers` layers; raises EmbeddedModelError."""
        ...


def load_engine() -> Engine:
    """The embedded model's engine (started lazily: making one costs nothing)."""
    module = importlib.import_module(ENGINE_MODULE)
    engine: Engine = module.LlamaEngine()
    return engine
