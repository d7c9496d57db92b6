"""Greedy sampling for the embedded model, under a grammar, without scanning the whole vocabulary.

llama-cpp-python runs the grammar over all 262k tokens before picking the most likely one, which
costs about 65 ms per generated token on two cores, more than the model itself. llama.cpp's own
sampler does it lazily, and so does this one: take the most likely token, check only it against
the grammar, and search further (the top candidates first, the whole vocabulary last) only when
it is rejected. The chosen token is the same as with the eager pass: the most likely token the
grammar allows.

It also tells the batching engine what text the grammar forces next ("Topic:" after the summary's
line, the rest of a label value once its first token is chosen) and when only the end is left,
so that text is evaluated as prompt tokens in one step, not generated token by token.
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


MAX_FORCED_BYTES = 64  # the longest text looked ahead for at once


def byte_tokens(vocab: Any, n_vocab: int) -> np.ndarray:
    """For each byte value 0-255, a token that spells exactly that byte (about 0.5 s, once)."""
    found = np.full(256, -1, dtype=np.int32)
    buf = ctypes.create_string_buffer(8)
    for token in range(n_vocab):
        if C.llama_token_to_piece(vocab, token, buf, len(buf), 0, False) == 1 and found[buf.raw[0]] < 0:
            found[buf.raw[0]] = token
    return found


def _top_k(logits: np.ndarray, k: int) -> np.ndarray:
    """The indices of the k largest logits, largest first (equal ones in index order).

    np.argpartition over all 262k logits costs about 1.8 ms, more than the rest of a sampling step
    and paid for every generated token. Every 64th logit gives a threshold that about 16 * 64
    logits pass (lowered until k do), and only those are partitioned: about 0.2 ms."""
    stride = 64
    sample = logits[::stride]
    near = np.arange(len(logits))
    for rank in (16, 64, 256):
        if rank * stride > len(logits) or rank > len(sample):
            break
        threshold = np.partition(sample, -rank)[-rank]
        candidates = np.flatnonzero(logits >= threshold)
        if len(candidates) >= k:
            near = candidates
            break
    if len(near) > k:
        near = np.sort(near[np.argpartition(logits[near], -k)[-k:]])
    return near[np.argsort(-logits[near], kind="stable")]


def _logsumexp(values: np.ndarray) -> float:
    peak = float(np.max(values))
    return peak + float(np.log(np.sum(np.exp(values - peak))))


class LazyGrammarSampler:
    """Greedy decoding, under a GBNF grammar if one is given, with llama.cpp's repetition penalties.

    Has the interface llama_cpp.Llama expects of its sampler: sample(ctx, idx) -> token, which
    also advances the grammar, as llama_sampler_sample does. With logprobs, each sample also sets
    last_logprob: the chosen token's log-probability among the tokens the grammar allows (within
    the TOP_CANDIDATES most likely), or among all tokens without a grammar, and last_top: the
    `logprobs` most likely of those tokens and their log-probabilities, best first (as OpenAI's
    logprobs: 0 none, N the chosen token's and N alternatives).
    """

    def __init__(
        self,
        vocab: Any,
        n_vocab: int,
        grammar: llama_cpp.LlamaGrammar | None,
        penalties: dict[str, float],
        last_n: int = 64,
        logprobs: int = 0,
    ) -> None:
        self._grammar = None
        if grammar is not None:
            self._grammar = C.llama_sampler_init_grammar(vocab, grammar._grammar.encode(), grammar._root.encode())
            if not self._grammar:
                raise ValueError("the grammar does not parse")
        self._n_vocab = n_vocab
        self._penalties = penalties
        self._history: deque[int] = deque(maxlen=last_n)
        self._top = logprobs  # 0: no log-probabilities
        self.last_logprob: float | None = None
        self.last_top: list[tuple[int, float]] = []

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

    def _allowed(self, ids: np.ndarray, logits: np.ndarray, grammar: Any = None) -> np.ndarray:
        """The grammar's verdict on candidate tokens: their logits, -inf where rejected."""
        n = len(ids)
        buf = np.empty(n, dtype=_TOKEN_DATA)
        buf["id"] = ids
        buf["logit"] = logits
        arr = C.llama_token_data_array(
            data=ctypes.cast(buf.ctypes.data, C.llama_token_data_p), size=n, selected=-1, sorted=False
        )
        C.llama_sampler_apply(grammar or self._grammar, ctypes.byref(arr))
        return buf["logit"]

    def forced(self, bytes_: np.ndarray, eos: int) -> tuple[bytes, bool]:
        """The text the grammar allows next and nothing else, and whether the end is then the
        only thing it allows (b"", False without a grammar or where it leaves a choice).

        A byte is forced when it is the only byte a token may start with there: each of the 256
        one-byte tokens (bytes_, from byte_tokens) and the end of text are put to the grammar,
        which accepts a token that begins what it allows, so a longer token cannot begin with
        any byte they do not. Only ASCII is followed; a grammar that forces a multi-byte
        character is left to the model."""
        if self._grammar is None or eos < 0 or (bytes_ < 0).any():
            return b"", False  # with a byte that no token spells, nothing can be shown forced
        probe = np.append(bytes_, np.int32(eos))
        zeros = np.zeros(len(probe), dtype=np.float32)
        text, grammar = b"", self._grammar
        try:
            while len(text) < MAX_FORCED_BYTES:
                ok = ~np.isneginf(self._allowed(probe, zeros, grammar))
                chars = np.flatnonzero(ok[:-1])
                if ok[-1] or len(chars) != 1 or chars[0] >= 0x80:
                    return text, bool(ok[-1]) and not len(chars)
                if grammar is self._grammar:
                    grammar = C.llama_sampler_clone(self._grammar)  # look ahead without moving
                C.llama_sampler_accept(grammar, int(bytes_[chars[0]]))
                text += bytes([chars[0]])
            return text, False
        finally:
            if grammar is not self._grammar:
                C.llama_sampler_free(grammar)

    def accept(self, tokens: list[int]) -> None:
        """Move past tokens the caller wrote itself (forced text), as if they had been sampled."""
        for token in tokens:
            if self._grammar is not None:
                C.llama_sampler_accept(self._grammar, token)
            self._history.append(token)

    def sample(self, ctx: Any, idx: int = -1) -> int:
        """The most likely token the grammar allows at output position idx."""
        raw = np.ctypeslib.as_array(C.llama_get_logits_ith(ctx.ctx, idx), shape=(self._n_vocab,))
        logits = self._penalise(raw)
        token = int(np.argmax(logits))
        if self._grammar is None:
            if self._top:
                norm = _logsumexp(logits)
                self.last_logprob = float(logits[token] - norm)
                best = _top_k(logits, self._top)
                self.last_top = [(int(t), float(logits[t] - norm)) for t in best]
            self._history.append(token)
            return token
        top = verdict = None
        rejected = bool(np.isneginf(self._allowed(np.array([token], np.int32), logits[[token]])[0]))
        if rejected or self._top:
            top = _top_k(logits, TOP_CANDIDATES)
            verdict = self._allowed(top.astype(np.int32), logits[top])
        if rejected:
            ok = np.flatnonzero(~np.isneginf(verdict))
            if len(ok):
                token = int(top[ok[0]])
            else:
                every = np.arange(self._n_vocab, dtype=np.int32)
                token = int(np.argmax(self._allowed(every, logits)))
        if self._top and verdict is not None:
            allowed = verdict[~np.isneginf(verdict)]
            if token not in top:  # found only in the full vocabulary: the one allowed token seen
                allowed = np.append(allowed, logits[token])
            norm = _logsumexp(allowed)
            self.last_logprob = float(logits[token] - norm)
            ok = np.flatnonzero(~np.isneginf(verdict))[: self._top]  # top is sorted best first
            self.last_top = [(int(top[i]), float(logits[top[i]] - norm)) for i in ok] or [(token, self.last_logprob)]
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
