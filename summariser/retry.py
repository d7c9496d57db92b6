"""Retrying transient endpoint failures: 429 (honouring Retry-After), 5xx, timeouts, dropped connections."""

from __future__ import annotations

from typing import Callable, TypeVar

import openai
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

T = TypeVar("T")

TRANSIENT = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError, openai.APIConnectionError)
MAX_ATTEMPTS = 6
MAX_SECONDS = 300.0
MAX_RETRY_AFTER = 60.0

_backoff = wait_exponential_jitter(initial=1.0, max=30.0, jitter=1.0)


def _retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait, if it said so."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to backoff


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    asked = _retry_after(exc)
    return asked if asked is not None else _backoff(state)


def call_with_retries(fn: Callable[[], T], max_attempts: int = MAX_ATTEMPTS, max_seconds: float = MAX_SECONDS) -> T:
    """Call fn, retrying transient failures with backoff and jitter, bounded in count and time."""
    retrying = Retrying(
        retry=retry_if_exception_type(TRANSIENT),
        wait=_wait,
        stop=stop_after_attempt(max_attempts) | stop_before_delay(max_seconds),
        reraise=True,
    )
    return retrying(fn)
