"""The sampler's search for the most likely tokens, against a full sort of the logits."""

import numpy as np
import pytest

pytest.importorskip("llama_cpp", reason="the embedded extra is not installed")

from summariser.engine.sampling import _top_k  # noqa: E402

VOCAB = 262_144  # the embedded model's


def full_sort(logits: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-logits, kind="stable")[:k]


@pytest.mark.parametrize("k", [5, 256])
@pytest.mark.parametrize(
    "shape",
    [
        "flat",  # every logit near every other: the threshold must let enough through
        "peaked",  # one token far ahead of the rest, as after "Topic:"
        "heavy-tail",  # a few hundred tokens well ahead, the rest far behind
        "spread",  # logits spread wider than any fixed margin
        "sampled-high",  # the best tokens are exactly the ones the threshold is taken from
    ],
)
def test_top_k_finds_the_same_tokens_in_the_same_order_as_a_full_sort(shape, k):
    rng = np.random.default_rng(7)
    logits = rng.standard_normal(VOCAB).astype(np.float32)
    if shape == "peaked":
        logits[123_456] = 40.0
    elif shape == "heavy-tail":
        logits[rng.choice(VOCAB, 300, replace=False)] += 25.0
    elif shape == "spread":
        logits *= 60.0
    elif shape == "sampled-high":
        logits[::64] += 30.0
    got = _top_k(logits, k)
    assert got.tolist() == full_sort(logits, k).tolist()


def test_top_k_of_few_or_tied_logits():
    # Fewer logits than asked for: all of them, best first.
    assert _top_k(np.array([0.5, 2.0, -1.0], np.float32), 256).tolist() == [1, 0, 2]
    # Ties are returned in index order among the chosen, and only the k asked for.
    tied = np.zeros(VOCAB, np.float32)
    tied[[10, 5, 900]] = 3.0
    assert _top_k(tied, 3).tolist() == [5, 10, 900]
    chosen = _top_k(tied, 8)
    assert len(chosen) == 8 and chosen[:3].tolist() == [5, 10, 900] and np.all(tied[chosen[3:]] == 0.0)


@pytest.fixture(scope="module")
def vocab_model():
    import llama_cpp

    from summariser.engine.server import model_path

    return llama_cpp.Llama(model_path=str(model_path()), n_ctx=64, verbose=False, vocab_only=True)


@pytest.mark.embedded
def test_forced_text_is_what_the_grammar_leaves_no_choice_about(vocab_model):
    from llama_cpp import LlamaGrammar
    from llama_cpp import llama_cpp as C

    from summariser.engine.sampling import LazyGrammarSampler, byte_tokens
    from summariser.prompting.store import load_prompt
    from summariser.prompting.grammar import gbnf_grammar

    vocab, n_vocab = vocab_model._model.vocab, vocab_model.n_vocab()
    spelled = byte_tokens(vocab, n_vocab)
    assert all(vocab_model.detokenize([int(t)]) == bytes([b]) for b, t in enumerate(spelled))
    grammar = LlamaGrammar.from_string(gbnf_grammar(load_prompt("fewshot-v7")), verbose=False)
    sampler = LazyGrammarSampler(vocab, n_vocab, grammar, {"repeat": 1.0, "frequency": 0.0, "presence": 0.0})
    eos = C.llama_vocab_eos(vocab)
    seen = []
    answer = b" Proposes X for reinforcement learning.\nTopic: reinforcement-learning\nContribution: method"
    for token in vocab_model.tokenize(answer, add_bos=False):
        sampler.accept([token])
        seen.append((vocab_model.detokenize([token]).decode(), *sampler.forced(spelled, eos)))
    summary = (" Pro", "poses", " X", " for", " reinforcement", " learning", ".")
    assert seen[:7] == [(t, b"", False) for t in summary]
    assert seen[7:] == [
        ("\n", b"Topic: ", False),  # a summary line ends where the model chooses; then the key
        ("Topic", b": ", False),
        (":", b" ", False),
        (" reinforcement", b"-learning\nContribution: ", False),  # no other value starts so
        ("-", b"learning\nContribution: ", False),
        ("learning", b"\nContribution: ", False),
        ("\n", b"Contribution: ", False),
        ("Contribution", b": ", False),
        (":", b" ", False),
        (" method", b"", True),  # nothing but the end is left
    ]
    # Looking ahead does not move the grammar: the summary could still have gone on.
    fresh = LazyGrammarSampler(vocab, n_vocab, grammar, {"repeat": 1.0, "frequency": 0.0, "presence": 0.0})
    fresh.accept(vocab_model.tokenize(b" Proposes X.\n", add_bos=False))
    assert fresh.forced(spelled, eos) == fresh.forced(spelled, eos) == (b"Topic: ", False)
    plain = LazyGrammarSampler(vocab, n_vocab, None, {"repeat": 1.0, "frequency": 0.0, "presence": 0.0})
    assert plain.forced(spelled, eos) == (b"", False)
