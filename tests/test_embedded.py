"""The real embedded model on 3 abstracts of the seed dump (about 15 s on 2 cores)."""

import pytest

from summariser.cache import ResponseCache
from summariser.client import ModelClient
from summariser.embedded import MODEL_NAME, EmbeddedServer
from summariser.pipeline import summarise
from summariser.prompts import DEFAULT_VERSION, load_prompt
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
        rows = list(summarise(papers, prompt, client, cache))
        assert server.started
    finally:
        client.close()
    assert len(rows) == 3
    for row in rows:
        assert row.error is None, row.error
        assert row.summary and "\n" not in row.summary and len(row.summary.split()) <= 35
        assert all(row.labels[f.name] in f.values for f in prompt.fields)
        assert row.usage.prompt_tokens > 0 and row.usage.completion_tokens > 0

    second = EmbeddedServer()
    client = embedded_client(second)
    try:
        again = list(summarise(papers, prompt, client, cache))
    finally:
        client.close()
    assert all(r.cached for r in again)
    assert not second.started, "a fully cached run must not start the model"
