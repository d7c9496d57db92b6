"""The real embedded model on a few abstracts of the seed dump (about 75 s on 2 cores, most of it
the default version embedding its pool of 178 papers for its classifier)."""

import json
import math
import urllib.error
import urllib.request

import numpy as np
import pytest

from summariser.flow.cache import ResponseCache
from summariser.transport.client import ModelClient
from summariser.engine.server import MODEL_NAME, EmbeddedServer
from summariser.flow.pipeline import summarise
from summariser.prompting.store import DEFAULT_VERSION, load_prompt
from summariser.records import read_dump

from .conftest import SEED_DUMP

pytest.importorskip("llama_cpp", reason="the embedded extra is not installed")
pytestmark = pytest.mark.embedded


def embedded_client(server: EmbeddedServer) -> ModelClient:
    return ModelClient(MODEL_NAME, server.base_url, constrain="llama", on_close=server.close, embedded=True)


def test_embedded_model_summarises_three_abstracts_then_serves_them_from_cache(tmp_path):
    prompt = load_prompt(DEFAULT_VERSION)
    papers = read_dump(str(SEED_DUMP)).papers[:3]
    cache = ResponseCache(tmp_path / "cache")
    server = EmbeddedServer()
    client = embedded_client(server)
    try:
        rows = list(summarise(papers, prompt, client, cache, concurrency=3))  # decoded together
        assert server.started
        # Anything the batching engine does not serve (here a chat prompt) goes to llama-cpp-python.
        chat = load_prompt("chat-v1")
        [chat_row] = summarise(papers[:1], chat, client, cache)
        assert chat_row.error is None and all(chat_row.labels[f.name] in f.values for f in chat.fields)
        # A malformed request is refused as such (400, not retried), not failed as a server error.
        bad = {"model": MODEL_NAME, "prompt": "Title:", "temperature": 0, "grammar": "root ::= ("}
        req = urllib.request.Request(f"{server.base_url()}/completions", json.dumps(bad).encode(), {"content-type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=30)
        assert refused.value.code == 400
        # Greedy completions with logprobs are served by the batching engine, in OpenAI's shape.
        ask = {"model": MODEL_NAME, "prompt": "The capital of France is", "temperature": 0, "max_tokens": 4, "logprobs": 3}
        req = urllib.request.Request(f"{server.base_url()}/completions", json.dumps(ask).encode(), {"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            choice = json.load(resp)["choices"][0]
        assert "".join(choice["logprobs"]["tokens"]) == choice["text"]
        assert len(choice["logprobs"]["token_logprobs"]) == len(choice["logprobs"]["tokens"]) > 0
        assert [len(top) for top in choice["logprobs"]["top_logprobs"]] == [3] * len(choice["logprobs"]["tokens"])
    finally:
        client.close()
    assert len(rows) == 3
    for row in rows:
        assert row.error is None, row.error
        assert row.summary and "\n" not in row.summary and len(row.summary.split()) <= 35
        assert all(row.labels[f.name] in f.values for f in prompt.fields)
        # The default version asks for alternatives, so every label has a confidence.
        assert all(0 < row.confidence[f.name] <= 1 for f in prompt.fields), row.confidence
        assert row.usage.prompt_tokens > 0 and row.usage.completion_tokens > 0

    second = EmbeddedServer()
    client = embedded_client(second)
    try:
        again = list(summarise(papers, prompt, client, cache))
    finally:
        client.close()
    assert all(r.cached for r in again)
    assert not second.started, "a fully cached run must not start the model"


def test_batch_engine_reuses_the_shared_prefix_and_keeps_to_its_limits():
    from llama_cpp import LlamaGrammar

    from summariser.engine.weights import model_path
    from summariser.engine.batching import BatchEngine, ContextOverflow
    from summariser.engine.app import LazyGrammarLlama
    from summariser.prompting.render import render
    from summariser.prompting.answers import validate_answer

    prompt = load_prompt("fewshot-v1")  # no retrieved examples: every prompt has the same prefix
    papers = read_dump(str(SEED_DUMP)).papers[3:6]
    requests = [render(prompt, p, MODEL_NAME, "llama") for p in papers]
    weights = LazyGrammarLlama(model_path=str(model_path()), n_ctx=256, verbose=False)
    engine = BatchEngine(weights, slots=2, tokens_per_slot=2048, threads=2)
    penalties = {"repeat": 1.1, "frequency": 0.0, "presence": 0.0}
    grammar = LlamaGrammar.from_string(requests[0].grammar, verbose=False)
    futures = [engine.submit(r.prompt, 96, r.params["stop"], grammar, penalties) for r in requests]
    results = [f.result(timeout=120) for f in futures]
    for result in results:
        answer = validate_answer(result.text, prompt)  # the grammar held in every sequence
        assert answer.summary and result.finish_reason == "stop"
    lengths = [len(weights.tokenize(r.prompt.encode(), add_bos=True, special=True)) for r in requests]
    shared = len(weights.tokenize(requests[0].prompt.split("Title: " + papers[0].title)[0].encode(), add_bos=True, special=True))
    # The instructions and examples are evaluated once, then copied for the other two papers.
    assert engine.evaluated_prompt_tokens <= sum(lengths) - 2 * (shared - 4)

    short = engine.submit(requests[0].prompt, 3, [], None, penalties).result(timeout=60)
    assert (short.completion_tokens, short.finish_reason) == (3, "length")
    stopped = engine.submit(requests[1].prompt, 96, ["\n"], grammar, penalties).result(timeout=60)
    assert "\n" not in stopped.text and stopped.finish_reason == "stop" and stopped.text.strip()
    with pytest.raises(ContextOverflow):
        engine.submit("word " * 3000, 16, [], None, penalties)

    # With logprobs: every token of the answer, where it starts, and its log-probability among
    # the tokens the grammar allowed there.
    scored = engine.submit(requests[2].prompt, 96, requests[2].params["stop"], grammar, penalties, logprobs=5).result(timeout=60)
    validate_answer(scored.text, prompt)
    assert "".join(scored.tokens) == scored.text and len(scored.tokens) == scored.completion_tokens
    assert scored.text_offset == [sum(len(t) for t in scored.tokens[:i]) for i in range(len(scored.tokens))]
    assert all(-50 < lp <= 1e-6 for lp in scored.token_logprobs)
    # After "Topic:" only the label values are allowed and the most likely of them is chosen, so its
    # probability, taken among the allowed tokens only, is at least 1 / (number of values).
    at = next(i for i, off in enumerate(scored.text_offset) if off >= scored.text.index("Topic:") + len("Topic:"))
    assert 1 / len(prompt.field("topic").values) <= math.exp(scored.token_logprobs[at]) <= 1.0
    # And the 5 most likely allowed tokens at each place, best first: the chosen one leads (greedy),
    # and after "Topic:" every alternative starts a label value.
    for token, logprob, top in zip(scored.tokens, scored.token_logprobs, scored.top_logprobs):
        assert 1 <= len(top) <= 5 and list(top)[0] == token and top[token] == pytest.approx(logprob)
        assert list(top.values()) == sorted(top.values(), reverse=True) and math.fsum(map(math.exp, top.values())) <= 1 + 1e-6
    assert len(scored.top_logprobs[at]) == 5
    assert all(any(v.startswith(alt.strip()) for v in prompt.field("topic").values) for alt in scored.top_logprobs[at])
    plain = engine.submit(requests[2].prompt, 96, requests[2].params["stop"], grammar, penalties).result(timeout=60)
    assert plain.tokens is None


def test_paper_embeddings_bring_one_subject_together_in_other_words_and_are_stored(tmp_path):
    from summariser.engine import LlamaEngine
    from summariser.flow.embedding_store import EmbeddingStore

    lungs = "Detecting lung nodules in chest CT scans. We train a convolutional network to find nodules in chest CT."
    same = "Finding pulmonary lesions in computed tomography. A deep model locates lesions in thoracic tomography images."
    other = "A convergence proof for stochastic gradient descent. We bound the expected error of SGD under heavy-tailed noise."
    store = EmbeddingStore(tmp_path / "store", LlamaEngine())
    vectors = store.embed([lungs, same, other])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    store.close()

    class NoModel:
        def embed(self, texts, layers=0, last=False):
            raise AssertionError("a stored vector must not need the model")

    assert np.allclose(EmbeddingStore(tmp_path / "store", NoModel()).embed([other]), vectors[2:])


def test_batch_engine_evaluates_forced_text_in_one_step_and_writes_the_same_answers(monkeypatch):
    from llama_cpp import LlamaGrammar

    from summariser.engine.weights import model_path
    from summariser.engine.batching import BatchEngine, Result
    from summariser.engine.sampling import LazyGrammarSampler
    from summariser.engine.app import LazyGrammarLlama
    from summariser.prompting.render import render

    prompt = load_prompt("fewshot-v7")
    requests = [render(prompt, p, MODEL_NAME, "llama") for p in read_dump(str(SEED_DUMP)).papers[6:8]]
    weights = LazyGrammarLlama(model_path=str(model_path()), n_ctx=256, verbose=False)
    grammar = LlamaGrammar.from_string(requests[0].grammar, verbose=False)
    penalties = {"repeat": 1.1, "frequency": 0.0, "presence": 0.0}

    def answers(limits: list[int], asked: list = requests) -> tuple[list[Result], int]:
        # One sequence: batches of several can round differently, which may flip a close label.
        engine = BatchEngine(weights, slots=1, tokens_per_slot=2048, threads=2)
        steps = 0
        step = engine._step

        def counted() -> None:
            nonlocal steps
            steps += 1
            step()

        engine._step = counted  # type: ignore[method-assign]
        futures = [
            engine.submit(r.prompt, limit, r.params["stop"], grammar, penalties, logprobs=5)
            for r, limit in zip(asked, limits)
        ]
        return [f.result(timeout=120) for f in futures], steps

    forced, steps = answers([96, 96])
    # The second answer again, cut by the token limit just after its summary's line: "Topic:" no
    # longer fits, so it is generated as usual up to the limit.
    second = forced[1]
    cut = next(i for i, t in enumerate(second.tokens) if t == "Topic") + 1
    [short], _ = answers([cut], requests[1:])
    monkeypatch.setattr(LazyGrammarSampler, "forced", lambda self, spelled, eos: (b"", False))
    token_by_token, more_steps = answers([96, 96])
    [short_token_by_token], _ = answers([cut], requests[1:])

    # The same answers, but for a near tie: several tokens evaluated in one step round differently
    # in the last bits than one at a time, which can flip a label whose first tokens are within a
    # hair of each other (seen here: " language" and " ml" 0.08 nats apart).
    for a, b in zip(forced, token_by_token):
        assert a.text == b.text or close_call(a, b)
        if a.text == b.text:
            assert a.completion_tokens == b.completion_tokens
    assert sum(a.text == b.text for a, b in zip(forced, token_by_token)) >= 1
    assert all("\nContribution: " in r.text and r.finish_reason == "stop" for r in forced)
    for r in forced:  # one log-probability per token, forced ones included
        assert "".join(r.tokens) == r.text and len(r.tokens) == len(r.token_logprobs) == r.completion_tokens
    # "Topic:", the rest of a value, "\nContribution:" and the end: at least 5 steps an answer fewer.
    assert steps <= more_steps - 5 * len(requests)
    assert (short.text, short.finish_reason) == (short_token_by_token.text, "length")
    assert short.text == second.text[: len(short.text)]
    assert short.text.endswith("\nTopic")


def close_call(a, b, margin: float = 0.25) -> bool:
    """Whether two answers part where both runs saw the two tokens chosen within `margin` nats."""
    i = next(i for i, (x, y) in enumerate(zip(a.tokens, b.tokens)) if x != y)
    x, y = a.tokens[i], b.tokens[i]
    return all(x in r.top_logprobs[i] and y in r.top_logprobs[i] and abs(r.top_logprobs[i][x] - r.top_logprobs[i][y]) < margin for r in (a, b))


def test_the_embedded_server_answers_v1_embeddings_with_the_vectors_computed_in_process(tmp_path):
    from summariser.engine import LlamaEngine
    from summariser.transport.embeddings import EndpointEmbedder

    texts = ["Detecting lung nodules in chest CT scans. We train a network.", "A convergence proof for SGD. We bound the error."]
    server = EmbeddedServer()
    client = embedded_client(server)
    try:
        remote = EndpointEmbedder(client, MODEL_NAME)
        by_layer = remote.embed(texts, 13)
        with_last = remote.embed(texts, 13, last=True)
        pooled = remote.embed(texts)
    finally:
        client.close()
    engine = LlamaEngine()
    assert by_layer.shape == (2, 640) and np.array_equal(by_layer, engine.embed(texts, 13))  # float32 survives JSON exactly
    assert np.allclose(np.linalg.norm(pooled, axis=1), 1.0) and np.array_equal(pooled, engine.embed(texts))
    assert with_last.shape == (2, 1280) and np.array_equal(with_last, engine.embed(texts, 13, last=True))
    engine.close()
