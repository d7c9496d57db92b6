"""Retrying transient endpoint failures: 429 (honouring Retry-After), 5xx, timeouts, dropped
connections; and giving up on an endpoint that fails every paper."""

from __future__ import annotations

import multiprocessing
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_any,
    stop_before_delay,
    wait_exponential_jitter,
)

from ..base.errors import MalformedResponse

T = TypeVar("T")

def transient_errors() -> tuple[type[BaseException], ...]:
    """The failures worth another attempt: rate limits, server errors, timeouts, dropped
    connections, and answers that are not a completion."""
    import openai

    return (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError, openai.APIConnectionError, MalformedResponse)


# With 30% of requests failing at random, 8 attempts leave about 1 paper in 70,000 failing for
# good; the waits (1, 2, 4, 8, 16, 30, 30 s plus jitter) stay inside MAX_SECONDS.
MAX_ATTEMPTS = 8
MAX_SECONDS = 300.0
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: attempts and time at most per request, and the
    exponential backoff between attempts (initial, max and jitter in seconds; a server's
    Retry-After, up to MAX_RETRY_AFTER, replaces it). Tests pass one with no waiting."""

    max_attempts: int = MAX_ATTEMPTS
    max_seconds: float = MAX_SECONDS
    initial: float = 1.0
    max_wait: float = 30.0
    jitter: float = 1.0

    def wait(self, state: RetryCallState) -> float:
        """Seconds before the next attempt."""
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after(exc)
        if asked is not None:
            return asked
        return wait_exponential_jitter(initial=self.initial, max=self.max_wait, jitter=self.jitter)(state) if self.max_wait else 0.0


NO_WAIT = RetryPolicy(initial=0.0, max_wait=0.0, jitter=0.0)


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait, if it said so."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to backoff


class RateGate:
    """Shared by every worker of a run: a 429 pauses all of them, not only the one that got it.

    Without it, the other workers keep sending at full rate into a rate limit and each burns its
    own retries; with it, the whole run slows down to what the endpoint accepts. When worker
    processes (workers.py) share the gate, the time moves into a multiprocessing.Value; until
    then a plain float does, so a run on threads starts no multiprocessing machinery.
    """

    def __init__(self, shared: Any = None) -> None:
        # time.monotonic() before which no request is sent; CLOCK_MONOTONIC is one clock for all processes.
        self._shared = shared
        self._until = 0.0
        self._lock = threading.Lock()

    def share(self) -> Any:
        """The gate's time as a multiprocessing.Value, for worker processes to share."""
        with self._lock:
            if self._shared is None:
                self._shared = multiprocessing.get_context("spawn").Value("d", self._until)
            return self._shared

    def hold(self, seconds: float) -> None:
        """Send nothing for the next `seconds` (extends, never shortens, a pause)."""
        until = time.monotonic() + seconds
        if self._shared is not None:
            with self._shared.get_lock():
                self._shared.value = max(self._shared.value, until)
        else:
            with self._lock:
                self._until = max(self._until, until)

    def wait(self) -> None:
        """Block while the gate is held."""
        while True:
            until = self._shared.value if self._shared is not None else self._until
            delay = until - time.monotonic()
            if delay <= 0:
                return
            time.sleep(delay)


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy = RetryPolicy(),
    gate: RateGate | None = None,
    give_up: Callable[[], bool] | None = None,
) -> T:
    """Call fn, retrying transient failures with backoff and jitter, bounded in count and time.

    With a gate, every attempt waits for it, and a rate-limit answer holds it for everyone.
    Retrying stops early, re-raising the last failure, once give_up() is true (the breaker opened).
    """

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if gate is not None and isinstance(exc, transient_errors()[0]) and state.next_action is not None:  # a 429
            gate.hold(state.next_action.sleep)

    def attempt() -> T:
        if gate is not None:
            gate.wait()
        return fn()

    retrying = Retrying(
        retry=retry_if_exception_type(transient_errors()),
        wait=policy.wait,
        stop=stop_any(
            stop_after_attempt(policy.max_attempts), stop_before_delay(policy.max_seconds), lambda state: bool(give_up and give_up())
        ),
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(attempt)


BREAKER_FAILURES = 10


class Breaker:
    """Stops sending once BREAKER_FAILURES papers in a row have failed after all their retries.

    Retries make each failing paper cost up to a few minutes; without this, an endpoint that is
    down would cost that for every paper of a 50,000-paper dump. Once open, the remaining papers
    get an error row straight away (re-running the command retries them), so a dead endpoint
    ends the run in bounded time whatever the dump's size. Answers still invalid after their
    re-asks count too: a model that does not follow the prompt version would otherwise cost four
    calls per paper for the whole dump. Worker processes follow the parent's breaker through a
    shared event (share()).
    """

    def __init__(self, failures: int = BREAKER_FAILURES, shared: Any = None) -> None:
        self.failures = failures
        self._streak = 0
        self._last = ""
        self._lock = threading.Lock()
        self._opened = shared  # a multiprocessing Event once worker processes follow this breaker

    def share(self) -> Any:
        """An event set when this breaker opens, for worker processes (Breaker(shared=event))."""
        with self._lock:
            if self._opened is None:
                self._opened = multiprocessing.get_context("spawn").Event()
                if self._streak >= self.failures:
                    self._opened.set()
            return self._opened

    def record(self, error: str | None) -> None:
        """Note one paper's outcome: why it failed for good, or None if it has a valid answer."""
        with self._lock:
            if self._streak >= self.failures:
                return  # once open, stay open
            if error is None:
                self._streak = 0
                return
            self._streak += 1
            self._last = error
            if self._streak >= self.failures and self._opened is not None:
                self._opened.set()

    def is_open(self) -> bool:
        """Whether nothing more should be sent."""
        return self.open_reason() is not None

    def open_reason(self) -> str | None:
        """Why nothing more should be sent, or None while the endpoint may still answer."""
        with self._lock:
            if self._streak >= self.failures:
                return (
                    f"not sent: {self.failures} papers in a row failed after all retries, so the endpoint is not answering usably "
                    f"(last error: {self._last}); run the same command again to retry"
                )
        if self._opened is not None and self._opened.is_set():
            return "not sent: papers in a row failed after all retries, so the endpoint is not answering usably; run the same command again to retry"
        return None
