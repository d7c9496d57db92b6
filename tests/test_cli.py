"""The command line: arguments, exit statuses, output formats, against a scripted loopback server."""

import csv
import io
import json

import pytest

from summariser.base.versions import EMBEDDED_MODEL
from summariser.prompting.extract import extract_summary
from summariser.prompting.store import DEFAULT_VERSION, load_prompt
from summariser.records import read_dump

from .conftest import GOOD, RECORDING, SEED_DUMP, cli, recorder
from .fake_server import FakeServer, Reply





def run(*args, input=None):
    return cli(*args, input=input)


def run_fake(server, *args):
    return run("run", "--base-url", server.url, "--model", "fake", *args)


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "nope.txt"], "nope.txt: no such file"),
        (["run", str(SEED_DUMP), "--prompt", "v99"], "unknown prompt version 'v99'"),
        (["run", str(SEED_DUMP), "-o", "out.xlsx"], "unknown output extension"),
        (["run", "--base-url", "http://127.0.0.1:9/v1", str(SEED_DUMP)], "name the endpoint's model"),
        (["prompts", "show", "v99"], "unknown prompt version"),
        (["run", str(SEED_DUMP), "--model", "gpt-4o"], "model 'gpt-4o' needs an endpoint"),
        (["run", str(SEED_DUMP), "-o", "/proc/forbidden/out.jsonl"], "/proc/forbidden"),
        (["run", str(SEED_DUMP), "-o", "/tmp"], "/tmp: is a directory"),
        (["cache", "info", "--cache-dir", "/proc/forbidden/cache"], "cache folder /proc/forbidden"),
        (["eval", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--json", "/proc/x/m.json"], "/proc/x"),
    ],
)
def test_unusable_arguments_exit_2_with_one_line(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_run_writes_jsonl_to_stdout_in_input_order(tmp_path):
    with FakeServer([Reply(text=GOOD)]) as srv:
        result = run_fake(srv, str(SEED_DUMP), "--limit", "5")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    expected = read_dump(str(SEED_DUMP)).papers[:5]
    assert [r["id"] for r in rows] == [p.id for p in expected]
    assert set(rows[0]) == {
        "id", "title", "summary", "labels", "prompt", "prompt_sha256", "model", "usage", "error", "warning",
        "confidence", "needs_review",
    }
    assert rows[0]["labels"] == {"topic": "language", "contribution": "method"}
    assert rows[0]["confidence"] == {"topic": None, "contribution": None}  # the server gave no log-probabilities
    assert "5 papers" in result.stderr and "5 ok (0 cached), 0 error" in result.stderr
    assert f"{SEED_DUMP}:1: skipped: a title (or page text) with no abstract line after it" in result.stderr
    assert f"{SEED_DUMP}:3: removed 'Subscribe' glued to the title" in result.stderr


def test_second_run_is_all_cached_without_requests(tmp_path):
    out = tmp_path / "o.jsonl"
    with FakeServer([Reply(text=GOOD)]) as srv:
        assert run_fake(srv, str(SEED_DUMP), "--limit", "3", "-o", str(out)).exit_code == 0
        first = out.read_text()
        result = run_fake(srv, str(SEED_DUMP), "--limit", "3", "-o", str(out))
        assert len(srv.requests) == 3
    assert "3 ok (3 cached)" in result.stderr
    # Identical whether the answers came from the model or the cache.
    assert out.read_text() == first


def test_no_cache_calls_the_model_again(tmp_path):
    with FakeServer([Reply(text=GOOD)]) as srv:
        run_fake(srv, str(SEED_DUMP), "--limit", "2")
        run_fake(srv, str(SEED_DUMP), "--limit", "2", "--no-cache")
        assert len(srv.requests) == 4


def test_csv_and_markdown_outputs(tmp_path):
    with FakeServer([Reply(text=GOOD)]) as srv:
        run_fake(srv, str(SEED_DUMP), "--limit", "2", "-o", str(tmp_path / "o.csv"))
        run_fake(srv, str(SEED_DUMP), "--limit", "2", "-o", str(tmp_path / "o.md"))
    rows = list(csv.DictReader(io.StringIO((tmp_path / "o.csv").read_text())))
    assert [r["topic"] for r in rows] == ["language", "language"]
    assert rows[0]["summary"] == "A parser that reads sentences."
    md = (tmp_path / "o.md").read_text().splitlines()
    assert md[0] == "| title | summary | topic | contribution | error | warning |"
    assert len(md) == 4


def test_row_errors_give_exit_1_and_keep_every_row(tmp_path):
    out = tmp_path / "o.jsonl"
    second = read_dump(str(SEED_DUMP)).papers[1].title

    def fail_second(body):
        if second in body["prompt"]:
            return Reply(400, body={"error": {"message": "context too long"}})
        return Reply(text=GOOD)

    # Requests run concurrently, so the failure is tied to the paper, not to the arrival order.
    with FakeServer(responder=fail_second) as srv:
        result = run_fake(srv, str(SEED_DUMP), "--limit", "3", "-o", str(out))
    assert result.exit_code == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["error"] is None for r in rows] == [True, False, True]
    assert rows[1]["error"] == "HTTP 400: context too long"
    assert "2 ok (0 cached), 1 error" in result.stderr


def test_stdin_input():
    data = json.dumps({"title": "T", "abstract": "An abstract."}) + "\n"
    with FakeServer([Reply(text=GOOD)]) as srv:
        args = ["run", "--base-url", srv.url, "--model", "fake", "-"]
        result = cli(*args, input=data)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "T"


def test_prompts_commands():
    listing = run("prompts", "list").stdout
    assert "fewshot-v9 (default: embedded)" in listing and "chat-v1 (default: chat)" in listing
    # Every shipped version is in the lock with its current hash (pool included for fewshot-v2).
    assert listing.count("\treleased\t") == len(listing.strip().splitlines()) == 10
    shown = run("prompts", "show", "chat-v1").stdout
    assert 'version = "chat-v1"' in shown
    assert run("prompts", "diff", "fewshot-v1", "chat-v1").stdout.startswith("--- fewshot-v1.toml")


def test_cache_info_and_clear(tmp_path):
    with FakeServer([Reply(text=GOOD)]) as srv:
        run_fake(srv, str(SEED_DUMP), "--limit", "2", "--cache-dir", str(tmp_path / "c"))
    assert ": 2 answers" in run("cache", "info", "--cache-dir", str(tmp_path / "c")).stdout
    assert "removed 2 answers" in run("cache", "clear", "--cache-dir", str(tmp_path / "c")).stdout
    assert ": 0 answers" in run("cache", "info", "--cache-dir", str(tmp_path / "c")).stdout


@pytest.mark.without_llama_cpp
def test_an_eval_with_a_version_that_embeds_stops_before_any_call_without_llama_cpp(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if summariser[embedded] were not installed
    with FakeServer([Reply(text=GOOD)]) as srv:
        result = run("eval", "--prompt", "fewshot-v4", "--prompt", "fewshot-v6", "--base-url", srv.url, "--model", "fake", "--cache-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "prompt version fewshot-v6" in result.stderr and "pip install 'summariser[embedded]'" in result.stderr
    assert srv.requests == []  # fewshot-v4, first in the eval, was not run either


@pytest.mark.usefixtures("seed_embeddings")  # the classifier finds every seed paper's embedding in the cache
def test_the_default_version_runs_from_a_cassette_recorded_from_the_embedded_model(tmp_path):
    papers = read_dump(str(SEED_DUMP)).papers[:4]
    dump = tmp_path / "four.jsonl"
    dump.write_text("".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in papers))
    # Replayed through a closed port, which is a completion endpoint: the embedded model's default
    # is named, and so is its embedding model (whose vectors the cache holds).
    closed = ["--base-url", "http://127.0.0.1:9/v1", "--model", EMBEDDED_MODEL, "--constrain", "llama", "--prompt", DEFAULT_VERSION,
              "--embeddings-model", EMBEDDED_MODEL]
    out = tmp_path / "rows.jsonl"
    with recorder.use_cassette(f"cli-{DEFAULT_VERSION}.yaml"):
        result = run("run", str(dump), "-o", str(out), *([] if RECORDING else closed))
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [p.id for p in papers]
    prompt = load_prompt(DEFAULT_VERSION)
    for row, paper in zip(rows, papers):
        assert row["prompt"] == DEFAULT_VERSION and row["error"] is None
        # The default takes its summary from the abstract: the model gave only the labels.
        assert row["summary"] == extract_summary(paper.title, paper.abstract, prompt.output.summary_max_words)
        for f in prompt.fields:  # the model's distribution, combined with the classifier's votes
            assert row["labels"][f.name] in f.values and 0 < row["confidence"][f.name] <= 1
    # Again, from the cache alone: the same file, and no request (the port is closed).
    again = run("run", str(dump), "-o", str(tmp_path / "again.jsonl"), *closed)
    assert again.exit_code == 0 and "4 ok (4 cached)" in again.stderr
    assert (tmp_path / "again.jsonl").read_text() == out.read_text()
