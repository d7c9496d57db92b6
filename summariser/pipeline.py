"""The pipeline: papers -> requests -> cache or model -> validated rows, in input order."""

from __future__ import annotations

import sqlite3
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Iterable, Iterator, Sequence

import diskcache

from . import embeddings
from .cache import CachedAnswer, ResponseCache, default_cache_dir
from .client import FatalModelError, ModelClient, RequestError
from .embedded import EmbeddedModelError
from .prompts import PromptVersion
from .reask import MAX_REASKS, ask
from .records import Paper
from .render import Request, render
from .retrieval import pool_index
from .retry import Breaker
from .schema import Answer, Row, Usage
from .votes import uses_embeddings
from .workers import ProcessPool, processes_for


def _base(paper: Paper, prompt: PromptVersion, client: ModelClient) -> dict[str, str | None]:
    return dict(
        id=paper.id, title=paper.title, prompt=prompt.version, prompt_sha256=prompt.sha256, model=client.model,
        warning="; ".join(paper.warnings) or None,
    )


def _confidence(answer: Answer, prompt: PromptVersion) -> dict[str, float | None]:
    return {f.name: answer.confidence.get(f.name) for f in prompt.fields}


def _from_cache(paper: Paper, prompt: PromptVersion, client: ModelClient, hit: CachedAnswer) -> Row:
    return Row(
        summary=hit.answer.summary, labels=dict(hit.answer.labels), confidence=_confidence(hit.answer, prompt),
        cached=True, usage=hit.usage, **_base(paper, prompt, client),
    )


def _error_row(paper: Paper, prompt: PromptVersion, client: ModelClient, error: str, usage: Usage | None = None) -> Row:
    empty: dict[str, None] = {f.name: None for f in prompt.fields}
    return Row(labels=dict(empty), confidence=dict(empty), error=error, usage=usage or Usage(), **_base(paper, prompt, client))


def call_model(
    paper: Paper, prompt: PromptVersion, client: ModelClient, request: Request, cache: ResponseCache | None, max_reasks: int = MAX_REASKS
) -> Row:
    """A paper's row from the model (re-asked if invalid), cached when valid; transport failures
    become an error row, FatalModelError propagates."""
    try:
        outcome = ask(client, request, prompt, paper, max_reasks=max_reasks)
    except RequestError as exc:
        return _error_row(paper, prompt, client, str(exc))
    if outcome.answer is None:
        return _error_row(paper, prompt, client, outcome.error or "invalid answer", outcome.usage)
    row = Row(
        summary=outcome.answer.summary, labels=dict(outcome.answer.labels), confidence=_confidence(outcome.answer, prompt),
        usage=outcome.usage, **_base(paper, prompt, client),
    )
    if cache is not None:
        # Persisted as soon as it arrives: an interrupted run keeps every answer it paid for.
        try:
            cache.set(request.cache_key(), CachedAnswer(answer=outcome.answer, usage=outcome.usage))
        except (OSError, sqlite3.Error, diskcache.Timeout) as exc:  # a full disk, a locked database
            # The answer is good and goes out; only a re-run would pay for it again.
            row.warning = "; ".join(filter(None, [row.warning, f"answer not cached ({type(exc).__name__}: {exc})"]))
    return row


def call_unless_open(paper: Paper, prompt: PromptVersion, client: ModelClient, request: Request, cache: ResponseCache | None) -> Row:
    """call_model, unless the client's breaker says the endpoint is unusable. An unexpected error
    becomes this paper's error row rather than ending the run and losing the others' rows."""
    reason = client.breaker.open_reason()
    if reason:
        return _error_row(paper, prompt, client, reason)
    try:
        return call_model(paper, prompt, client, request, cache)
    except (FatalModelError, EmbeddedModelError):
        raise
    except Exception as exc:  # noqa: BLE001
        return _error_row(paper, prompt, client, f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")


def _lookup(paper: Paper, prompt: PromptVersion, client: ModelClient, cache: ResponseCache | None) -> tuple[Request, Row | None]:
    """The paper's request, and its row if the cache already answered that request."""
    request = render(prompt, paper, client.model, client.constrain)
    hit = cache.get(request.cache_key()) if cache is not None else None
    return request, (_from_cache(paper, prompt, client, hit) if hit is not None else None)


def summarise_one(
    paper: Paper, prompt: PromptVersion, client: ModelClient, cache: ResponseCache | None = None, max_reasks: int = MAX_REASKS
) -> Row:
    """One paper's row: from the cache when the identical request was answered before, else from the model."""
    request, row = _lookup(paper, prompt, client, cache)
    return row or call_model(paper, prompt, client, request, cache, max_reasks)


class _ThreadCalls:
    """Model calls on a pool of threads; the interface of workers.ProcessPool."""

    def __init__(self, concurrency: int, client: ModelClient, prompt: PromptVersion, cache: ResponseCache | None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="summariser")
        self._args = (prompt, client)
        self._cache = cache

    def submit(self, paper: Paper, request: Request) -> Future[Row]:
        # The breaker is checked when the call starts: one queued before it opened is not sent after.
        return self._pool.submit(call_unless_open, paper, *self._args, request, self._cache)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _record(breaker: Breaker, future: Future[Row]) -> None:
    if not future.cancelled() and future.exception() is None:
        breaker.record(future.result().error)


def embed_uncached(papers: Sequence[Paper], prompt: PromptVersion, client: ModelClient, cache: ResponseCache | None = None) -> None:
    """For a version whose votes use embeddings, embed the pool and the papers the cache has no
    answer for, in one pass (summarise does this first; an eval, for every version before the
    first runs). Raises embedded.EmbeddedModelError, naming the version, if that needs the
    embedded model and it is not installed."""
    if not uses_embeddings(prompt):
        return
    # Kept beside the answers: the same folder, the same privacy, the same `--cache-dir`.
    embeddings.use_store((cache.directory if cache is not None else default_cache_dir()) / "embeddings")
    # Embedding competes with the model for the same cores, so it is done before any call, for
    # the papers the cache has no answer for (a fully cached run embeds nothing). summarise then
    # renders each paper again: a millisecond, where keeping every request would cost memory on
    # a big dump.
    to_send = [p for p in papers if _lookup(p, prompt, client, cache)[1] is None]
    if to_send:
        try:
            pool_index(prompt).embed_ahead(to_send)
        except EmbeddedModelError as exc:
            raise EmbeddedModelError(f"prompt version {prompt.version}: {exc}") from None


def summarise(
    papers: Iterable[Paper],
    prompt: PromptVersion,
    client: ModelClient,
    cache: ResponseCache | None = None,
    concurrency: int = 1,
) -> Iterator[Row]:
    """Yield one row per paper, in input order, with up to `concurrency` model calls in flight.

    Above workers.PROCESS_THRESHOLD calls in flight to a remote endpoint, the calls run in worker
    processes (started with "spawn": a script calling this needs the usual
    `if __name__ == "__main__":` guard). Cached answers are read in this thread and never wait
    for a worker, so a fully cached run costs a cache read, a validation and a row per paper
    (and never starts the model).
    client.FatalModelError (bad key, unknown model) propagates and ends the run. Once the
    client's breaker opens (papers failing in a row), the remaining papers get an error row
    without a call.
    """
    if uses_embeddings(prompt):
        papers = list(papers)
        embed_uncached(papers, prompt, client, cache)
    breaker = client.breaker
    calls: _ThreadCalls | ProcessPool | None = None
    # Rows ready to go out, or model calls still running, in input order.
    window: deque[Row | Future[Row]] = deque()
    in_flight = 0
    try:
        for paper in papers:
            request, row = _lookup(paper, prompt, client, cache)
            reason = breaker.open_reason() if row is None else None
            if row is not None:
                window.append(row)
            elif reason:
                window.append(_error_row(paper, prompt, client, reason))
            elif concurrency <= 1:
                row = call_unless_open(paper, prompt, client, request, cache)
                breaker.record(row.error)
                window.append(row)
            else:
                if calls is None:
                    processes = processes_for(concurrency, client)
                    calls = (
                        ProcessPool(processes, concurrency, client, prompt, cache)
                        if processes
                        else _ThreadCalls(concurrency, client, prompt, cache)
                    )
                future = calls.submit(paper, request)
                future.add_done_callback(partial(_record, breaker))
                window.append(future)
                in_flight += 1
            # Emit what is ready at the front; block on the oldest call only when enough calls are
            # queued to keep every worker busy (and memory bounded) while it finishes.
            while window and (isinstance(window[0], Row) or window[0].done() or in_flight >= 2 * concurrency):
                item = window.popleft()
                if isinstance(item, Future):
                    in_flight -= 1
                    item = item.result()
                yield item
        while window:
            item = window.popleft()
            yield item.result() if isinstance(item, Future) else item
    finally:
        if calls is not None:
            calls.shutdown()  # on an interrupt or a fatal error, without waiting for calls in flight
