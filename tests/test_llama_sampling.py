"""The sampler's search for the most likely tokens, against a full sort of the logits."""

import numpy as np
import pytest

pytest.importorskip("llama_cpp", reason="the embedded extra is not installed")

from summariser.llama_sampling import _top_k  # noqa: E402

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
