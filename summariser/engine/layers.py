"""Paper embeddings from a middle layer of the embedded model, computed by running only the
layers below it.

llama.cpp's embedding mode (embedder.py, used by fewshot-v5 and v6) runs all 18 layers and then
the output layer for every token: a 262,144-word projection, larger than the rest of the model,
whose result an embedding throws away. That costs about 3.45 ms per token on 2 cores. Here the
text is evaluated as a prompt, and a graph callback (llama.cpp's cb_eval) reads the hidden states
after the first N layers as soon as they are computed; its answer stops the computation there,
so neither the layers above N nor the output layer run: about 1.2 ms per token for 13 of 18
layers on a CPU build (on a GPU build only the CPU's part of the graph would stop early). The
vector is their mean over the text's tokens.

A middle layer is also the better embedding for labels here: on the seed gold set, with each
paper left out of its classifier's fit, the states after 13 layers told the contribution types
apart better than the final ones (docs/prompts.md, fewshot-v7's eval). Their dimensions differ in scale by
orders of magnitude, so they are used standardised over the pool (prompting/retrieval.py).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any

import numpy as np


# With last, a text longer than the context keeps its final tokens (a version's embedding
# question, about 10 tokens) and loses words from the middle of the abstract instead.
QUESTION_TOKENS = 32


class TooManyLayers(ValueError):
    """More layers asked for than the model has below its last."""


class LayerEmbedder:
    """Mean hidden states after the first `layers` layers of a GGUF model, one text at a time
    (not thread-safe: callers hold a lock)."""

    def __init__(self, path: Path, layers: int, context_tokens: int) -> None:
        import llama_cpp
        from llama_cpp import llama_cpp as C
        from llama_cpp._internals import LlamaBatch, LlamaContext

        # The Llama object lends the weights and the tokenizer; its own small context is unused.
        self._llama = llama_cpp.Llama(model_path=str(path), n_ctx=64, n_batch=64, verbose=False)
        depth = C.llama_model_n_layer(self._llama._model.model)
        # The last layer computes its output for the last token only (all that a prompt needs).
        if not 1 <= layers < depth:
            raise TooManyLayers(f"embedding_layers must be between 1 and {depth - 1} (the model has {depth} layers), not {layers}")
        self._width = self._llama.n_embd()
        self._tokens = context_tokens
        self._wanted = f"l_out-{layers - 1}".encode()  # llama.cpp's name for the output of layer i
        self._states: np.ndarray | None = None
        self._callback = _eval_callback(self)  # kept referenced: llama.cpp holds a pointer to it
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = params.n_batch = params.n_ubatch = context_tokens  # a whole text in one pass
        params.n_threads = params.n_threads_batch = os.cpu_count() or 1
        params.cb_eval = self._callback
        self._ctx = LlamaContext(model=self._llama._model, params=params, verbose=False)
        self._batch = LlamaBatch(n_tokens=context_tokens, embd=0, n_seq_max=1, verbose=False)

    def embed(self, text: str, last: bool = False) -> np.ndarray:
        """The mean over the text's tokens (the first context_tokens of them) of their hidden
        states after the first `layers` layers; with last, followed by the last token's states
        (twice as wide)."""
        from llama_cpp import llama_cpp as C

        tokens = self._llama.tokenize(text.encode("utf-8"), add_bos=True)
        if len(tokens) > self._tokens:  # too long: cut, keeping the end when it holds a question read there
            tokens = tokens[: self._tokens - QUESTION_TOKENS] + tokens[-QUESTION_TOKENS:] if last else tokens[: self._tokens]
        C.llama_memory_clear(self._ctx.memory, True)
        self._batch.set_batch(tokens, n_past=0, logits_all=False)
        self._states = None
        # The stopped computation leaves the last token's logits unset, which nothing reads.
        status = C.llama_decode(self._ctx.ctx, self._batch.batch)
        if status != 0:
            raise RuntimeError(f"llama.cpp could not evaluate the text (llama_decode returned {status})")
        if self._states is None or len(self._states) != len(tokens):
            raise RuntimeError(
                f"llama.cpp did not show the hidden states {self._wanted.decode()} of every token; "
                "this llama-cpp-python may name them differently"
            )
        mean = self._states.mean(axis=0)
        return np.concatenate([mean, self._states[-1]]) if last else mean

    def close(self) -> None:
        """Free the context and the weights."""
        self._ctx.close()
        self._llama.close()

    def _observe(self, tensor: int, ask: bool) -> bool:
        """llama.cpp's callback: asked which tensors to show (only the wanted layer's), then shown
        each one computed; returning False there stops the computation."""
        lib = _ggml()
        if ask:
            return bool(lib.ggml_get_name(tensor) == self._wanted)
        count = lib.ggml_nelements(tensor)
        if lib.ggml_nbytes(tensor) != 4 * count:  # not float32: leave _states unset, embed() says so
            return False
        states = np.empty(count, dtype=np.float32)
        lib.ggml_backend_tensor_get(tensor, states.ctypes.data, 0, 4 * count)
        self._states = states.reshape(-1, self._width)
        return False


def _eval_callback(embedder: LayerEmbedder) -> Any:
    import llama_cpp

    @llama_cpp.ggml_backend_sched_eval_callback
    def callback(tensor: int, ask: bool, user_data: ctypes.c_void_p) -> bool:
        return embedder._observe(tensor, ask)

    return callback


def _ggml() -> Any:
    """ggml's library, as loaded by llama-cpp-python, with the signatures used here."""
    from llama_cpp._ggml import libggml as lib

    if not getattr(lib, "_summariser_typed", False):
        lib.ggml_get_name.restype, lib.ggml_get_name.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
        lib.ggml_nelements.restype, lib.ggml_nelements.argtypes = ctypes.c_int64, [ctypes.c_void_p]
        lib.ggml_nbytes.restype, lib.ggml_nbytes.argtypes = ctypes.c_size_t, [ctypes.c_void_p]
        lib.ggml_backend_tensor_get.restype = None
        lib.ggml_backend_tensor_get.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
        lib._summariser_typed = True
    return lib
