"""`summariser cache merge`: caches made on several machines brought into one."""

import json

import numpy as np

from summariser.base.types import Answer, Usage
from summariser.flow.cache import CachedAnswer, ResponseCache
from summariser.flow.embedding_store import EmbeddingStore

from .conftest import FAKE_ENDPOINT_PROMPT, cli
from .fake_server import FakeServer, Reply, completion_body


def entry(summary):
    return CachedAnswer(answer=Answer(summary=summary, labels={"topic": "language", "contribution": "method"}), usage=Usage(prompt_tokens=3))


class Vectors:
    """An engine giving each text a vector of its length (so texts are told apart)."""

    def embed(self, texts, layers=0, last=False):
        return np.array([[float(len(t)), 1.0] for t in texts])


def fill(directory, items, texts=()):
    cache = ResponseCache(directory)
    for key, summary in items.items():
        cache.set(key, entry(summary))
    cache.close()
    if texts:
        store = EmbeddingStore.beside(directory, Vectors())
        store.embed(list(texts))
        store.close()


def test_merge_copies_what_is_missing_keeps_what_is_there_and_counts_clashes(tmp_path):
    fill(tmp_path / "a", {"k1": "one", "k2": "two"}, texts=["alpha", "beta"])
    fill(tmp_path / "b", {"k2": "two", "k3": "three", "k4": "four"}, texts=["gamma"])
    fill(tmp_path / "dest", {"k4": "FOUR here"})
    result = cli("cache", "merge", str(tmp_path / "a"), str(tmp_path / "b"), "--cache-dir", str(tmp_path / "dest"))
    assert result.exit_code == 0, result.output
    assert f"{tmp_path / 'a'} answers: 2 copied, 0 already here" in result.output
    assert f"{tmp_path / 'b'} answers: 1 copied, 1 already here, 1 held here with another value (kept)" in result.output
    assert f"{tmp_path / 'a'} embeddings: 2 copied" in result.output
    merged = ResponseCache(tmp_path / "dest")
    assert {k: merged.get(k).answer.summary for k in ("k1", "k2", "k3", "k4")} == {"k1": "one", "k2": "two", "k3": "three", "k4": "FOUR here"}
    merged.close()
    # The embeddings came too: a store over the destination needs no engine for them (the
    # suite's guard fails any test that would load the real one).
    store = EmbeddingStore(tmp_path / "dest" / "embeddings", engine=None)
    assert store.embed(["alpha", "gamma"]).tolist() == [[5.0, 1.0], [5.0, 1.0]]
    store.close()
    again = cli("cache", "merge", str(tmp_path / "a"), "--cache-dir", str(tmp_path / "dest"))
    assert f"{tmp_path / 'a'} answers: 0 copied, 2 already here" in again.output


def test_shards_run_apart_then_merged_answer_the_whole_dump_without_a_call(tmp_path):
    papers = [{"title": f"Paper number {i}", "abstract": f"We study problem {i} and find result {i}. " * 3} for i in range(6)]
    for shard, rows in (("s1", papers[:3]), ("s2", papers[3:])):
        (tmp_path / f"{shard}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "all.jsonl").write_text("".join(json.dumps(r) + "\n" for r in papers))
    good = completion_body(" A study of a problem.\nTopic: language\nContribution: method")
    with FakeServer(responder=lambda body: Reply(body=good)) as srv:
        for shard in ("s1", "s2"):
            done = cli("run", str(tmp_path / f"{shard}.jsonl"), *FAKE_ENDPOINT_PROMPT, "--base-url", srv.url, "--model", "fake",
                       "--cache-dir", str(tmp_path / shard / "cache"), "-o", str(tmp_path / f"{shard}.out.jsonl"))
            assert done.exit_code == 0, done.stderr
    merged = cli("cache", "merge", str(tmp_path / "s1" / "cache"), str(tmp_path / "s2" / "cache"), "--cache-dir", str(tmp_path / "one"))
    assert merged.exit_code == 0, merged.output
    # No endpoint at all now: every paper must come from the merged cache.
    whole = cli("run", str(tmp_path / "all.jsonl"), *FAKE_ENDPOINT_PROMPT, "--base-url", "http://127.0.0.1:9/v1", "--model", "fake",
                "--cache-dir", str(tmp_path / "one"), "-o", str(tmp_path / "all.out.jsonl"))
    assert whole.exit_code == 0 and "6 ok (6 cached)" in whole.stderr


def test_a_folder_that_is_not_a_cache_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("cache", "merge", str(tmp_path / "empty"), "--cache-dir", str(tmp_path / "dest"))
    assert result.exit_code == 2 and "not a summariser cache" in result.stderr
