"""Several endpoints serving the same model (--base-url repeated or @FILE), against loopback servers:
requests spread over those that are up, one that fails is taken out and probed, a 429 pauses only
its endpoint, and the breaker opens only when every endpoint fails."""

import json
import threading
import time

import pytest

from summariser.cli.common import base_urls
from summariser.flow.pipeline import summarise
from summariser.prompting.store import load_prompt
from summariser.records import Paper
from summariser.transport.client import ModelClient, connect
from summariser.transport.endpoints import Health
from summariser.transport.retry import BREAKER_FAILURES, NO_WAIT

from .conftest import FAKE_ENDPOINT_PROMPT, GOOD, cli
from .fake_server import FakeServer, Reply

PROMPT = load_prompt("fewshot-v1")  # no retrieval, no embeddings: the cheapest to render
DELAY = 0.01  # every good answer takes this long, so requests overlap
DOWN = Reply(503, body={"error": {"message": "overloaded"}})


def papers(n: int) -> list[Paper]:
    return [Paper(id=f"p{i}", title=f"Paper number {i}", abstract=f"Abstract of paper {i}.") for i in range(n)]


def several(*servers: FakeServer, health: Health | None = None, **kw) -> ModelClient:
    return ModelClient(model="fake", base_url=[s.url for s in servers], policy=NO_WAIT, health=health, **kw)


class Outage:
    """The second endpoint answers 503 while the three together have received from `start` to
    `end` requests (counted, not timed); every other answer is good. Notes the phase in which
    each request reached the second endpoint."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end
        self.count = 0
        self.lock = threading.Lock()
        self.second: list[str] = []  # "before", "down" or "after", per request it received

    def good(self, body: dict) -> Reply:
        with self.lock:
            self.count += 1
        return Reply(text=GOOD, delay=DELAY)

    def flaky(self, body: dict) -> Reply:
        with self.lock:
            self.count += 1
            phase = "before" if self.count < self.start else "down" if self.count < self.end else "after"
            self.second.append(phase)
        return DOWN if phase == "down" else Reply(text=GOOD, delay=DELAY)


def test_an_endpoint_that_dies_mid_run_is_taken_out_probed_and_used_again_once_back():
    n, concurrency, health = 900, 6, Health(failures=3, out_seconds=0.2, max_out_seconds=0.4)
    outage = Outage(start=60, end=360)
    with FakeServer(responder=outage.good) as a, FakeServer(responder=outage.flaky) as b, FakeServer(responder=outage.good) as c:
        client = several(a, b, c, health=health)
        rows = list(summarise(papers(n), PROMPT, client, None, concurrency=concurrency))
        counts = [len(s.requests) for s in (a, b, c)]
    assert [r.id for r in rows] == [p.id for p in papers(n)] and [r.error for r in rows if r.error] == []
    phases = {p: outage.second.count(p) for p in ("before", "down", "after")}
    first, second, third = client.endpoints.stats()
    # It served its share before it died, and again after it came back.
    assert phases["before"] >= 5 and phases["after"] >= 20 and second.answered == phases["before"] + phases["after"]
    # While it was down the others received 300 requests; a third of them would have gone to it.
    # It got only those in flight or sent before `failures` 503s in a row took it out (a late
    # good answer from before the outage resets that count, at most once per request in flight),
    # and then its probes.
    assert 1 <= second.probes <= phases["down"] + 1
    assert phases["down"] <= health.failures * concurrency + concurrency + second.probes
    assert (second.outages, second.out_now, first.outages, third.outages) == (1, False, 0, 0)
    # Every paper was answered once; the live endpoints shared the load.
    assert counts[0] + counts[2] + second.answered == n
    assert min(first.answered, third.answered) >= 0.3 * n
    report = client.endpoints.report()
    assert report[0].startswith("3 endpoints") and f"{b.url}: {second.answered} answered" in report[2] and "taken out 1 time" in report[2]


def test_a_429_pauses_only_its_endpoint_while_the_others_keep_answering():
    n, concurrency = 150, 6
    limited = Reply(429, headers={"retry-after": "30"}, body={"error": {"message": "slow down"}})
    first_reply = {"sent": False}

    def rate_limited_once(body: dict) -> Reply:
        if not first_reply["sent"]:
            first_reply["sent"] = True
            return limited
        return Reply(text=GOOD, delay=DELAY)

    good = [Reply(text=GOOD, delay=DELAY)]
    with FakeServer(responder=rate_limited_once) as a, FakeServer(good) as b, FakeServer(good) as c:
        client = several(a, b, c)
        rows = list(summarise(papers(n), PROMPT, client, None, concurrency=concurrency))
    assert all(r.error is None for r in rows)
    [(limited_at, status)] = a.arrivals[:1]
    assert status == 429 and client.endpoints.stats()[0].rate_limited == 1
    # Paused for 30 s, the first endpoint got only what was already on its way (the run took far
    # less than 30 s: a pause of every endpoint would have sent it a third of what came after).
    assert len(a.requests) <= concurrency
    # The paper it refused went to another endpoint, and the others answered all the rest after the 429.
    assert len(a.requests) + len(b.requests) + len(c.requests) == n + 1
    after = [t for s in (b, c) for t, _ in s.arrivals if t > limited_at]
    assert len(after) >= n - 2 * concurrency


def test_the_breaker_opens_only_when_every_endpoint_fails_and_sends_little():
    n, concurrency = 100, 6
    with FakeServer([DOWN]) as a, FakeServer([DOWN]) as b, FakeServer([DOWN]) as c:
        client = several(a, b, c)
        rows = list(summarise(papers(n), PROMPT, client, None, concurrency=concurrency))
        sent = [len(s.requests) for s in (a, b, c)]
    assert len(rows) == n and all(r.error for r in rows)
    assert client.breaker.is_open()
    assert sum(r.error.startswith("not sent:") for r in rows) >= n - BREAKER_FAILURES - 2 * concurrency
    assert any("no endpoint is up: all 3 were taken out" in r.error for r in rows)
    # Each endpoint was taken out after its failures in a row (and what was in flight then);
    # none was sent anything after (the default outage, 30 s, outlasts the run: no probe).
    health = Health()
    assert all(count <= health.failures + concurrency for count in sent)
    assert [s.outages for s in client.endpoints.stats()] == [1, 1, 1]


def test_one_endpoint_down_from_the_start_costs_no_row():
    with FakeServer([Reply(text=GOOD)]) as a, FakeServer([DOWN]) as b:
        client = several(a, b)
        rows = list(summarise(papers(60), PROMPT, client, None, concurrency=4))
    assert all(r.error is None for r in rows) and len(a.requests) == 60
    assert len(b.requests) <= Health().failures + 4 and client.endpoints.stats()[1].out_now


def write_dump(path, n: int) -> None:
    path.write_text("".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in papers(n)))


def test_base_url_repeated_and_from_a_file_spreads_a_run_and_reports_each_endpoint(tmp_path):
    dump, out = tmp_path / "papers.jsonl", tmp_path / "rows.jsonl"
    write_dump(dump, 40)
    good = [Reply(text=GOOD, delay=DELAY)]
    with FakeServer(good) as a, FakeServer(good) as b, FakeServer(good) as c:
        urls = tmp_path / "urls.txt"
        urls.write_text(f"# the other two\n{b.url}\n\n{c.url}   # the third\n{a.url}\n")  # a repeat counts once
        result = cli("run", str(dump), "--base-url", a.url, "--base-url", f"@{urls}", "--model", "fake", *FAKE_ENDPOINT_PROMPT, "-o", str(out))
        counts = [len(s.requests) for s in (a, b, c)]
    assert result.exit_code == 0, result.stderr
    assert len(out.read_text().splitlines()) == 40 and sum(counts) == 40 and min(counts) >= 5
    lines = result.stderr.splitlines()
    assert "3 endpoints, each request to the least-loaded one that was up:" in lines
    for server, count in zip((a, b, c), counts):
        assert f"  {server.url}: {count} answered" in lines


@pytest.mark.parametrize(
    "content, message",
    [
        ("http://127.0.0.1:9/v1\nlocalhost:8000/v1\n", "urls.txt:2: 'localhost:8000/v1' is not an endpoint URL"),
        ("# nothing but a comment\n", "urls.txt: no endpoint URL in the file"),
        ("http://127.0.0.1:99999/v1\n", "urls.txt:1: 'http://127.0.0.1:99999/v1' is not an endpoint URL"),
        (None, "No such file or directory"),
    ],
)
def test_a_bad_url_file_is_refused_in_one_line(tmp_path, content, message):
    write_dump(tmp_path / "papers.jsonl", 3)
    urls = tmp_path / "urls.txt"
    if content is not None:
        urls.write_text(content)
    with FakeServer([Reply(text=GOOD)]) as srv:
        result = cli("run", str(tmp_path / "papers.jsonl"), "--base-url", srv.url, "--base-url", f"@{urls}", "--model", "fake", *FAKE_ENDPOINT_PROMPT)
    assert result.exit_code == 2 and srv.requests == []
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("summariser: ") and message in line


def test_one_url_is_the_single_endpoint_client_as_before():
    assert base_urls(None, None, ("http://127.0.0.1:9/v1",)) == "http://127.0.0.1:9/v1"
    assert base_urls(None, None, ("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1")) == "http://127.0.0.1:9/v1"
    assert base_urls(None, None, ()) is None
    one, listed = connect(base_url="http://127.0.0.1:9/v1", model="m"), connect(base_url=["http://127.0.0.1:9/v1"], model="m")
    assert one.endpoints is None and listed.endpoints is None
    assert {k: v for k, v in listed.settings().items() if k not in ("gate", "breaker")} == {
        k: v for k, v in one.settings().items() if k not in ("gate", "breaker")
    }
    with FakeServer([Reply(text=GOOD)]) as srv:
        result = cli("run", "-", "--base-url", srv.url, "--model", "fake", *FAKE_ENDPOINT_PROMPT, input='{"title": "T", "abstract": "A."}\n')
    assert result.exit_code == 0 and len(srv.requests) == 1 and "endpoints" not in result.stderr


@pytest.mark.processes
def test_worker_processes_share_the_endpoints_health_and_counts():
    # 40 in flight: the calls run in worker processes, each rebuilding the client from settings().
    n, concurrency = 200, 40
    good = [Reply(text=GOOD, delay=DELAY)]
    with FakeServer(good) as a, FakeServer([DOWN]) as b, FakeServer(good) as c:
        client = several(a, b, c)
        rows = list(summarise(papers(n), PROMPT, client, None, concurrency=concurrency))
        counts = [len(s.requests) for s in (a, b, c)]
    assert all(r.error is None for r in rows)
    first, second, third = client.endpoints.stats()  # the parent's view: what every worker did
    assert (first.answered, third.answered) == (counts[0], counts[2]) and counts[0] + counts[2] == n
    assert min(counts[0], counts[2]) >= 0.25 * n
    # One outage for all the workers: they share the endpoint's health.
    assert (second.answered, second.failed, second.outages, second.out_now) == (0, counts[1], 1, True)
