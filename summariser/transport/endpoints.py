"""Several endpoints serving the same model, used as one: each attempt goes to the least-loaded
endpoint that is up (ties in turn), one that keeps failing is taken out for a while and then
probed with a single request, and a 429 pauses only the endpoint that sent it.

Each endpoint's state (failures in a row, out until, paused until, what it answered) is a row of
floats: a list in one process, a multiprocessing Array once worker processes share it (share()),
so all the processes of a run see one health and one count per endpoint. Requests in flight are
counted per process: each balances its own.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from dataclasses import dataclass, fields
from typing import Any, Callable, Collection, Literal, Sequence, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from tenacity import RetryCallState

from .retry import RetryPolicy, call_with_retries, retry_after, transient_errors

T = TypeVar("T")
Outcome = Literal["answered", "refused", "limited", "failed", "aborted"]
State = Literal["up", "paused", "probe", "out"]

# The columns of an endpoint's row.
(FAILS, OUT_UNTIL, OUT_FOR, OUT_SINCE, PROBING, PAUSED_UNTIL, LIMIT_STREAK,
 ANSWERED, FAILED, LIMITED, OUTAGES, PROBES, SECONDS_OUT) = range(13)
COLUMNS = 13


class Health(BaseModel):
    """When an endpoint is taken out of a set, and for how long (tests make the times short)."""

    model_config = ConfigDict(frozen=True)

    failures: int = Field(3, ge=1, description="failures in a row (transport errors, 5xx, bodies that are not a completion) that take it out")
    out_seconds: float = Field(30.0, ge=0, description="how long it is out before a probe; doubled after each failed probe")
    max_out_seconds: float = Field(300.0, ge=0, description="the longest it is out between probes")


class EndpointStats(BaseModel):
    """What one endpoint of a set did, for the end of a run."""

    url: str
    answered: int  # requests it answered with a completion
    failed: int  # transport errors, 5xx, bodies that are not a completion
    rate_limited: int  # 429s
    outages: int  # times it was taken out
    probes: int  # single requests sent to see whether it is back
    seconds_out: float
    out_now: bool

    def describe(self) -> str:
        """E.g. "http://a/v1: 700 answered, 9 failed; taken out 1 time, 30.2 s in all"."""
        text = f"{self.url}: {self.answered} answered"
        text += f", {self.failed} failed" if self.failed else ""
        text += f", {self.rate_limited} rate-limited (429)" if self.rate_limited else ""
        if self.outages:
            text += f"; taken out {self.outages} time{'s' if self.outages > 1 else ''}, {self.seconds_out:.1f} s in all"
            text += ", still out at the end" if self.out_now else ""
        return text


@dataclass(frozen=True)
class _Routed(RetryPolicy):
    """The run's retry policy, except that a failed attempt goes at once to another endpoint
    when one is ready for it: the backoff is for an endpoint that failed, not for the others."""

    inner: RetryPolicy = RetryPolicy()
    ready: Callable[[], bool] = lambda: False

    def wait(self, state: RetryCallState) -> float:
        return 0.0 if self.ready() else self.inner.wait(state)


class EndpointSet:
    """Picks an endpoint for each attempt and keeps track of the endpoints' health."""

    def __init__(self, urls: Sequence[str], health: Health | None = None, shared: Any = None) -> None:
        if len(urls) < 2:
            raise ValueError("an endpoint set needs two endpoints or more")
        self.urls = list(urls)
        self.health = health or Health()
        self._shared = shared  # the multiprocessing Array, once shared
        self._cells: Any = shared.get_obj() if shared is not None else [0.0] * (COLUMNS * len(self.urls))
        self._lock: Any = shared.get_lock() if shared is not None else threading.RLock()
        self._in_flight = [0] * len(self.urls)
        self._turn = 0  # where the round robin between equally loaded endpoints starts
        self._last_error = ""

    def share(self) -> Any:
        """The endpoints' rows as a multiprocessing Array, for worker processes (shared=...)."""
        with self._lock:
            if self._shared is None:
                self._shared = multiprocessing.get_context("spawn").Array("d", list(self._cells))
                self._cells, self._lock = self._shared.get_obj(), self._shared.get_lock()
            return self._shared

    def call(self, send: Callable[[int], T], policy: RetryPolicy, give_up: Callable[[], bool] | None = None) -> T:
        """send(i) once on endpoint i, retried with the policy's attempts and time like
        call_with_retries: a transient failure is retried at once on another endpoint that is up
        and this request has not tried, else after the policy's wait."""
        tried: set[int] = set()

        def attempt() -> T:
            index, probe = self.claim(tried)
            tried.add(index)
            try:
                result = send(index)
            except BaseException as exc:
                self.release(index, probe, exc, policy)
                raise
            self.release(index, probe, None, policy)
            return result

        base = {f.name: getattr(policy, f.name) for f in fields(RetryPolicy)}
        return call_with_retries(attempt, _Routed(**base, inner=policy, ready=lambda: self.ready(tried)), give_up=give_up)

    def claim(self, avoid: Collection[int] = ()) -> tuple[int, bool]:
        """An endpoint for one attempt, counted in flight until release(), and whether the attempt
        is its probe. A probe that is due goes first; else the least-loaded endpoint that is up,
        not paused and (where possible) not in avoid. Waits while every endpoint that is up is
        paused by a 429; raises a transient error when all are out."""
        while True:
            with self._lock:
                now = time.monotonic()
                index, probe, wait = self._choose(avoid, now)
                if index is not None:
                    self._in_flight[index] += 1
                    return index, probe
            if wait is None:
                raise _none_up(self.urls, self._last_error)
            time.sleep(wait)

    def _state(self, i: int, now: float) -> State:
        out_until = self._get(i, OUT_UNTIL)
        if out_until:
            return "probe" if now >= out_until and not self._get(i, PROBING) else "out"
        return "paused" if self._get(i, PAUSED_UNTIL) > now else "up"

    def _choose(self, avoid: Collection[int], now: float) -> tuple[int | None, bool, float | None]:
        """Under the lock: (endpoint, is a probe, None), or (None, False, seconds to wait), or
        (None, False, None) when no endpoint is up."""
        states = [self._state(i, now) for i in range(len(self.urls))]
        if "probe" in states:
            index = states.index("probe")
            self._set(index, PROBING, 1.0)
            self._add(index, PROBES)
            return index, True, None
        up = [i for i, s in enumerate(states) if s == "up"]
        if up:
            fresh = [i for i in up if i not in avoid] or up
            n = len(self.urls)
            best = min(fresh, key=lambda i: (self._in_flight[i], (i - self._turn) % n))
            self._turn = (best + 1) % n
            return best, False, None
        paused = [self._get(i, PAUSED_UNTIL) for i, s in enumerate(states) if s == "paused"]
        if not paused:
            return None, False, None
        due = [self._get(i, OUT_UNTIL) for i, s in enumerate(states) if s == "out" and not self._get(i, PROBING)]
        return None, False, max(min(paused + due) - now, 0.001)

    def ready(self, avoid: Collection[int]) -> bool:
        """Whether an attempt could go now to an endpoint not in avoid (or to a probe that is due)."""
        with self._lock:
            now = time.monotonic()
            states = [self._state(i, now) for i in range(len(self.urls))]
        return any(s == "probe" or (s == "up" and i not in avoid) for i, s in enumerate(states))

    def release(self, i: int, probe: bool, exc: BaseException | None, policy: RetryPolicy) -> None:
        """Note how an attempt on endpoint i ended: exc None for a completion."""
        outcome = _outcome(exc)
        with self._lock:
            now = time.monotonic()
            self._in_flight[i] -= 1
            if probe:
                self._set(i, PROBING, 0.0)
            if outcome == "failed":
                self._add(i, FAILED)
                self._last_error = _brief(exc)
                if probe:
                    self._take_out(i, now, again=True)
                elif self._add(i, FAILS) >= self.health.failures and not self._get(i, OUT_UNTIL):
                    self._take_out(i, now, again=False)
                return
            if outcome == "limited":
                self._pause(i, now, exc, policy)
            elif outcome in ("answered", "refused"):  # the endpoint answered (4xx: this request's fault)
                self._set(i, FAILS, 0.0)
                self._set(i, LIMIT_STREAK, 0.0)
                self._add(i, ANSWERED, float(outcome == "answered"))
            if probe and outcome != "aborted":
                self._back_in(i, now)  # it answers (a 429 too): back in

    def _pause(self, i: int, now: float, exc: BaseException | None, policy: RetryPolicy) -> None:
        """A 429: only this endpoint waits, for its Retry-After, else for a backoff of its own."""
        self._add(i, LIMITED)
        streak = self._add(i, LIMIT_STREAK)
        seconds = retry_after(exc)
        if seconds is None:
            seconds = min(policy.max_wait, policy.initial * 2 ** (streak - 1))
        self._set(i, PAUSED_UNTIL, max(self._get(i, PAUSED_UNTIL), now + seconds))

    def _take_out(self, i: int, now: float, again: bool) -> None:
        """Out for out_seconds; after a failed probe (again), for twice as long as before, up to the cap."""
        before = self._get(i, OUT_FOR)
        seconds = min(self.health.max_out_seconds, 2 * before) if again and before else self.health.out_seconds
        self._set(i, OUT_FOR, seconds)
        self._set(i, OUT_UNTIL, max(now + seconds, 1e-9))  # non-zero: out
        if not again:
            self._add(i, OUTAGES)
            self._set(i, OUT_SINCE, now)

    def _back_in(self, i: int, now: float) -> None:
        if self._get(i, OUT_UNTIL):
            self._add(i, SECONDS_OUT, now - self._get(i, OUT_SINCE))
        for column in (OUT_UNTIL, OUT_FOR, OUT_SINCE, FAILS):
            self._set(i, column, 0.0)

    def stats(self) -> list[EndpointStats]:
        """What each endpoint did so far (in every process sharing the set)."""
        with self._lock:
            now = time.monotonic()
            rows = [[self._get(i, c) for c in range(COLUMNS)] for i in range(len(self.urls))]
        return [
            EndpointStats(
                url=url, answered=int(r[ANSWERED]), failed=int(r[FAILED]), rate_limited=int(r[LIMITED]), outages=int(r[OUTAGES]),
                probes=int(r[PROBES]), seconds_out=r[SECONDS_OUT] + (now - r[OUT_SINCE] if r[OUT_UNTIL] else 0.0), out_now=bool(r[OUT_UNTIL]),
            )
            for url, r in zip(self.urls, rows)
        ]

    def report(self) -> list[str]:
        """Lines for the end of a run: what each endpoint answered, which were taken out and for how long."""
        stats = self.stats()
        return [f"{len(stats)} endpoints, each request to the least-loaded one that was up:"] + [f"  {s.describe()}" for s in stats]

    def _get(self, i: int, column: int) -> float:
        return float(self._cells[i * COLUMNS + column])

    def _set(self, i: int, column: int, value: float) -> None:
        self._cells[i * COLUMNS + column] = value

    def _add(self, i: int, column: int, value: float = 1.0) -> float:
        self._cells[i * COLUMNS + column] += value
        return float(self._cells[i * COLUMNS + column])


def _outcome(exc: BaseException | None) -> Outcome:
    if exc is None:
        return "answered"
    import openai

    if isinstance(exc, openai.RateLimitError):
        return "limited"
    if isinstance(exc, transient_errors()):
        return "failed"
    return "refused" if isinstance(exc, openai.APIStatusError) else "aborted"


def _brief(exc: BaseException | None) -> str:
    status = getattr(exc, "status_code", None)
    return f"HTTP {status}" if status is not None else type(exc).__name__


def _none_up(urls: list[str], last_error: str) -> BaseException:
    """A transient error for an attempt that finds every endpoint out: it counts against the
    request's retries, which wait as the policy says (a probe may bring one back meanwhile)."""
    import httpx2
    import openai

    last = f" (last error: {last_error})" if last_error else ""
    message = f"no endpoint is up: all {len(urls)} were taken out after failing in a row{last}"
    return openai.APIConnectionError(message=message, request=httpx2.Request("POST", urls[0]))
