"""The model client, retries, re-asks and caching, against a scripted loopback server."""

import re

import httpx2
import openai
import pytest

from summariser.flow.cache import ResponseCache
from summariser.transport.client import FatalModelError, ModelClient
from summariser.flow.pipeline import summarise, summarise_one
from summariser.prompting.store import load_prompt
from summariser.records import Paper

from .conftest import fake_client, GOOD
from .fake_server import FakeServer, Reply

PROMPT = load_prompt("fewshot-v1")
CHAT = load_prompt("chat-v1")
PAPER = Paper(id="p1", title="A Title", abstract="An abstract about parsing sentences.")




def client_for(server, **kw):
    return fake_client(server.url, **kw)


def test_rate_limit_is_retried_then_succeeds():
    with FakeServer([Reply(429, headers={"retry-after": "0"}, body={"error": {"message": "slow down"}}), Reply(text=GOOD)]) as srv:
        row = summarise_one(PAPER, PROMPT, client_for(srv))
    assert row.error is None and row.labels == {"topic": "language", "contribution": "method"}
    assert len(srv.requests) == 2


def test_retry_after_header_sets_the_wait():
    from summariser.transport import retry

    request = httpx2.Request("POST", "http://x/v1/completions")
    exc = openai.RateLimitError("slow", response=httpx2.Response(429, headers={"retry-after": "7"}, request=request), body=None)
    assert retry.retry_after(exc) == 7.0
    capped = openai.RateLimitError("slow", response=httpx2.Response(429, headers={"retry-after": "9999"}, request=request), body=None)
    assert retry.retry_after(capped) == retry.MAX_RETRY_AFTER
    assert retry.retry_after(ValueError()) is None


def test_a_rate_limit_pauses_every_worker_not_only_the_one_that_got_it():
    # The first request gets 429 "retry after 1 s"; the others are answered 0.2 s later. Their
    # workers must then wait out the same second instead of sending their next papers at once.
    replies = [Reply(429, headers={"retry-after": "1"}, body={"error": {"message": "slow down"}})]
    replies += [Reply(text=GOOD, delay=0.2)]
    papers = [Paper(id=f"p{i}", title=f"Title {i}", abstract=f"Abstract {i}.") for i in range(8)]
    with FakeServer(replies) as srv:
        rows = list(summarise(papers, PROMPT, client_for(srv), concurrency=4))
    assert [r.id for r in rows] == [p.id for p in papers] and all(r.error is None for r in rows)
    limited_at = next(t for t, status in srv.arrivals if status == 429)
    during_pause = [t - limited_at for t, _ in srv.arrivals if 0.1 < t - limited_at < 0.9]
    assert during_pause == []
    assert len(srv.arrivals) == 9  # 8 papers and one retry


def test_server_errors_are_retried_a_bounded_number_of_times():
    with FakeServer([Reply(502, body={"error": {"message": "bad gateway"}})]) as srv:
        row = summarise_one(PAPER, PROMPT, client_for(srv))
    assert row.error.startswith("HTTP 502")
    from summariser.transport import retry

    assert len(srv.requests) == retry.MAX_ATTEMPTS
    assert row.summary is None and row.labels == {"topic": None, "contribution": None}


def test_auth_error_is_not_retried_and_stops_the_run():
    with FakeServer([Reply(401, body={"error": {"message": "invalid key sk-secret"}})]) as srv:
        with pytest.raises(FatalModelError, match="refused the API key") as info:
            list(summarise([PAPER], PROMPT, client_for(srv, api_key="sk-secret")))
    assert len(srv.requests) == 1
    assert "sk-secret" not in str(info.value)


def test_invalid_answer_is_reasked_with_the_validation_error(tmp_path):
    bad = " A parser.\nTopic: linguistics\nContribution: method"
    cache = ResponseCache(tmp_path / "c")
    with FakeServer([Reply(text=bad), Reply(text=GOOD)]) as srv:
        row = summarise_one(PAPER, PROMPT, client_for(srv), cache)
    assert row.error is None and row.labels["topic"] == "language"
    assert len(srv.requests) == 2
    assert "rejected" not in srv.requests[0]["prompt"]
    assert "topic: Input should be 'health'" in srv.requests[1]["prompt"]
    # Tokens of both calls are counted.
    assert row.usage.prompt_tokens == 20


def test_chat_reask_appends_the_bad_answer_and_the_error():
    bad = '{"summary": "x", "topic": "language"}'
    good = '{"summary": "A parser.", "topic": "language", "contribution": "method"}'
    with FakeServer([Reply(text=bad), Reply(text=good)]) as srv:
        row = summarise_one(PAPER, CHAT, client_for(srv))
    assert row.error is None
    messages = srv.requests[1]["messages"]
    assert messages[-2] == {"role": "assistant", "content": bad}
    assert "contribution: Field required" in messages[-1]["content"]


def test_bounded_reasks_end_in_an_error_that_is_not_cached(tmp_path):
    cache = ResponseCache(tmp_path / "c")
    with FakeServer([Reply(text="\n\n")]) as srv:
        row = summarise_one(PAPER, PROMPT, client_for(srv), cache, max_reasks=2)
        assert len(srv.requests) == 3
        assert row.error.startswith("invalid answer after 3 tries")
        assert len(cache) == 0


def test_second_run_is_served_from_the_cache(tmp_path):
    cache = ResponseCache(tmp_path / "c")
    papers = [PAPER, Paper(id="p2", title="Second", abstract="Another abstract.")]
    with FakeServer([Reply(text=GOOD)]) as srv:
        first = list(summarise(papers, PROMPT, client_for(srv), cache))
        second = list(summarise(papers, PROMPT, client_for(srv), cache))
        assert len(srv.requests) == 2
    assert [r.cached for r in first] == [False, False]
    assert [r.cached for r in second] == [True, True]
    assert [r.summary for r in second] == [r.summary for r in first]


def _echo_title(delays: dict[str, float]):
    """A responder whose summary names the paper it was asked about, answering after delays[title]."""

    def respond(body: dict) -> Reply:
        title = re.findall(r"Title: (.*)\n", body["prompt"])[-1]
        return Reply(text=f" About {title}.\nTopic: language\nContribution: method", delay=delays.get(title, 0.0))

    return respond


def test_concurrent_run_keeps_input_order_with_cached_rows_in_between(tmp_path):
    papers = [Paper(id=f"p{i}", title=f"Paper {i}", abstract=f"Abstract {i}.") for i in range(20)]
    # Early papers answer slowest, so calls finish in reverse order; every third paper is cached.
    delays = {p.title: 0.02 * (20 - i) for i, p in enumerate(papers)}
    cache = ResponseCache(tmp_path / "c")
    with FakeServer(responder=_echo_title(delays)) as srv:
        list(summarise(papers[::3], PROMPT, client_for(srv), cache))
        rows = list(summarise(papers, PROMPT, client_for(srv), cache, concurrency=4))
    assert [r.id for r in rows] == [p.id for p in papers]
    assert [r.summary for r in rows] == [f"About {p.title}." for p in papers]
    assert [r.cached for r in rows] == [i % 3 == 0 for i in range(20)]
    assert len(srv.requests) == 20  # 7 for the first run, 13 for the papers it left


def test_a_fully_cached_run_never_starts_the_model(tmp_path):
    cache = ResponseCache(tmp_path / "c")
    papers = [Paper(id=f"p{i}", title=f"Paper {i}", abstract=f"Abstract {i}.") for i in range(5)]
    with FakeServer(responder=_echo_title({})) as srv:
        first = list(summarise(papers, PROMPT, client_for(srv), cache))

    def no_model() -> str:
        raise AssertionError("the model was started for a cached run")

    for concurrency in (1, 4):
        client = fake_client(no_model)
        again = list(summarise(papers, PROMPT, client, cache, concurrency=concurrency))
        assert [r.model_dump(exclude={"cached"}) for r in again] == [r.model_dump(exclude={"cached"}) for r in first]
        assert all(r.cached for r in again)


def test_endpoint_selection_and_default_constraints(monkeypatch):
    from summariser.transport.client import connect

    assert connect().embedded and connect().constrain == "llama"
    assert connect(base_url="http://localhost:8000/v1", model="m").constrain == "mixed"
    assert connect(base_url="https://api.openai.com/v1", model="m").constrain == "schema"
    openai_default = connect(api_key="sk-x")
    assert (openai_default.model, openai_default.constrain, openai_default.embedded) == ("gpt-4o-mini", "schema", False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:1/v1")
    monkeypatch.setenv("SUMMARISER_MODEL", "from-env")
    assert connect().model == "from-env" and not connect().embedded
    monkeypatch.delenv("SUMMARISER_MODEL")
    with pytest.raises(FatalModelError, match="name the endpoint's model"):
        connect()
