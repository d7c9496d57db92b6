"""Model calls spread over worker processes, for runs with many requests in flight.

One Python process spends about 1.5 ms of CPU per request in the openai client and HTTP stack
(under the GIL), so it cannot keep much more than 600 requests per second going, whatever the
endpoint could take: 128 requests in flight at 100 ms each would need 1,280. Above
PROCESS_THRESHOLD requests in flight the pipeline therefore spreads its calls over one process
per core, each with its own threads and client; the processes share the rate-limit gate and
the cache (diskcache is safe across processes), and rows come back to the caller in order.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..base.errors import FatalModelError
from ..base.orphans import exit_with_parent
from ..base.types import Row
from ..prompting.render import Request
from ..prompting.retrieval import ExampleIndex
from ..prompting.version import PromptVersion
from ..records import Paper
from ..transport.client import ModelClient
from ..transport.retry import Breaker, RateGate
from .cache import ResponseCache
from .calls import VersionRun
from .embedding_store import EmbeddingStore

PROCESS_THRESHOLD = 32  # requests in flight one process serves at >0.9 of ideal (benchmarks/)


def processes_for(concurrency: int, client: ModelClient) -> int:
    """How many worker processes a run should use: 0 means calls stay in this process."""
    if client.embedded or concurrency <= PROCESS_THRESHOLD:
        return 0
    return min(os.cpu_count() or 1, -(-concurrency // PROCESS_THRESHOLD))


def _worker(
    settings: dict[str, Any],
    prompt: PromptVersion,
    cache_dir: str | None,
    embeddings: tuple[Path | None, str | None],  # the parent store's folder and name
    threads: int,
    parent: int,
    tasks: Any,
    results: Any,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    exit_with_parent(parent)  # ...unless it was killed outright
    # The shared gate, and the parent's breaker to follow.
    client = ModelClient(**{**settings, "gate": RateGate(settings["gate"]), "breaker": Breaker(shared=settings["breaker"])})
    cache = ResponseCache(cache_dir) if cache_dir else None
    # The parent's store, where it put the papers' embeddings before any call.
    store = EmbeddingStore(embeddings[0], name=embeddings[1])  # in memory when the parent kept none on disk
    version = VersionRun.make(prompt, client, cache, ExampleIndex.for_version(prompt, store))
    pool = ThreadPoolExecutor(max_workers=threads)

    def run(task_id: int, paper: Paper, request: Request) -> None:
        try:
            results.put((task_id, version.call_unless_open(paper, request), None))
        except FatalModelError as exc:
            results.put((task_id, None, FatalModelError(str(exc))))
        except BaseException as exc:  # noqa: BLE001  (sent as text: not every exception pickles)
            results.put((task_id, None, FatalModelError(f"unexpected error in a worker process: {type(exc).__name__}: {exc}")))

    while (task := tasks.get()) is not None:
        pool.submit(run, *task)
    pool.shutdown(wait=False, cancel_futures=True)
    os._exit(0)  # calls still running are abandoned, as by the thread pool


class ProcessPool:
    """A Future per model call, answered by worker processes; closes them on shutdown."""

    def __init__(self, processes: int, concurrency: int, run: VersionRun) -> None:
        ctx = multiprocessing.get_context("spawn")  # no inherited sockets or threads
        self._results = ctx.Queue()
        self._tasks = [ctx.Queue() for _ in range(processes)]
        threads = -(-concurrency // processes)
        cache_dir = str(run.cache.directory) if run.cache is not None else None
        index = run.labeller.index
        store = index.embedder if index is not None else None
        embeddings = (store.directory, store.shared_name()) if isinstance(store, EmbeddingStore) else (None, None)
        self._procs = [
            ctx.Process(
                target=_worker,
                args=(run.client.settings(), run.prompt, cache_dir, embeddings, threads, os.getpid(), q, self._results),
                daemon=True,
            )
            for q in self._tasks
        ]
        for proc in self._procs:
            proc.start()
        self._futures: dict[int, Future[Row]] = {}
        self._lock = threading.Lock()
        self._next = 0
        threading.Thread(target=self._collect, name="summariser-results", daemon=True).start()

    def submit(self, paper: Paper, request: Request) -> Future[Row]:
        """Queue one call (round robin over the processes)."""
        future: Future[Row] = Future()
        with self._lock:
            task_id = self._next
            self._next += 1
            self._futures[task_id] = future
        self._tasks[task_id % len(self._tasks)].put((task_id, paper, request))
        return future

    def _collect(self) -> None:
        while True:
            try:
                task_id, row, exc = self._results.get(timeout=1.0)
            except queue.Empty:
                if any(not p.is_alive() for p in self._procs):
                    self._fail_all(FatalModelError("a worker process died; run the same command again to finish"))
                    return
                continue
            except (EOFError, OSError):  # the queue was closed at shutdown
                return
            except Exception as exc:  # noqa: BLE001  (an answer that cannot be read back)
                self._fail_all(FatalModelError(f"a worker's answer could not be read: {exc}"))
                return
            with self._lock:
                future = self._futures.pop(task_id)
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(row)

    def _fail_all(self, exc: BaseException) -> None:
        with self._lock:
            pending, self._futures = self._futures, {}
        for future in pending.values():
            future.set_exception(exc)

    def shutdown(self) -> None:
        """Stop the workers; calls still running are abandoned (answers that arrived are cached).

        They are asked to exit rather than killed, so none dies holding the shared rate-limit
        gate's lock; one that does not exit within 2 s is killed."""
        for q in self._tasks:
            q.put(None)
        for proc in self._procs:
            proc.join(timeout=2.0)
            if proc.is_alive():
                proc.terminate()
                proc.join()
