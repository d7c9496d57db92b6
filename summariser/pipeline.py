"""The pipeline: papers -> requests -> cache or model -> validated rows, in input order."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Iterable, Iterator

from .cache import CachedAnswer, ResponseCache
from .client import ModelClient, RequestError
from .prompts import PromptVersion
from .reask import MAX_REASKS, ask
from .records import Paper
from .render import Request, render
from .retry import Breaker
from .schema import Row, Usage
from .workers import ProcessPool, processes_for


def _base(paper: Paper, prompt: PromptVersion, client: ModelClient) -> dict[str, str | None]:
    return dict(
        id=paper.id, title=paper.title, prompt=prompt.version, prompt_sha256=prompt.sha256, model=client.model,
        warning="; ".join(paper.warnings) or None,
    )


def _from_cache(paper: Paper, prompt: PromptVersion, client: ModelClient, hit: CachedAnswer) -> Row:
    return Row(summary=hit.answer.summary, labels=dict(hit.answer.labels), cached=True, usage=hit.usage, **_base(paper, prompt, client))


def _error_row(paper: Paper, prompt: PromptVersion, client: ModelClient, error: str, usage: Usage | None = None) -> Row:
    return Row(labels={f.name: None for f in prompt.fields}, error=error, usage=usage or Usage(), **_base(paper, prompt, client))


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
    base = _base(paper, prompt, client)
    if cache is not None:
        # Persisted as soon as it arrives: an interrupted run keeps every answer it paid for.
        cache.set(request.cache_key(), CachedAnswer(answer=outcome.answer, usage=outcome.usage))
    return Row(summary=outcome.answer.summary, labels=dict(outcome.answer.labels), usage=outcome.usage, **base)


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

    def __init__(self, concurrency: int, client: ModelClient, prompt: PromptVersion, cache: ResponseCache | None, breaker: Breaker) -> None:
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="summariser")
        self._args = (prompt, client)
        self._cache = cache
        self._breaker = breaker

    def submit(self, paper: Paper, request: Request) -> Future[Row]:
        return self._pool.submit(self._call, paper, request)

    def _call(self, paper: Paper, request: Request) -> Row:
        # Checked again here: a call queued before the breaker opened is not sent after it.
        reason = self._breaker.open_reason()
        return _error_row(paper, *self._args, reason) if reason else call_model(paper, *self._args, request, self._cache)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _record(breaker: Breaker, future: Future[Row]) -> None:
    if not future.cancelled() and future.exception() is None:
        breaker.record(future.result().error)


def summarise(
    papers: Iterable[Paper],
    prompt: PromptVersion,
    client: ModelClient,
    cache: ResponseCache | None = None,
    concurrency: int = 1,
    breaker: Breaker | None = None,
) -> Iterator[Row]:
    """Yield one row per paper, in input order, with up to `concurrency` model calls in flight.

    Above workers.PROCESS_THRESHOLD calls in flight to a remote endpoint, the calls run in worker
    processes (started with "spawn": a script calling this needs the usual
    `if __name__ == "__main__":` guard). Cached answers are read in this thread and never wait
    for a worker, so a fully cached run costs a cache read, a validation and a row per paper
    (and never starts the model).
    client.FatalModelError (bad key, unknown model) propagates and ends the run. Once `breaker`
    (default: retry.Breaker()) opens, the remaining papers get an error row without a call.
    """
    breaker = breaker or Breaker()
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
                row = call_model(paper, prompt, client, request, cache)
                breaker.record(row.error)
                window.append(row)
            else:
                if calls is None:
                    processes = processes_for(concurrency, client)
                    calls = (
                        ProcessPool(processes, concurrency, client, prompt, cache)
                        if processes
                        else _ThreadCalls(concurrency, client, prompt, cache, breaker)
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
