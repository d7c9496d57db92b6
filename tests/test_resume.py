"""Interrupted runs: a real `summariser run` process is killed (SIGKILL, SIGTERM, SIGINT) mid-run;
running the same command again finishes only what is missing and writes the same file as an
uninterrupted run. Also two runs sharing one cache directory at once, and secrets on disk."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import diskcache
import pytest

from summariser.flow.cache import CachedAnswer

from .conftest import FAKE_ENDPOINT_PROMPT
from .fake_server import FakeServer, Reply, paper_number

pytestmark = pytest.mark.processes  # real processes: not in `make test-fast`

N = 60
KEY = "sk-test-resume-0123456789abcdefXYZ"


def answer_for(body):
    """A different answer per paper, so rows cannot be swapped unnoticed; slow enough to interrupt
    (the last paper slowest, so a kill as its request arrives is still mid-run)."""
    number = paper_number(body)
    topic = ["language", "vision-audio", "ml-methods"][number % 3]
    return Reply(text=f" Summary of paper {number}.\nTopic: {topic}\nContribution: method", delay=1.0 if number == N - 1 else 0.05)


@pytest.fixture
def dump(tmp_path):
    path = tmp_path / "dump.jsonl"
    path.write_text("".join(json.dumps({"title": f"Paper number {i}", "abstract": f"Abstract of paper {i}. " * 12}) + "\n" for i in range(N)))
    return path


def start(srv, dump, out, cache, *extra):
    env = {**os.environ, "OPENAI_BASE_URL": srv.url, "SUMMARISER_MODEL": "fake", "SUMMARISER_CACHE_DIR": str(cache), "OPENAI_API_KEY": KEY}
    return subprocess.Popen(
        [sys.executable, "-m", "summariser", "run", str(dump), "-o", str(out), *FAKE_ENDPOINT_PROMPT, *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_handler(proc, signum, timeout=30.0):
    """Wait until the process catches signum (Linux: its SigCgt mask in /proc), so a signal sent
    next reaches the run's handler however slowly the interpreter started on a loaded machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
        if caught & (1 << (signum - 1)):
            return
        time.sleep(0.05)
    raise AssertionError(f"the process did not install a handler for signal {signum} in {timeout} s")


def finish(proc):
    stdout, stderr = proc.communicate(timeout=60)
    return proc.returncode, stdout, stderr


def wait_for_requests(srv, count):
    deadline = time.monotonic() + 30
    while len(srv.requests) < count:
        assert time.monotonic() < deadline, f"only {len(srv.requests)} requests arrived"
        time.sleep(0.002)


def wait_until_quiet(srv, seconds):
    deadline = time.monotonic() + 30
    while True:
        seen = len(srv.requests)
        time.sleep(seconds)
        if len(srv.requests) == seen:
            return
        assert time.monotonic() < deadline, "requests kept arriving after the kill"


def cached_papers(cache_dir: Path) -> set[int]:
    """Which papers have an answer in the cache (read straight from the store)."""
    with diskcache.Cache(str(cache_dir)) as store:
        answers = [CachedAnswer.model_validate_json(store[k]) for k in store.iterkeys()]
    return {int(a.answer.summary.split()[-1].rstrip(".")) for a in answers}


def requested_papers(requests) -> list[int]:
    return [paper_number(r) for r in requests]


@pytest.fixture
def reference(tmp_path, dump):
    """The output of an uninterrupted run."""
    out = tmp_path / "reference.jsonl"
    with FakeServer(responder=answer_for) as srv:
        status, _, stderr = finish(start(srv, dump, out, tmp_path / "ref-cache"))
    assert status == 0, stderr
    return out.read_bytes()


def no_partial_files(directory: Path) -> bool:
    return not list(directory.glob(".*.part"))


@pytest.mark.parametrize(
    "after_requests, concurrency",
    [(1, "8"), (N // 2, "8"), (N, "8"), (N // 2, "40")],  # 40 in flight: calls run in worker processes
)
def test_kill_9_mid_run_then_the_same_command_finishes_with_identical_output(tmp_path, dump, reference, after_requests, concurrency):
    out, cache = tmp_path / "out.jsonl", tmp_path / "cache"
    with FakeServer(responder=answer_for) as srv:
        proc = start(srv, dump, out, cache, "--concurrency", concurrency)
        wait_for_requests(srv, after_requests)
        proc.kill()
        proc.wait()
        # Worker processes notice their parent is gone within a second and stop sending.
        wait_until_quiet(srv, 2.0)
    assert not out.exists()  # the output appears whole or not at all
    done = cached_papers(cache)
    assert len(done) < N

    with FakeServer(responder=answer_for) as srv:
        status, _, stderr = finish(start(srv, dump, out, cache))
        again = requested_papers(srv.requests)
    assert status == 0, stderr
    # Only what was missing was sent, each once; nothing that had completed was paid for again.
    assert sorted(again) == sorted(set(range(N)) - done)
    assert f"{N} ok ({len(done)} cached), 0 error" in stderr
    assert out.read_bytes() == reference
    assert no_partial_files(tmp_path)  # the killed run's partial file was cleaned up


@pytest.mark.parametrize("sig, status, name", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_sigterm_and_ctrl_c_stop_at_once_say_how_to_resume_and_resume(tmp_path, dump, reference, sig, status, name):
    out, cache = tmp_path / "out.jsonl", tmp_path / "cache"

    def one_paper_hangs(body):
        # A call that would take a minute must not hold up the exit.
        reply = answer_for(body)
        return Reply(text=reply.text, delay=60) if "Paper number 20\n" in body["prompt"] else reply

    with FakeServer(responder=one_paper_hangs) as srv:
        proc = start(srv, dump, out, cache)
        wait_for_requests(srv, N // 2)
        proc.send_signal(sig)
        code, _, stderr = finish(proc)  # finish() gives up after 60 s, before the hung call would end
    assert code == status
    assert f"interrupted ({name}) after " in stderr
    assert f"of {N} papers" in stderr
    assert f"run the same command again: summariser run {dump} -o {out}" in stderr
    assert "Traceback" not in stderr
    assert not out.exists() and no_partial_files(tmp_path)

    with FakeServer(responder=answer_for) as srv:
        code, _, stderr = finish(start(srv, dump, out, cache))
    assert code == 0, stderr
    assert out.read_bytes() == reference


def test_two_runs_sharing_a_cache_directory_at_once_both_complete(tmp_path, dump, reference):
    cache = tmp_path / "shared-cache"
    with FakeServer(responder=answer_for) as srv:
        procs = [start(srv, dump, tmp_path / f"out{i}.jsonl", cache) for i in range(2)]
        results = [finish(p) for p in procs]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert (tmp_path / "out0.jsonl").read_bytes() == reference
    assert (tmp_path / "out1.jsonl").read_bytes() == reference
    assert cached_papers(cache) == set(range(N))


def test_the_api_key_never_reaches_the_terminal_output_or_cache(tmp_path, dump):
    out, cache = tmp_path / "out.jsonl", tmp_path / "cache"

    def echoing(body):
        # A careless server that quotes the credential back, in errors and in an answer.
        number = paper_number(body)
        if number % 3 == 0:
            return Reply(400, body={"error": {"message": f"Bad request for key {KEY}"}})  # not retried
        if number % 3 == 1:
            return Reply(text=f" Key was {KEY} today.\nTopic: language\nContribution: method")
        return answer_for(body)

    with FakeServer(responder=echoing) as srv:
        code, stdout, stderr = finish(start(srv, dump, out, cache, "--concurrency", "4"))
        sent = srv.headers
    assert code == 1  # the 400s are error rows
    assert all({k.lower(): v for k, v in h.items()}["authorization"] == f"Bearer {KEY}" for h in sent)  # it was really sent
    assert "[API key]" in out.read_text()
    places = {"stdout": stdout, "stderr": stderr, "output": out.read_text()}
    places.update({str(p): p.read_bytes().decode(errors="replace") for p in cache.rglob("*") if p.is_file()})
    for where, text in places.items():
        assert KEY not in text, where
        assert KEY[:16] not in text, where  # nor a cut-off part of it
    assert (cache.stat().st_mode & 0o777) == 0o700


def test_sigterm_before_any_paper_is_sent_exits_cleanly(tmp_path):
    # The run waits for its input on stdin when the signal comes.
    env = {**os.environ, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "SUMMARISER_MODEL": "fake", "SUMMARISER_CACHE_DIR": str(tmp_path / "c")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "summariser", "run", "-"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for_handler(proc, signal.SIGTERM)  # past interpreter start-up, into reading stdin
    proc.terminate()
    code, _, stderr = finish(proc)
    assert code == 143
    assert "interrupted (SIGTERM) before any paper was sent" in stderr and "Traceback" not in stderr
