"""`summariser batch` against a loopback fake of the Files and Batches API (tests/fake_batch_api.py):
request files exactly as `run` sends, under the API's limits; submitting once whatever is
interrupted; collecting validated answers in bounded memory; vLLM results imported; an expired
batch's lost requests prepared again."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from summariser.flow.batch.gather import collect
from summariser.flow.batch.state import load_state, state_folder
from summariser.flow.cache import ResponseCache

from .conftest import cli
from .fake_batch_api import FakeBatchAPI, good_answer, vllm_results
from .fake_server import FakeServer, Reply

PROMPT = ["--prompt", "fewshot-v1"]  # completion style, no embeddings, no log-probabilities needed


def write_dump(path: Path, count: int, twins: int = 0) -> list[str]:
    """A JSONL dump of `count` papers, then `twins` papers with new ids but the text of papers
    0, 1, ... (the same request), then paper 0 again (the same id: read once). Its paper ids."""
    def record(i: int, pid: str | None = None) -> str:
        abstract = (f"We study problem {i} in graph learning and show that method {i % 13} improves accuracy on benchmark "
                    f"{i % 7} by a clear margin across {i % 5 + 2} settings, with an analysis of why it works.")
        return json.dumps({"id": pid or f"p{i}", "title": f"Paper number {i}: learning on graphs", "abstract": abstract}) + "\n"

    with open(path, "w") as out:
        out.writelines(record(i) for i in range(count))
        out.writelines(record(i, f"twin{i}") for i in range(twins))
        out.write(record(0))
    return [f"p{i}" for i in range(count)] + [f"twin{i}" for i in range(twins)]


def request_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(folder.glob("requests-*.jsonl")) for line in path.open()]


def endpoint(url: str) -> list[str]:
    return [*PROMPT, "--model", "fake", "--base-url", url]


def ok(result):
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def run_table(dump: Path, out: Path) -> tuple[list[dict], int]:
    """`summariser run` on the dump against a fake endpoint: its rows, and the requests it sent."""
    with FakeServer(responder=lambda body: Reply(text=good_answer(body))) as srv:
        ok(cli("run", str(dump), *endpoint(srv.url), "-o", str(out)))
        sent = len(srv.requests)
    return [json.loads(line) for line in out.open()], sent


def test_request_lines_are_exactly_what_run_sends_keyed_by_the_cache_key(tmp_path):
    dump = tmp_path / "dump.jsonl"
    write_dump(dump, 4)
    with FakeBatchAPI(tmp_path / "api") as api:
        ok(cli("batch", "prepare", str(dump), "-o", str(tmp_path / "b"), "--prompt", "fewshot-v4", "--model", "fake", "--base-url", api.url))
    lines = request_lines(tmp_path / "b")
    with FakeServer(responder=lambda body: Reply(text=good_answer(body))) as srv:
        ok(cli("run", str(dump), "--prompt", "fewshot-v4", "--model", "fake", "--base-url", srv.url, "-o", str(tmp_path / "t.jsonl")))
    assert len(lines) == 4 and {line["url"] for line in lines} == {"/v1/completions"} and {line["method"] for line in lines} == {"POST"}
    assert sorted(json.dumps(line["body"], sort_keys=True) for line in lines) == sorted(json.dumps(b, sort_keys=True) for b in srv.requests)
    cache = ResponseCache()
    assert all(cache.get(line["custom_id"]) is not None for line in lines)  # run cached its answers under the custom_ids
    cache.close()


def test_files_keep_under_both_limits_and_each_request_appears_once(tmp_path):
    dump = tmp_path / "dump.jsonl"
    write_dump(dump, 9, twins=3)  # the twins of papers 0 and 1 are answered by the cache, paper 2's is a duplicate
    with FakeServer(responder=lambda body: Reply(text=good_answer(body))) as srv:  # two papers answered before
        ok(cli("run", str(dump), *endpoint(srv.url), "--limit", "2", "-o", str(tmp_path / "head.jsonl")))
        out = ok(cli("batch", "prepare", str(dump), "-o", str(tmp_path / "b"), *endpoint(srv.url), "--max-bytes", "12000"))
        one_line = len((tmp_path / "b" / "requests-00001.jsonl").read_bytes().splitlines()[0]) + 1
        assert 4000 < one_line < 6000  # so 12,000 bytes hold two, never three
        by_count = ok(cli("batch", "prepare", str(dump), "-o", str(tmp_path / "c"), *endpoint(srv.url), "--max-requests", "3"))
    sizes = [p.stat().st_size for p in sorted((tmp_path / "b").glob("requests-*.jsonl"))]
    assert len(sizes) == 4 and max(sizes) <= 12000  # 7 requests, two a file
    assert [len(p.read_text().splitlines()) for p in sorted((tmp_path / "c").glob("requests-*.jsonl"))] == [3, 3, 1]
    assert "12 papers: 7 to send, 4 already in the cache, 0 in batches not collected yet, 1 duplicate requests" in out
    assert "7 to send" in by_count
    lines = request_lines(tmp_path / "b")
    papers = [json.loads(line) for p in sorted((tmp_path / "b").glob("papers-*.jsonl")) for line in p.open()]
    assert len({line["custom_id"] for line in lines}) == 7
    assert [p["custom_id"] for p in papers] == [line["custom_id"] for line in lines]
    assert [p["paper"]["id"] for p in papers] == [f"p{i}" for i in range(2, 9)]


def test_vllm_results_go_into_the_cache_through_import_and_run_asks_only_what_failed(tmp_path):
    dump = tmp_path / "dump.jsonl"
    ids = write_dump(dump, 30)
    options = ["--prompt", "fewshot-v4", "--model", "fake", "--base-url", "http://127.0.0.1:9/v1"]
    ok(cli("batch", "prepare", str(dump), "-o", str(tmp_path / "b"), *options))
    results = tmp_path / "results.jsonl"
    assert vllm_results(tmp_path / "b" / "requests-00001.jsonl", results, faults=True) == 30
    out = ok(cli("batch", "import", str(results), "--input", str(dump), *options))
    assert "27 answers stored in the cache; 3 left for `summariser run` to ask again: 1 invalid, 1 errored, 1 malformed" in out
    assert "invalid answer: topic" in out and "the prompt is too long" in out and "not a batch output line" in out
    assert "3 papers of" in out and "still have no answer" in out
    again = ok(cli("batch", "import", str(results), "--input", str(dump), *options))
    assert "3 papers of" in again  # importing again stores the same answers, nothing more
    with FakeServer(responder=lambda body: Reply(text=good_answer(body))) as srv:
        ok(cli("run", str(dump), "--prompt", "fewshot-v4", "--model", "fake", "--base-url", srv.url, "-o", str(tmp_path / "t.jsonl")))
    rows = [json.loads(line) for line in (tmp_path / "t.jsonl").open()]
    assert len(srv.requests) == 3 and [r["id"] for r in rows] == ids and not any(r["error"] for r in rows)


def test_an_expired_batch_reports_what_it_lost_and_the_command_that_prepares_only_that(tmp_path):
    dump = tmp_path / "dump.jsonl"
    ids = write_dump(dump, 40)
    with FakeBatchAPI(tmp_path / "api") as api:
        ok(cli("batch", "prepare", str(dump), "-o", str(tmp_path / "b"), *endpoint(api.url)))
        ok(cli("batch", "submit", str(tmp_path / "b")))
        first = request_lines(tmp_path / "b")
        api.finish(api.batch_for(tmp_path / "b" / "requests-00001.jsonl"), "expired", answered=25)
        out = ok(cli("batch", "collect"))
        assert "25 answers stored in the cache" in out and "15 of its 40 requests got no answer (expired); to send them again:" in out
        command = next(line.strip() for line in out.splitlines() if line.strip().startswith("summariser batch prepare "))
        assert f"the table, from the cache: summariser run {dump} --prompt fewshot-v1 --model fake" in out
        assert command.startswith("summariser batch prepare ") and " && summariser batch submit " in command
        assert ok(cli("batch", "collect")).startswith("nothing to collect")
        prepare, submit = (shlex.split(part)[1:] for part in command.split(" && "))
        again = ok(cli(*prepare))
        assert "40 papers: 15 to send, 25 already in the cache" in again
        again_folder = Path(prepare[prepare.index("-o") + 1])
        assert again_folder.parent == tmp_path and again_folder.name.startswith("b-batch-")
        assert [line["custom_id"] for line in request_lines(again_folder)] == [line["custom_id"] for line in first[25:]]
        ok(cli(*submit))
        api.finish(api.batch_for(again_folder / "requests-00001.jsonl"))
        assert "15 answers stored in the cache" in ok(cli("batch", "collect"))
        assert sorted(api.uploads.values()) == [1, 1] and sorted(api.created.values()) == [1, 1]
    rows, sent = run_table(dump, tmp_path / "t.jsonl")
    assert sent == 0 and [r["id"] for r in rows] == ids


def test_a_batch_that_failed_outright_can_be_sent_again_whole_but_a_live_one_never(tmp_path):
    dump = tmp_path / "dump.jsonl"
    write_dump(dump, 5)
    with FakeBatchAPI(tmp_path / "api") as api:
        ok(cli("batch", "prepare", str(dump), "-o", str(tmp_path / "b"), *endpoint(api.url)))
        ok(cli("batch", "submit", str(tmp_path / "b")))
        assert "already submitted" in ok(cli("batch", "submit", str(tmp_path / "b")))
        refused = cli("batch", "prepare", str(dump), "-o", str(tmp_path / "b"), *endpoint(api.url))
        assert refused.exit_code == 2 and "not collected yet" in refused.output
        elsewhere = ok(cli("batch", "prepare", str(dump), "-o", str(tmp_path / "c"), *endpoint(api.url)))
        assert "0 to send" in elsewhere and "5 in batches not collected yet" in elsewhere
        api.finish(api.batch_for(tmp_path / "b" / "requests-00001.jsonl"), "failed", answered=0)
        assert "5 of its 5 requests got no answer (failed)" in ok(cli("batch", "collect"))
        ok(cli("batch", "prepare", str(dump), "-o", str(tmp_path / "b"), *endpoint(api.url)))
        assert "uploaded as" in ok(cli("batch", "submit", str(tmp_path / "b")))  # the same content, sent again
        assert list(api.created.values()) == [2]


@pytest.mark.processes  # kills a real `summariser batch status` process
def test_twenty_thousand_papers_submitted_once_through_kills_collected_in_bounded_memory(tmp_path, monkeypatch):
    dump = tmp_path / "dump.jsonl"
    ids = write_dump(dump, 20_000, twins=1)
    folder = tmp_path / "b"
    with FakeBatchAPI(tmp_path / "api") as api:
        started = time.perf_counter()
        out = ok(cli("batch", "prepare", str(dump), "-o", str(folder), *endpoint(api.url), "--max-requests", "6000"))
        print(f"\nprepare: {20_001 / (time.perf_counter() - started):.0f} papers/s")
        assert "20001 papers: 20000 to send, 0 already in the cache, 0 in batches not collected yet, 1 duplicate requests" in out
        lines = request_lines(folder)
        assert len(lines) == len({line["custom_id"] for line in lines}) == 20_000
        del lines
        files = sorted(folder.glob("requests-*.jsonl"))
        assert [sum(1 for _ in f.open()) for f in files] == [6000, 6000, 6000, 2000]

        _submit_through_interruptions(api, folder, monkeypatch)
        assert len(api.uploads) == len(api.created) == 4
        assert set(api.uploads.values()) == set(api.created.values()) == {1}  # no file submitted twice

        _kill_status_in_flight(api)
        status = ok(cli("batch", "status")).splitlines()
        assert len(status) == 4 and all(" validating " in line for line in status)
        for batch_id in api.batches:
            api.advance(batch_id, "in_progress")
        assert ok(cli("batch", "collect")).count("in_progress, not ended") == 4
        for number, path in enumerate(files):
            api.finish(api.batch_for(path), faults=number == 0)
        assert ok(cli("batch", "submit", str(folder))).count("not sent again") == 4

        said: list[str] = []
        cache = ResponseCache()
        tracemalloc.start()
        started = time.perf_counter()
        collected = collect(state_folder(cache.directory), cache, said.append)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        cache.close()
        print(f"collect: {20_000 / elapsed:.0f} answers/s under tracemalloc, peak {peak / 1e6:.1f} MB")
        assert peak < 300e6
        assert sum(outcome.stored for _, outcome, _ in collected) == 19_997 and sum(lost for _, _, lost in collected) == 0
        first = next(outcome for entry, outcome, _ in collected if entry.file == str(files[0]))
        assert (first.invalid, first.errored, first.malformed) == (1, 1, 1)
        assert all(entry.collected for entry in load_state(state_folder(cache.directory)).entries)
        assert ok(cli("batch", "collect")).startswith("nothing to collect")
        assert sum(api.created.values()) == 4

    rows, sent = run_table(dump, tmp_path / "table.jsonl")
    assert sent == 3  # the invalid, errored and malformed ones, asked one by one
    assert [r["id"] for r in rows] == ids and not any(r["error"] for r in rows)


def _submit_through_interruptions(api: FakeBatchAPI, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """submit interrupted between the second upload and its batch; then its batch made but the
    answer lost; then run to the end."""
    import summariser.flow.batch.submit as submit_module

    real, calls = submit_module.create_batch, []

    def interrupted(client, entry):
        calls.append(entry.file)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(client, entry)

    monkeypatch.setattr(submit_module, "create_batch", interrupted)
    assert cli("batch", "submit", str(folder)).exit_code == 1
    monkeypatch.setattr(submit_module, "create_batch", real)
    entries = load_state(state_folder(Path(os.environ["SUMMARISER_CACHE_DIR"]))).entries
    assert [e.batch_id is not None for e in entries] == [True, False] and len(api.batches) == 1
    api.drop_next_create = True
    lost_answer = cli("batch", "submit", str(folder))
    assert lost_answer.exit_code == 2 and "creating the batch" in lost_answer.output and len(api.batches) == 2
    resumed = ok(cli("batch", "submit", str(folder)))
    assert "was made from upload" in resumed and resumed.count("uploaded as") == 2


def _kill_status_in_flight(api: FakeBatchAPI) -> None:
    """SIGKILL a `summariser batch status` process while it waits for the API's answer."""
    api.hold.set()
    proc = subprocess.Popen([sys.executable, "-m", "summariser", "batch", "status"], env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert api.held.wait(60), "status never asked for a batch"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        api.hold.clear()
        api.release.set()
    assert proc.returncode == -signal.SIGKILL
    state = load_state(state_folder(Path(os.environ["SUMMARISER_CACHE_DIR"])))
    assert len(state.entries) == 4 and all(e.batch_id for e in state.entries)
