"""The pipeline: papers -> requests -> cache or model -> validated rows, in input order."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterable, Iterator

from .cache import CachedAnswer, ResponseCache
from .client import ModelClient, RequestError
from .prompts import PromptVersion
from .reask import MAX_REASKS, ask
from .records import Paper
from .render import render
from .schema import Row


def summarise_one(
    paper: Paper, prompt: PromptVersion, client: ModelClient, cache: ResponseCache | None = None, max_reasks: int = MAX_REASKS
) -> Row:
    """One paper's row: from the cache when the identical request was answered before, else from the model."""
    request = render(prompt, paper, client.model, client.constrain)
    base = dict(id=paper.id, title=paper.title, prompt=prompt.version, prompt_sha256=prompt.sha256, model=client.model)
    empty_labels: dict[str, str | None] = {f.name: None for f in prompt.fields}
    key = request.cache_key()
    hit = cache.get(key) if cache is not None else None
    if hit is not None:
        return Row(summary=hit.answer.summary, labels=dict(hit.answer.labels), cached=True, usage=hit.usage, **base)
    try:
        outcome = ask(client, request, prompt, paper, max_reasks=max_reasks)
    except RequestError as exc:
        return Row(labels=empty_labels, error=str(exc), **base)
    if outcome.answer is None:
        return Row(labels=empty_labels, error=outcome.error, usage=outcome.usage, **base)
    if cache is not None:
        cache.set(key, CachedAnswer(answer=outcome.answer, usage=outcome.usage))
    return Row(summary=outcome.answer.summary, labels=dict(outcome.answer.labels), usage=outcome.usage, **base)


def summarise(
    papers: Iterable[Paper],
    prompt: PromptVersion,
    client: ModelClient,
    cache: ResponseCache | None = None,
    concurrency: int = 1,
) -> Iterator[Row]:
    """Yield one row per paper, in input order, with up to `concurrency` model calls in flight.

    client.FatalModelError (bad key, unknown model) propagates and ends the run.
    """
    if concurrency <= 1:
        for paper in papers:
            yield summarise_one(paper, prompt, client, cache)
        return
    pool = ThreadPoolExecutor(max_workers=concurrency)
    window: deque[Future[Row]] = deque()
    try:
        for paper in papers:
            window.append(pool.submit(summarise_one, paper, prompt, client, cache))
            if len(window) >= 2 * concurrency:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        # On an interrupt or a fatal error, do not wait for the requests still in flight.
        pool.shutdown(wait=False, cancel_futures=True)
