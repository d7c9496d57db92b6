"""The boundary between the core and the embedded model's engine (summariser/engine/).

The core knows the engine only by this interface and reaches it only through load_engine(), which
imports it by name when a run first needs it: nothing in the core imports the engine, or
llama-cpp-python, at import time, so an install without the [embedded] extra works against any
endpoint (import-linter checks this: pyproject.toml).
"""

from __future__ import annotations

import importlib
from typing import Protocol

from .types import Embedder

ENGINE_MODULE = "summariser.engine"


class Engine(Embedder, Protocol):
    """An OpenAI-compatible endpoint on this machine, and text embeddings from its model."""

    model: str  # the model name the endpoint serves
    slots: int  # requests it decodes together: the client keeps this many in flight

    def base_url(self) -> str:
        """The endpoint's /v1 URL, starting it on first use; raises EmbeddedModelError."""
        ...

    def close(self) -> None:
        """Stop the endpoint if it runs."""
        ...


def load_engine() -> Engine:
    """The embedded model's engine (started lazily: making one costs nothing)."""
    module = importlib.import_module(ENGINE_MODULE)
    engine: Engine = module.LlamaEngine()
    return engine
