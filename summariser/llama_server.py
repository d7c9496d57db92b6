"""The embedded model's server process: llama-cpp-python's OpenAI-compatible server, with a
faster greedy sampler for grammar-constrained requests.

llama-cpp-python runs the grammar over the whole 262k-token vocabulary before picking the most
likely token, which costs about 65 ms per generated token on two cores, more than the model
itself. llama.cpp's own sampler does it lazily, and so does this one: take the most likely token,
check only it against the grammar, and search further (the top candidates first, the whole
vocabulary last) only when it is rejected. The chosen token is the same as with the eager pass:
the most likely token the grammar allows.

Run as `python -m summariser.llama_server` with llama_cpp.server's arguments; embedded.py does.
"""

from __future__ import annotations

import ctypes
from collections import deque
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import llama_cpp as C

TOP_CANDIDATES = 256  # checked together before falling back to the full vocabulary
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


class LazyGrammarSampler:
    """Greedy decoding under a GBNF grammar, with llama.cpp's repetition penalties.

    Has the interface llama_cpp.Llama expects of its sampler: sample(ctx, idx) -> token, which
    also advances the grammar, as llama_sampler_sample does.
    """

    def __init__(self, vocab: Any, n_vocab: int, grammar: llama_cpp.LlamaGrammar, penalties: dict[str, float], last_n: int) -> None:
        self._grammar = C.llama_sampler_init_grammar(vocab, grammar._grammar.encode(), grammar._root.encode())
        self._n_vocab = n_vocab
        self._penalties = penalties
        self._history: deque[int] = deque(maxlen=last_n)
        self._buf = np.zeros(n_vocab, dtype=_TOKEN_DATA)

    def _penalise(self, logits: np.ndarray) -> np.ndarray:
        """The logits after llama.cpp's repeat/frequency/presence penalties over recent output."""
        if not self._history:
            return logits
        ids, counts = np.unique(np.fromiter(self._history, dtype=np.int32), return_counts=True)
        out = logits.copy()
        vals = out[ids]
        repeat = self._penalties["repeat"]
        vals = np.where(vals <= 0, vals * repeat, vals / repeat)
        vals -= counts * self._penalties["frequency"] + self._penalties["presence"]
        out[ids] = vals
        return out

    def _allowed(self, ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """The grammar's verdict on candidate tokens: their logits, -inf where rejected."""
        n = len(ids)
        buf = self._buf[:n]
        buf["id"] = ids
        buf["logit"] = logits
        arr = C.llama_token_data_array(
            data=ctypes.cast(buf.ctypes.data, C.llama_token_data_p), size=n, selected=-1, sorted=False
        )
        C.llama_sampler_apply(self._grammar, ctypes.byref(arr))
        return buf["logit"].copy()

    def sample(self, ctx: Any, idx: int = -1) -> int:
        """The most likely token the grammar allows at output position idx."""
        raw = np.ctypeslib.as_array(C.llama_get_logits_ith(ctx.ctx, idx), shape=(self._n_vocab,))
        logits = self._penalise(raw)
        token = int(np.argmax(logits))
        if np.isneginf(self._allowed(np.array([token], np.int32), logits[[token]])[0]):
            top = np.argpartition(logits, -TOP_CANDIDATES)[-TOP_CANDIDATES:]
            top = top[np.argsort(-logits[top], kind="stable")]
            verdict = self._allowed(top.astype(np.int32), logits[top])
            ok = np.flatnonzero(~np.isneginf(verdict))
            if len(ok):
                token = int(top[ok[0]])
            else:
                every = np.arange(self._n_vocab, dtype=np.int32)
                token = int(np.argmax(self._allowed(every, logits)))
        C.llama_sampler_accept(self._grammar, token)
        self._history.append(token)
        return token

    def close(self) -> None:
        """Free the grammar."""
        if self._grammar is not None:
            C.llama_sampler_free(self._grammar)
            self._grammar = None

    def __del__(self) -> None:
        self.close()


class LazyGrammarLlama(llama_cpp.Llama):
    """llama_cpp.Llama using LazyGrammarSampler for greedy requests with a grammar."""

    def _init_sampler(self, **kwargs: Any) -> Any:  # type: ignore[override]
        greedy = kwargs.get("temp") == 0.0 and not kwargs.get("logits_processor")
        if kwargs.get("grammar") is None or not greedy:
            return super()._init_sampler(**kwargs)
        penalties = {
            "repeat": kwargs.get("repeat_penalty", 1.0),
            "frequency": kwargs.get("frequency_penalty", 0.0),
            "presence": kwargs.get("presence_penalty", 0.0),
        }
        return LazyGrammarSampler(self._model.vocab, self._n_vocab, kwargs["grammar"], penalties, self.last_n_tokens_size)


def main() -> None:
    """Start llama_cpp.server with LazyGrammarLlama in place of llama_cpp.Llama."""
    # The server builds its model as llama_cpp.Llama(...), looked up at load time.
    llama_cpp.Llama = LazyGrammarLlama  # type: ignore[misc]
    from llama_cpp.server.__main__ import main as server_main

    server_main()


if __name__ == "__main__":
    main()
