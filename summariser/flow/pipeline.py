"""The pipeline: papers -> requests -> cache or model -> validated rows, in input order."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future
from functools import partial
from typing import Callable, Iterable, Iterator, Sequence

from ..base.engine_api import Engine
from ..base.errors import EmbeddedModelError
from ..base.types import Row
from ..prompting.retrieval import ExampleIndex
from ..prompting.version import PromptVersion
from ..records import Paper
from ..transport.client import ModelClient
from ..transport.reask import MAX_REASKS
from ..transport.retry import Breaker
from .cache import ResponseCache
from .calls import ThreadCalls, VersionRun
from .embedding_store import EmbeddingStore
from .learning import Say, learn
from .workers import ProcessPool, processes_for

# A progress display wrapped around a version's rows: (rows, how many, version) -> rows.
Track = Callable[[Iterable[Row], int, str], Iterable[Row]]


def uses_embeddings(prompt: PromptVersion) -> bool:
    """Whether this version's votes need embeddings (neighbours found by them, or the classifier)."""
    return prompt.retrieval is not None and prompt.retrieval.embeds


def version_index(
    prompt: PromptVersion, cache: ResponseCache | None, store: EmbeddingStore | None = None, embedder: Engine | None = None
) -> ExampleIndex | None:
    """The index over a version's pool (None without one), its embeddings kept beside the answers
    (in memory without a cache: --no-cache keeps nothing); embedder: where missing vectors come
    from (default: the embedded model's engine)."""
    if prompt.retrieval is None:
        return None
    if store is None and uses_embeddings(prompt):
        store = EmbeddingStore.beside(cache.directory, embedder) if cache is not None else EmbeddingStore(None, embedder)
    return ExampleIndex.for_version(prompt, store)


def embed_uncached(papers: Sequence[Paper], run: VersionRun) -> None:
    """For a version whose votes use embeddings, embed the pool and the papers the cache has no
    answer for, in one pass (summarise does this first; an eval, for every version before the
    first runs). Raises EmbeddedModelError, naming the version, if that needs the embedded model
    and it is not installed."""
    index = run.labeller.index
    if not uses_embeddings(run.prompt) or index is None:
        return
    # Embedding competes with the model for the same cores, so it is done before any call, for
    # the papers the cache has no answer for (a fully cached run embeds nothing). summarise then
    # renders each paper again: a millisecond, where keeping every request would cost memory on
    # a big dump.
    to_send = [p for p in papers if run.cached_answer(p) is None]
    if to_send:
        try:
            index.embed_ahead(to_send)
        except EmbeddedModelError as exc:
            raise EmbeddedModelError(f"prompt version {run.prompt.version}: {exc}") from None


def summarise_one(
    paper: Paper, prompt: PromptVersion, client: ModelClient, cache: ResponseCache | None = None, max_reasks: int = MAX_REASKS
) -> Row:
    """One paper's row: from the cache when the identical request was answered before, else from the model."""
    run = VersionRun.make(prompt, client, cache, version_index(prompt, cache))
    run.max_reasks = max_reasks
    try:
        request, row = run.lookup(paper)
        return row or run.call(paper, request)
    finally:
        _close_store(run)


def summarise(
    papers: Iterable[Paper],
    prompt: PromptVersion,
    client: ModelClient,
    cache: ResponseCache | None = None,
    concurrency: int = 1,
    index: ExampleIndex | None = None,
    say: Say | None = None,
    track: Track | None = None,
) -> Iterator[Row]:
    """Yield one row per paper, in input order, with up to `concurrency` model calls in flight.

    index: over the version's pool, made here if not given (an eval passes the one it keeps).
    A learning version first has the model read its labelled papers and chooses its settings
    (flow/learning.py); say: where to tell what was chosen, track: a progress display for that.
    Above workers.PROCESS_THRESHOLD calls in flight to a remote endpoint, the calls run in worker
    processes (started with "spawn": a script calling this needs the usual
    `if __name__ == "__main__":` guard). Cached answers are read in this thread and never wait
    for a worker, so a fully cached run costs a cache read, a validation and a row per paper
    (and never starts the model). FatalModelError (bad key, unknown model) propagates and ends
    the run. Once the client's breaker opens (papers failing in a row), the remaining papers get
    an error row without a call.
    """
    own = index is None  # made here: its embedding store is closed here
    run = VersionRun.make(prompt, client, cache, index if index is not None else version_index(prompt, cache))
    try:
        def answer_all(pool: Sequence[Paper]) -> None:
            rows = _rows(pool, run, concurrency)
            deque(track(rows, len(pool), "labelled papers") if track else rows, maxlen=0)

        learn(run, answer_all, say)  # a learning version's settings, before any label is decided
        if uses_embeddings(prompt) and _votes_used(run.prompt):
            papers = list(papers)
            embed_uncached(papers, run)
        yield from _rows(papers, run, concurrency)
    finally:
        if own:
            _close_store(run)


def _votes_used(prompt: PromptVersion) -> bool:
    """Whether any label is decided with votes: a learning version's only once it has learnt."""
    assert prompt.retrieval is not None
    return not prompt.retrieval.learns or bool(prompt.tuned)


def _rows(papers: Iterable[Paper], run: VersionRun, concurrency: int) -> Iterator[Row]:
    breaker = run.client.breaker
    calls: ThreadCalls | ProcessPool | None = None
    # Rows ready to go out, or model calls still running, in input order.
    window: deque[Row | Future[Row]] = deque()
    in_flight = 0
    try:
        for paper in papers:
            request, row = run.lookup(paper)
            reason = breaker.open_reason() if row is None else None
            if row is not None:
                window.append(row)
            elif reason:
                window.append(run.error_row(paper, reason))
            elif concurrency <= 1:
                row = run.call_unless_open(paper, request)
                breaker.record(row.error)
                window.append(row)
            else:
                calls = calls or _calls(run, concurrency)
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


def _close_store(run: VersionRun) -> None:
    """Close the embedding store of an index made for this run (its vectors stay on disk)."""
    store = run.labeller.index.embedder if run.labeller.index is not None else None
    if isinstance(store, EmbeddingStore):
        store.close()


def _calls(run: VersionRun, concurrency: int) -> ThreadCalls | ProcessPool:
    processes = processes_for(concurrency, run.client)
    return ProcessPool(processes, concurrency, run) if processes else ThreadCalls(concurrency, run)


def _record(breaker: Breaker, future: Future[Row]) -> None:
    if not future.cancelled() and future.exception() is None:
        breaker.record(future.result().error)
