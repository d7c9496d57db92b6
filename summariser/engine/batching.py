"""Continuous batching for the embedded model: several completions decoded together.

On 2 cores a prompt token of this small model costs about 2 ms and a generated one about 12 ms,
most of it the 262k-word output layer; decoding several papers together keeps both cores busy
(fewshot-v7: 1.5 s a paper one at a time, 1.0 s four at a time). The engine keeps up to `slots`
requests in flight, each in its own sequence of one shared KV cache, and puts the next token of
every generating request, plus prompt tokens of the newly arrived ones, into each llama_decode
call.

Text the request's grammar forces ("Topic:" once the summary's line ends, the rest of a label
value after its first token) is not generated token by token: it is written at once and goes
through the model with the next step, as prompt tokens do, and an answer the grammar lets only
end is finished without another step. That saves 5 to 9 of the 40 or so steps of an answer, about
6% of the time. One sequence alone writes the same text as token by token (tests/test_embedded.py);
several tokens evaluated in one step may round differently in the last bits, as batching itself
does. Forced tokens get log-probability 0.

A new request starts from the longest prefix any sequence already holds (the prompt version's
instructions and examples), copied in the cache instead of evaluated again.

Only greedy decoding (temperature 0) is served here, which is what the prompt versions use; the
server sends anything else to llama-cpp-python's own path.
"""

from __future__ import annotations

import ctypes
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import llama_cpp as C
from llama_cpp._internals import LlamaBatch, LlamaContext

from .results import Result, add_logprobs, common_prefix, resolve
from .sampling import LazyGrammarSampler, byte_tokens

BATCH_TOKENS = 512


class ContextOverflow(ValueError):
    """A request needs more tokens than a sequence may hold."""


@dataclass
class _Job:
    tokens: list[int]
    max_tokens: int
    stop: list[str]
    sampler: LazyGrammarSampler
    future: Future[Result] = field(default_factory=Future)
    out: list[int] = field(default_factory=list)
    text: bytes = b""
    pieces: list[bytes] = field(default_factory=list)  # with logprobs: each token's bytes...
    logprobs: list[float] = field(default_factory=list)  # ...and log-probability...
    tops: list[dict[str, float]] = field(default_factory=list)  # ...and the alternatives
    want_logprobs: int = 0  # as OpenAI's logprobs: 0 none, N the chosen token and the N most likely


@dataclass
class _Slot:
    seq: int
    held: list[int] = field(default_factory=list)  # tokens in this sequence's cache, in order
    job: _Job | None = None
    # Tokens still to evaluate: the prompt's, or once the job generates, its last sampled token
    # and the text the grammar forced after it (job.out is then not empty).
    pending: list[int] = field(default_factory=list)


class BatchEngine:
    """Runs greedy completions for several callers at once on one llama.cpp context."""

    def __init__(self, llama: llama_cpp.Llama, slots: int, tokens_per_slot: int, threads: int) -> None:
        self.llama = llama
        self.tokens_per_slot = tokens_per_slot
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = slots * tokens_per_slot
        params.n_batch = params.n_ubatch = BATCH_TOKENS
        params.n_seq_max = slots
        params.kv_unified = True  # sequences share the prompt prefix's cache cells
        params.swa_full = True  # so a sequence can be cut back to a prefix
        params.n_threads = params.n_threads_batch = threads
        self._ctx = LlamaContext(model=llama._model, params=params, verbose=False)
        self._batch = LlamaBatch(n_tokens=BATCH_TOKENS, embd=0, n_seq_max=1, verbose=False)
        self._vocab = llama._model.vocab
        self._n_swa = C.llama_model_n_swa(llama._model.model) or 1 << 30  # 0: no sliding window
        self._bytes = byte_tokens(self._vocab, llama.n_vocab())  # to find text a grammar forces
        self._eos = C.llama_vocab_eos(self._vocab)
        self._slots = [_Slot(seq=i) for i in range(slots)]
        self._queue: list[_Job] = []
        self._cv = threading.Condition()
        self.evaluated_prompt_tokens = 0  # prompt tokens actually run through the model
        threading.Thread(target=self._run, name="batch-engine", daemon=True).start()

    def submit(
        self,
        prompt: str,
        max_tokens: int | None,
        stop: list[str],
        grammar: llama_cpp.LlamaGrammar | None,
        penalties: dict[str, float],
        logprobs: int = 0,
    ) -> Future[Result]:
        """Queue one greedy completion; the future holds its Result (with logprobs > 0, each
        token's log-probability and the `logprobs` most likely tokens at its place)."""
        tokens = self.llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if not max_tokens or max_tokens <= 0:  # as llama-cpp-python: up to the end of the context
            max_tokens = max(self.tokens_per_slot - len(tokens), 1)
        if len(tokens) + max_tokens > self.tokens_per_slot:
            raise ContextOverflow(
                f"the prompt has {len(tokens)} tokens and up to {max_tokens} more were asked for; "
                f"the context holds {self.tokens_per_slot}"
            )
        sampler = LazyGrammarSampler(self._vocab, self.llama.n_vocab(), grammar, penalties, self.llama.last_n_tokens_size, logprobs)
        job = _Job(tokens=tokens, max_tokens=max_tokens, stop=stop, sampler=sampler, want_logprobs=logprobs)
        with self._cv:
            self._queue.append(job)
            self._cv.notify()
        return job.future

    # -- the scheduler thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and all(s.job is None for s in self._slots):
                    self._cv.wait()
                # A caller that went away (its future cancelled) gives up its place.
                self._queue = [job for job in self._queue if not job.future.cancelled()]
                for slot in self._slots:
                    if slot.job is not None and slot.job.future.cancelled():
                        self._release(slot, keep=False)
                    if slot.job is None and self._queue and not self._prefix_in_progress(self._queue[0]):
                        self._start(slot, self._queue.pop(0))
            try:
                if any(slot.job is not None for slot in self._slots):
                    self._step()
            except Exception as exc:  # a failed decode fails the requests in it, not the server
                for slot in self._slots:
                    if slot.job is not None:
                        resolve(slot.job.future, exception=exc)
                        self._release(slot, keep=False)

    def _prefix_in_progress(self, job: _Job) -> bool:
        """Whether another sequence is still evaluating a prefix this job could reuse once done
        (at the start of a run, when every worker sends the same instructions at once)."""
        for slot in self._slots:
            if slot.job is not None and slot.pending:
                will_hold = common_prefix(slot.held + slot.pending, job.tokens, len(job.tokens) - 1)
                if will_hold > len(slot.held):
                    return True
        return False

    def _reusable(self, slot: _Slot, tokens: list[int], limit: int) -> int:
        """How many leading tokens of `tokens` this slot's sequence can lend, whole.

        Gemma 3's sliding-window layers keep only the last n_swa positions of a sequence, and
        llama.cpp recycles older ones: a prefix is usable only if its last n_swa positions are
        all still there (llama.cpp's own server makes the same check)."""
        n = common_prefix(slot.held, tokens, limit)
        if n and C.llama_memory_seq_pos_min(self._ctx.memory, slot.seq) > max(0, n - self._n_swa):
            return 0
        return n

    def _start(self, slot: _Slot, job: _Job) -> None:
        """Give a slot a job, reusing the longest cached prefix of its prompt from any sequence."""
        limit = len(job.tokens) - 1  # the last prompt token is always evaluated, for its logits
        best, source = self._reusable(slot, job.tokens, limit), slot
        for other in self._slots:
            n = self._reusable(other, job.tokens, limit)
            if n > best:
                best, source = n, other
        mem = self._ctx.memory
        if source is slot and best:
            C.llama_memory_seq_rm(mem, slot.seq, best, -1)
        else:
            C.llama_memory_seq_rm(mem, slot.seq, -1, -1)
            if best:
                C.llama_memory_seq_cp(mem, source.seq, slot.seq, 0, best)
        slot.held = job.tokens[:best]
        slot.pending = job.tokens[best:]
        slot.job = job

    def _step(self) -> None:
        """One llama_decode: the next token of every generating job, then pending tokens (prompts,
        and sampled tokens with the text forced after them)."""
        batch = self._batch.batch
        n = 0
        wants: list[tuple[_Slot, int]] = []  # slots sampling after this step, and their batch index

        def add(slot: _Slot, token: int, logits: bool) -> None:
            nonlocal n
            batch.token[n] = token
            batch.pos[n] = len(slot.held)
            batch.n_seq_id[n] = 1
            batch.seq_id[n][0] = slot.seq
            batch.logits[n] = logits
            slot.held.append(token)
            if logits:
                wants.append((slot, n))
            n += 1

        for slot in self._slots:
            if slot.job is not None and not slot.pending:
                add(slot, slot.job.out[-1], True)
        for slot in self._slots:
            if slot.job is not None and slot.pending:
                chunk, slot.pending = slot.pending[: BATCH_TOKENS - n], slot.pending[BATCH_TOKENS - n :]
                for i, token in enumerate(chunk):
                    add(slot, token, not slot.pending and i == len(chunk) - 1)
                if not slot.job.out:  # the prompt, not forced text
                    self.evaluated_prompt_tokens += len(chunk)
        batch.n_tokens = n
        self._ctx.decode(self._batch)
        for slot, index in wants:
            self._advance(slot, slot.job.sampler.sample(self._ctx, index))  # type: ignore[union-attr]

    def _advance(self, slot: _Slot, token: int) -> None:
        job = slot.job
        assert job is not None
        if C.llama_vocab_is_eog(self._vocab, token):
            return self._finish(slot, "stop")
        if ended := self._write(job, token, job.sampler.last_logprob or 0.0, job.sampler.last_top):
            return self._finish(slot, ended)
        forced, ends = job.sampler.forced(self._bytes, self._eos)
        if not ends:
            # A trailing space stays the model's to write: it writes " language" as one token.
            forced = forced.rstrip(b" ")
        tokens = self.llama.tokenize(forced, add_bos=False, special=False) if forced else []
        if len(job.out) + len(tokens) > job.max_tokens or b"".join(map(self._piece, tokens)) != forced:
            # Past the limit, or spelled otherwise than forced (a tokenizer that adds a space):
            # generated as usual.
            return
        job.sampler.accept(tokens)
        for forced_token in tokens:
            if ended := self._write(job, forced_token, 0.0, [(forced_token, 0.0)]):
                return self._finish(slot, ended)
        if ends:
            return self._finish(slot, "stop")
        if tokens:
            # The sampled token and the forced text go through the model in the next step as
            # prompt tokens would, one llama_decode for all of them.
            slot.pending = [token, *tokens]

    def _write(self, job: _Job, token: int, logprob: float, likely: list[tuple[int, float]]) -> str | None:
        """Add a token to the job's text; "stop" or "length" when a stop string or the token
        limit ends it."""
        job.out.append(token)
        piece = self._piece(token)
        job.text += piece
        if job.want_logprobs:
            job.pieces.append(piece)
            job.logprobs.append(logprob)
            top: dict[str, float] = {}
            for alt, alt_logprob in likely:
                text = self._piece(alt).decode("utf-8", errors="replace")
                # Two tokens that spell the same text are two ways to write it: their chances add.
                top[text] = float(np.logaddexp(top[text], alt_logprob)) if text in top else alt_logprob
            job.tops.append(top)
        text = job.text.decode("utf-8", errors="ignore")
        cut = min((i for i in (text.find(s) for s in job.stop) if i >= 0), default=-1)
        if cut >= 0:
            job.text = text[:cut].encode()
            return "stop"
        return "length" if len(job.out) >= job.max_tokens else None

    def _piece(self, token: int) -> bytes:
        """The token's text as bytes (may be part of a multi-byte character)."""
        buf = ctypes.create_string_buffer(64)
        n = C.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        if n < 0:  # longer than the buffer: -n is the length needed
            buf = ctypes.create_string_buffer(-n)
            n = C.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        return buf.raw[:n]

    def _finish(self, slot: _Slot, reason: str) -> None:
        job = slot.job
        assert job is not None
        text = job.text.decode("utf-8", errors="ignore")
        result = Result(text, len(job.tokens), len(job.out), reason)
        if job.want_logprobs:
            add_logprobs(result, job.pieces, job.logprobs, job.tops)
        resolve(job.future, result=result)
        self._release(slot, keep=True)

    def _release(self, slot: _Slot, keep: bool) -> None:
        if slot.job is not None:
            slot.job.sampler.close()
        slot.job = None
        slot.pending = []
        if not keep:
            C.llama_memory_seq_rm(self._ctx.memory, slot.seq, -1, -1)
            slot.held = []
