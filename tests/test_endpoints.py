"""The default prompt version follows the endpoint, and a version the endpoint cannot serve is
refused before the first call."""

import json
import sys

import pytest

from summariser.transport.client import connect

from .conftest import GOOD, SEED_DUMP, cli
from .fake_server import FakeServer, Reply, completion_with_alternatives

CHAT_ANSWER = {"summary": "A parser that reads sentences.", "topic": "language", "contribution": "method"}


def chat_reply() -> Reply:
    return Reply(body={"choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(CHAT_ANSWER)}}],
                       "usage": {"prompt_tokens": 1, "completion_tokens": 1}})


def test_openai_is_a_chat_endpoint_and_other_servers_serve_completions():
    assert connect(api_key="sk-test-0123456789").kind == "chat"
    assert connect(base_url="https://api.openai.com/v1", api_key="k", model="m").kind == "chat"
    assert connect(base_url="http://127.0.0.1:9/v1", model="m").kind == "completion"
    assert connect(base_url="http://127.0.0.1:9/v1", model="m", kind="chat").kind == "chat"


def test_a_completion_endpoint_gets_the_version_recommended_for_it_and_no_local_model():
    with FakeServer([Reply(text=GOOD)]) as srv:
        result = cli("run", str(SEED_DUMP), "--limit", "2", "--base-url", srv.url, "--model", "fake")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["prompt"] for r in rows} == {"fewshot-v4"}  # no classifier: nothing embedded locally
    assert all("prompt" in body for body in srv.requests)  # /v1/completions bodies


def test_a_chat_endpoint_gets_the_chat_version():
    with FakeServer([chat_reply()]) as srv:
        result = cli("run", str(SEED_DUMP), "--limit", "2", "--base-url", srv.url, "--model", "fake", "--endpoint-kind", "chat")
    assert result.exit_code == 0, result.stderr
    assert {json.loads(line)["prompt"] for line in result.stdout.splitlines()} == {"chat-v1"}
    assert all("messages" in body for body in srv.requests)


def test_a_completion_version_on_a_chat_endpoint_is_refused_before_any_call():
    with FakeServer([chat_reply()]) as srv:
        result = cli("run", str(SEED_DUMP), "--base-url", srv.url, "--model", "fake", "--endpoint-kind", "chat", "--prompt", "fewshot-v8")
    assert result.exit_code == 2 and srv.requests == []
    [line] = result.stderr.strip().splitlines()
    assert "fewshot-v8 needs /v1/completions" in line and "use --prompt chat-v1" in line


@pytest.mark.without_llama_cpp
def test_a_version_with_local_embeddings_is_refused_up_front_without_llama_cpp(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with FakeServer([Reply(text=GOOD)]) as srv:
        result = cli("run", str(SEED_DUMP), "--base-url", srv.url, "--model", "fake", "--prompt", "fewshot-v8")
    assert result.exit_code == 2 and srv.requests == []
    [line] = result.stderr.strip().splitlines()
    assert "pip install 'summariser[embedded]'" in line and "use --prompt fewshot-v4" in line


def test_prompts_list_marks_the_default_of_each_endpoint_kind():
    names = [line.split("\t")[0] for line in cli("prompts", "list").stdout.splitlines()]
    assert {n for n in names if "(default" in n} == {
        "fewshot-v9 (default: embedded)", "fewshot-v4 (default: completion)", "chat-v1 (default: chat)",
    }


TOPICS = ["health", "science", "society", "reinforcement-learning", "vision-audio", "language", "ml-methods", "other"]


def unsure_completion() -> dict:
    """An answer whose topic the model spreads evenly over every value: the votes decide it."""
    import math

    pieces = [" A", " study", ".", "\n", "Topic", ":", " health", "\n", "Contribution", ":", " method"]
    return completion_with_alternatives(pieces, {6: {" " + t.split("-")[0]: math.log(1 / 8) for t in TOPICS}})  # each value's first token


def test_a_remote_run_gets_classifier_votes_from_the_endpoints_embeddings_cached_and_batched(tmp_path):
    from summariser.records import read_dump

    gold = {json.loads(line)["title"]: json.loads(line)["labels"]["topic"] for line in open(SEED_DUMP.parent.parent / "evals" / "gold.jsonl")}
    papers = [p for p in read_dump(str(SEED_DUMP)).papers if gold[p.title] != "other"][:6]
    dump = tmp_path / "six.jsonl"
    dump.write_text("".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in papers))
    embedded_inputs = []

    def respond(body):
        if "input" not in body:
            return Reply(body=unsure_completion())
        assert body["model"] == "embed-small"
        embedded_inputs.append(len(body["input"]))
        # A vector that says the paper's topic, as a good embedding model's neighbourhoods would.
        vectors = [[float(gold[text.split(". ")[0]] == t) + 0.01 * (i % 3) for t in TOPICS] for i, text in enumerate(body["input"])]
        return Reply(body={"object": "list", "data": [{"index": i, "embedding": v} for i, v in enumerate(vectors)], "model": "embed-small"})

    args = ["run", str(dump), "--prompt", "fewshot-v8", "--model", "fake", "--embeddings-model", "embed-small", "--cache-dir", str(tmp_path / "c")]
    with FakeServer(responder=respond) as srv:
        first = cli(*args, "--base-url", srv.url, "-o", str(tmp_path / "rows.jsonl"))
        assert first.exit_code == 0, first.stderr
        # The pool (the 178 seed papers, these six among them) in batches of at most 64 texts.
        assert embedded_inputs == [64, 64, 50]
        rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
        assert [r["labels"]["topic"] for r in rows] == [gold[p.title] for p in papers]  # the votes decided
        assert len({r["labels"]["topic"] for r in rows}) > 1
        again = cli(*args, "--base-url", srv.url, "-o", str(tmp_path / "again.jsonl"))
    assert again.exit_code == 0 and "6 ok (6 cached)" in again.stderr
    assert embedded_inputs == [64, 64, 50]  # nothing embedded or asked again
    from summariser.prompting.store import load_prompt

    # Labels decided with other embeddings are another version's answers: cached apart.
    assert rows[0]["prompt_sha256"] != load_prompt("fewshot-v8").sha256


def test_an_embeddings_endpoint_without_a_model_is_refused():
    result = cli("run", str(SEED_DUMP), "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--embeddings-base-url", "http://127.0.0.1:9/v1")
    assert result.exit_code == 2 and "--embeddings-base-url needs --embeddings-model" in result.stderr
