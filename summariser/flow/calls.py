"""One paper to one row: from the cache when the identical request was answered before, else from
the model (re-asked if invalid, labels decided, cached when valid), else an error row."""

from __future__ import annotations

import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import diskcache

from ..base.errors import EmbeddedModelError, FatalModelError, InvalidAnswer, RequestError
from ..base.types import Answer, Completion, Row, Usage
from ..labels.decide import Labeller
from ..prompting.answers import validate_answer
from ..prompting.render import Renderer, Request
from ..prompting.retrieval import ExampleIndex
from ..prompting.version import PromptVersion
from ..records import Paper
from ..transport.client import ModelClient
from ..transport.reask import MAX_REASKS, ask
from .cache import CachedAnswer, ResponseCache


@dataclass
class VersionRun:
    """What turns papers into rows for one prompt version: the client, the cache (None: not
    used), how requests are rendered and how labels are decided."""

    prompt: PromptVersion
    client: ModelClient
    cache: ResponseCache | None
    renderer: Renderer
    labeller: Labeller
    max_reasks: int = MAX_REASKS

    @classmethod
    def make(
        cls, prompt: PromptVersion, client: ModelClient, cache: ResponseCache | None, index: ExampleIndex | None = None
    ) -> "VersionRun":
        """index: over the version's pool, where it has one (its votes and retrieved examples);
        without one, a TF-IDF index is made for both (embedding votes need an embedder)."""
        if index is None:
            index = ExampleIndex.for_version(prompt)
        renderer = Renderer(prompt, client.model, client.constrain, index)
        return cls(prompt, client, cache, renderer, Labeller(prompt, index))

    def keyed(self, paper: Paper) -> tuple[Request, str, CachedAnswer | None]:
        """The paper's request, its cache key, and what the cache holds for it, as stored (a
        learning version's answer before its labels are decided); None: nothing, or no cache."""
        request = self.renderer.request(paper)
        key = request.cache_key()
        return request, key, self.cache.get(key) if self.cache is not None else None

    def lookup(self, paper: Paper) -> tuple[Request, Row | None]:
        """The paper's request, and its row if the cache already answered that request."""
        request, _, hit = self.keyed(paper)
        if hit is None:
            return request, None
        answer = hit.answer if hit.distributions is None else self.labeller.vote(hit.answer, hit.distributions, paper)
        row = self.row(paper, answer, hit.usage)
        row.cached = True
        return request, row

    def cached_answer(self, paper: Paper) -> CachedAnswer | None:
        """What the cache holds for the paper's request (keyed)."""
        return self.keyed(paper)[2]

    def row(self, paper: Paper, answer: Answer, usage: Usage) -> Row:
        """The row of a valid answer."""
        confidence = {f.name: answer.confidence.get(f.name) for f in self.prompt.fields}
        return Row(
            summary=answer.summary, labels=dict(answer.labels), confidence=confidence, usage=usage, draft=self.prompt.draft, **self._base(paper)
        )

    def error_row(self, paper: Paper, error: str, usage: Usage | None = None) -> Row:
        """The row of a paper that has no valid answer, saying why."""
        empty: dict[str, None] = {f.name: None for f in self.prompt.fields}
        return Row(labels=dict(empty), confidence=dict(empty), error=error, usage=usage or Usage(), draft=self.prompt.draft, **self._base(paper))

    def _base(self, paper: Paper) -> dict[str, str | None]:
        return dict(
            id=paper.id, title=paper.title, prompt=self.prompt.version, prompt_sha256=self.prompt.sha256,
            model=self.client.model, warning="; ".join(paper.warnings) or None,
        )

    def call(self, paper: Paper, request: Request) -> Row:
        """A paper's row from the model, cached when valid; transport failures and answers still
        invalid after the re-asks become an error row, FatalModelError propagates."""
        try:
            asked = ask(self.client, self.renderer, request, paper, max_reasks=self.max_reasks)
        except RequestError as exc:
            return self.error_row(paper, str(exc))
        except InvalidAnswer as exc:
            return self.error_row(paper, str(exc), exc.usage)
        row, entry = self._decided(paper, asked.answer, asked.completion, asked.usage)
        if self.cache is not None:
            # Persisted as soon as it arrives: an interrupted run keeps every answer it paid for.
            try:
                self.cache.set(request.cache_key(), entry)
            except (OSError, sqlite3.Error, diskcache.Timeout) as exc:  # a full disk, a locked database
                # The answer is good and goes out; only a re-run would pay for it again.
                row.warning = "; ".join(filter(None, [row.warning, f"answer not cached ({type(exc).__name__}: {exc})"]))
        return row

    def store_completion(self, paper: Paper, key: str, completion: Completion) -> Row:
        """A paper's row from a completion answered elsewhere (a line of a Batch-API output file),
        validated as call() validates an answer, its labels decided and the answer cached under
        key (its request's cache_key()) as call() caches it. Raises AnswerError for an invalid
        answer (nothing is cached, no re-ask); a failure to write the cache propagates."""
        answer = validate_answer(completion.text, self.prompt, self.renderer.summary(paper))
        row, entry = self._decided(paper, answer, completion, completion.usage)
        if self.cache is not None:
            self.cache.set(key, entry)
        return row

    def _decided(self, paper: Paper, answer: Answer, completion: Completion, usage: Usage) -> tuple[Row, CachedAnswer]:
        """A validated answer's row, its labels decided, and what the cache keeps of it: a
        learning version's answer as the model gave it, with its distributions."""
        model_answer, distributions = self.labeller.model_view(answer, completion)
        decided = self.labeller.vote(model_answer, distributions, paper)
        row = self.row(paper, decided, usage)
        if self.prompt.learns:
            return row, CachedAnswer(answer=model_answer, usage=usage, distributions=distributions)
        return row, CachedAnswer(answer=decided, usage=usage)

    def call_unless_open(self, paper: Paper, request: Request) -> Row:
        """call, unless the client's breaker says the endpoint is unusable. An unexpected error
        becomes this paper's error row rather than ending the run and losing the others' rows."""
        reason = self.client.breaker.open_reason()
        if reason:
            return self.error_row(paper, reason)
        try:
            return self.call(paper, request)
        except (FatalModelError, EmbeddedModelError):
            raise
        except Exception as exc:  # noqa: BLE001
            return self.error_row(paper, f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")


class ThreadCalls:
    """Model calls on a pool of threads; the interface of workers.ProcessPool."""

    def __init__(self, concurrency: int, run: VersionRun) -> None:
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="summariser")
        self._run = run

    def submit(self, paper: Paper, request: Request) -> Future[Row]:
        # The breaker is checked when the call starts: one queued before it opened is not sent after.
        return self._pool.submit(self._run.call_unless_open, paper, request)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
