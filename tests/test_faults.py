"""Faulty endpoints: a loopback server that injects every kind of failure must not lose a row."""

import hashlib
import json
import random
from collections import Counter

import pytest

from summariser.flow.cache import ResponseCache
from summariser.transport.client import ModelClient
from summariser.flow.pipeline import summarise
from summariser.prompting.store import load_prompt
from summariser.records import Paper
from summariser.transport.reask import MAX_REASKS
from summariser.transport.retry import BREAKER_FAILURES, MAX_ATTEMPTS, Breaker

from .conftest import cli, fake_client, FAKE_ENDPOINT_PROMPT, GOOD
from .fake_server import FakeServer, Reply, paper_number

# The client's timeout; a "hang" answers after twice that. Long enough that a good answer is never
# late on a loaded machine: each request's fate then depends only on its body and attempt number.
TIMEOUT = 1.0
PROMPT = load_prompt("fewshot-v1")

# Every fault the endpoint can throw at us, and the reply that plays it.
FAULTS = {
    "429 with Retry-After": Reply(429, body={"error": {"message": "slow down"}}, headers={"retry-after": "0.05"}),
    "429 without Retry-After": Reply(429, body={"error": {"message": "slow down"}}),
    "500": Reply(500, body={"error": {"message": "internal error"}}),
    "502": Reply(502, raw=b"<html>Bad Gateway</html>"),
    "503": Reply(503, body={"error": {"message": "overloaded"}}),
    "hang past the timeout": Reply(text=GOOD, delay=2 * TIMEOUT),
    "dropped connection": Reply(drop=True),
    "truncated body": Reply(text=GOOD, truncate=True),
    "non-JSON body": Reply(raw=b"<html>proxy login</html>"),
    "JSON that is not a completion": Reply(body={"result": "ok"}),
    "answer failing the schema": Reply(text=" A summary with no labels at all."),
    "label outside the allowed set": Reply(text=" A parser.\nTopic: astrology\nContribution: method"),
}
REASKED = {"answer failing the schema", "label outside the allowed set"}




def papers(n):
    return [Paper(id=f"p{i}", title=f"Paper number {i}", abstract=f"Abstract of paper {i}. " * 10) for i in range(n)]


def client_for(srv, timeout=TIMEOUT):
    return fake_client(srv.url, timeout=timeout)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_once_then_the_row_is_ok(fault, tmp_path):
    paper = papers(1)[0]
    with FakeServer([FAULTS[fault], Reply(text=GOOD)]) as srv:
        [row] = summarise([paper], PROMPT, client_for(srv), ResponseCache(tmp_path / "c"))
        assert len(srv.requests) == 2
    assert row.error is None and row.labels == {"topic": "language", "contribution": "method"}
    if fault in REASKED:
        # The re-ask tells the model why its answer was refused.
        assert "A previous answer was rejected: topic: " in srv.requests[1]["prompt"]
    else:
        assert srv.requests[1] == srv.requests[0]


class FaultInjector:
    """Answers well, or with a random fault at `rate`; each request's fate is drawn from its own
    body and how many times that body was sent, so a run is the same whatever the arrival order.

    A body meets at most `max_faults` faults in a row, half the client's attempts: a paper at the
    very end of its retries would fail on one stray failure of a loaded machine, which is not
    what this test is about (one seed had a paper answered well only on its 8th and last attempt).
    """

    def __init__(self, rate, seed=0, max_faults=MAX_ATTEMPTS // 2):
        self.rate = rate
        self.seed = seed
        self.max_faults = max_faults
        self.sent = Counter()
        self.injected = Counter()
        self.good = 0
        self.reasks = 0

    def __call__(self, body):
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        self.sent[key] += 1
        rng = random.Random(f"{self.seed}:{key}:{self.sent[key]}")
        self.reasks += "A previous answer was rejected" in body["prompt"]
        if self.sent[key] <= self.max_faults and rng.random() < self.rate:
            fault = rng.choice(list(FAULTS))
            self.injected[fault] += 1
            return FAULTS[fault]
        self.good += 1
        return Reply(text=GOOD)


def test_thirty_percent_faults_on_200_papers_every_row_ends_ok(tmp_path, capsys):
    injector = FaultInjector(rate=0.3)
    cache = ResponseCache(tmp_path / "c")
    with FakeServer(responder=injector) as srv:
        rows = list(summarise(papers(200), PROMPT, client_for(srv), cache, concurrency=8))
        total = len(srv.requests)
    assert [r.id for r in rows] == [f"p{i}" for i in range(200)]
    assert [r.error for r in rows if r.error] == []
    assert len(cache) == 200
    # The faults were really thrown: about 30% of requests, every kind of them.
    assert set(injector.injected) == set(FAULTS)
    assert 0.25 < sum(injector.injected.values()) / total < 0.35
    # No paper was asked again once it had a good answer.
    assert injector.good == 200
    with capsys.disabled():  # the counts for the record (pytest -s shows them)
        print(f"\n30% faults, 200 papers: {total} requests, {sum(injector.injected.values())} faults, "
              f"{injector.reasks} re-asks: {dict(injector.injected)}")


@pytest.mark.parametrize("fault", ["503", "hang past the timeout", "label outside the allowed set"])
def test_a_permanently_failing_endpoint_ends_with_an_error_in_every_row(fault, tmp_path):
    n, concurrency = 200, 8
    with FakeServer([FAULTS[fault]]) as srv:
        client = client_for(srv, timeout=TIMEOUT / 3)  # a hang costs 8 timeouts per paper
        rows = list(summarise(papers(n), PROMPT, client, ResponseCache(tmp_path / "c"), concurrency=concurrency))
        sent = len(srv.requests)
    assert len(rows) == n and all(r.error for r in rows)
    assert all(r.labels == {"topic": None, "contribution": None} for r in rows)
    # Bounded: after BREAKER_FAILURES papers failed in a row, only calls already queued went out.
    attempts_per_paper = MAX_REASKS + 1 if fault in REASKED else MAX_ATTEMPTS
    assert sent <= (BREAKER_FAILURES + 2 * concurrency) * attempts_per_paper
    not_sent = [r for r in rows if r.error.startswith("not sent:")]
    assert len(not_sent) >= n - BREAKER_FAILURES - 2 * concurrency
    assert "run the same command again" in not_sent[-1].error


def test_the_command_exits_1_with_every_row_an_error_when_the_endpoint_is_down(tmp_path):
    dump = tmp_path / "d.jsonl"
    dump.write_text("\n".join(json.dumps(p.model_dump(include={"title", "abstract"})) for p in papers(60)))
    out = tmp_path / "o.jsonl"
    with FakeServer([FAULTS["502"]]) as srv:
        args = ["run", "--base-url", srv.url, "--model", "fake", *FAKE_ENDPOINT_PROMPT]
        args += [str(dump), "-o", str(out)]
        result = cli(*args)
    assert result.exit_code == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 60 and all(r["error"] for r in rows)
    assert "0 ok (0 cached), 60 error" in result.stderr
    assert "x HTTP 502" in result.stderr and "x not sent:" in result.stderr  # the commonest reasons


def test_one_failing_paper_among_good_ones_does_not_stop_the_run(tmp_path):
    # Error rows interleaved with successes never reach the breaker's count.
    def every_third_fails(body):
        number = paper_number(body)
        return Reply(400, body={"error": {"message": "bad"}}) if number % 3 == 0 else Reply(text=GOOD)

    with FakeServer(responder=every_third_fails) as srv:
        rows = list(summarise(papers(60), PROMPT, client_for(srv), None, concurrency=4))
    assert [bool(r.error) for r in rows] == [i % 3 == 0 for i in range(60)]
    assert not any(r.error.startswith("not sent") for r in rows if r.error)


def test_in_worker_processes_the_breaker_also_stops_calls_already_started(tmp_path):
    # 40 in flight: the calls run in worker processes, which follow the parent's breaker. Retry-After
    # 0 makes the retries quick there too (the no-wait fixture only reaches this process).
    n, concurrency = 300, 40
    down = Reply(503, body={"error": {"message": "down"}}, headers={"retry-after": "0"}, delay=0.2)
    with FakeServer([down]) as srv:
        rows = list(summarise(papers(n), PROMPT, client_for(srv), None, concurrency=concurrency))
        sent = len(srv.requests)
    assert len(rows) == n and all(r.error for r in rows)
    assert sum(r.error.startswith("not sent:") for r in rows) >= n - 2 * concurrency
    # Once 10 papers have failed, the calls running in the workers stop retrying and those queued
    # there are not sent: without that, the 80 papers handed out would send 8 requests each.
    assert sent <= concurrency * MAX_ATTEMPTS + 3 * concurrency


def test_the_breaker_opens_after_a_streak_and_stays_open():
    breaker = Breaker(failures=3)
    for error in ["HTTP 503", None, "HTTP 503", "HTTP 502"]:
        breaker.record(error)
    assert breaker.open_reason() is None  # the success broke the first streak
    breaker.record("HTTP 500")
    assert "3 papers in a row failed" in breaker.open_reason() and "HTTP 500" in breaker.open_reason()
    breaker.record(None)  # a late success from a call already in flight
    assert breaker.open_reason() is not None


def test_an_answer_that_cannot_be_cached_still_gives_its_row(tmp_path, monkeypatch):
    cache = ResponseCache(tmp_path / "c")

    def disk_full(key, entry):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "set", disk_full)
    with FakeServer([Reply(text=GOOD)]) as srv:
        rows = list(summarise(papers(3), PROMPT, client_for(srv), cache, concurrency=2))
    assert [r.labels["topic"] for r in rows] == ["language"] * 3
    assert all(r.error is None and "answer not cached (OSError" in r.warning for r in rows)


def test_an_unexpected_error_in_one_call_is_that_papers_error_row(tmp_path):
    class BrokenForPaper1(ModelClient):
        def call(self, request):
            if "Paper number 1\n" in request.prompt:
                raise RuntimeError("something unforeseen")
            return super().call(request)

    with FakeServer([Reply(text=GOOD)]) as srv:
        client = BrokenForPaper1(model="fake", base_url=srv.url)
        rows = list(summarise(papers(3), PROMPT, client, None, concurrency=2))
    assert [r.error for r in rows] == [None, "internal error: RuntimeError: something unforeseen", None]
