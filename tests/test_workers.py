"""Calls spread over worker processes (above workers.PROCESS_THRESHOLD in flight), against a scripted loopback server."""

import pytest

from summariser.flow.cache import ResponseCache
from summariser.transport.client import FatalModelError, ModelClient
from summariser.flow.pipeline import summarise
from summariser.prompting.store import load_prompt
from summariser.records import Paper
from summariser.flow.workers import PROCESS_THRESHOLD, processes_for

from .conftest import fake_client
from .fake_server import FakeServer, Reply
from .test_client import _echo_title

pytestmark = pytest.mark.processes  # real processes: not in `make test-fast`

PROMPT = load_prompt("fewshot-v1")
CONCURRENCY = 2 * PROCESS_THRESHOLD


def papers(n: int) -> list[Paper]:
    return [Paper(id=f"p{i}", title=f"Paper {i}", abstract=f"Abstract {i}.") for i in range(n)]


def test_only_remote_runs_above_the_threshold_use_processes():
    remote = ModelClient(model="m", base_url="http://127.0.0.1:9/v1")
    embedded = ModelClient(model="m", base_url=lambda: "http://x", embedded=True)
    assert processes_for(PROCESS_THRESHOLD, remote) == 0
    assert processes_for(CONCURRENCY, remote) >= 1
    assert processes_for(CONCURRENCY, embedded) == 0


def test_rows_come_back_in_input_order_and_are_cached_by_the_workers(tmp_path):
    items = papers(150)
    # Early papers answer slowest, so the workers finish them last.
    delays = {p.title: 0.002 * (150 - i) for i, p in enumerate(items)}
    cache = ResponseCache(tmp_path / "c")
    with FakeServer(responder=_echo_title(delays)) as srv:
        rows = list(summarise(items, PROMPT, fake_client(srv.url), cache, concurrency=CONCURRENCY))
    assert [r.id for r in rows] == [p.id for p in items]
    assert [r.summary for r in rows] == [f"About {p.title}." for p in items]
    assert len(srv.requests) == 150

    def no_model() -> str:
        raise AssertionError("the model was started for a cached run")

    again = list(summarise(items, PROMPT, fake_client(no_model), cache, concurrency=CONCURRENCY))
    assert all(r.cached for r in again) and [r.summary for r in again] == [r.summary for r in rows]


def test_a_refused_key_in_a_worker_stops_the_run():
    with FakeServer([Reply(401, body={"error": {"message": "invalid key"}})]) as srv:
        with pytest.raises(FatalModelError, match="refused the API key"):
            list(summarise(papers(80), PROMPT, fake_client(srv.url), concurrency=CONCURRENCY))


def test_a_rate_limit_in_one_process_pauses_the_others():
    replies = [Reply(429, headers={"retry-after": "2"}, body={"error": {"message": "slow down"}})]
    replies += [Reply(text=" A summary.\nTopic: language\nContribution: method", delay=0.2)]
    items = papers(2 * CONCURRENCY)
    with FakeServer(replies) as srv:
        rows = list(summarise(items, PROMPT, fake_client(srv.url), concurrency=CONCURRENCY))
    assert all(r.error is None for r in rows) and len(srv.arrivals) == len(items) + 1
    limited_at = next(t for t, status in srv.arrivals if status == 429)
    # Until the 429 is read and the shared pause set, the other workers keep sending: 0.1-0.15 s
    # on an idle 2-core machine, so half a second is allowed for that before nothing may arrive.
    assert [t for t, _ in srv.arrivals if 0.5 < t - limited_at < 1.9] == []
