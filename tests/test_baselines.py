"""Model-free baselines of the eval, checked on hand-worked cases."""

import pytest

from summariser.evaluation.baselines import first_sentence, majority_baseline, summary_baselines
from summariser.records import Paper


@pytest.mark.parametrize(
    "abstract, first",
    [
        ("We propose X. It works well.", "We propose X."),
        ("Models fail, e.g. on long inputs. We fix this.", "Models fail, e.g. on long inputs."),
        ("As Fig. 3 shows, results hold! Next sentence.", "As Fig. 3 shows, results hold!"),
        ("Does it scale? \"Yes\", we find.", "Does it scale?"),
        ("One sentence without an end", "One sentence without an end"),
        ("Encoders, e.g. BERT, are used. We test.", "Encoders, e.g. BERT, are used."),
        ("As Smith et al. Show, it holds. Next.", "As Smith et al. Show, it holds."),
        ("The U.S. Army uses it. Next.", "The U.S. Army uses it."),
    ],
)
def test_first_sentence(abstract, first):
    assert first_sentence(abstract) == first


def test_majority_baseline_answers_the_commonest_gold_value():
    base = majority_baseline(["a", "a", "b", "c"], ["a", "b", "c"])
    assert base.label == "a"
    assert base.metrics.accuracy == 0.5
    assert base.metrics.kappa == 0.0  # a constant answer agrees no better than chance


def test_majority_baseline_tie_goes_to_the_earlier_value():
    assert majority_baseline(["b", "c", "c", "b"], ["a", "c", "b"]).label == "c"


def test_summary_baselines_score_title_and_first_sentence():
    paper = Paper(id="p", title="Sparse attention for long documents", abstract="We make attention sparse. It is fast.")
    scores = summary_baselines([paper], [["sparse attention makes long documents fast"]])
    # title: 4 of its 5 words in the 6-word reference (with stemming) -> P 4/5, R 4/6
    assert scores["title"].rouge1 == pytest.approx(2 * (4 / 5) * (4 / 6) / (4 / 5 + 4 / 6))
    # first sentence "We make attention sparse.": make(s), attention, sparse match -> P 3/4, R 3/6
    assert scores["first sentence"].rouge1 == pytest.approx(2 * (3 / 4) * (3 / 6) / (3 / 4 + 3 / 6))
