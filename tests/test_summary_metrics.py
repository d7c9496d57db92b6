"""Summary metrics: the faithfulness check on hand-made summaries, bootstrap intervals of the
summary metrics, and the paired tests between two versions."""

from __future__ import annotations

import pytest

from summariser.evaluation.faithfulness import MAX_EXAMPLES, faithfulness, names, numbers, source_text, unsupported
from summariser.evaluation.metrics import bootstrap_mean
from summariser.evaluation.summaries import PaperSummary, compare_summaries, paired_bootstrap, score_summaries, summary_metrics

ABSTRACT = (
    "We fine-tune GPT-4 and BERT on 1,000 questions from two datasets. Our Transformer improves "
    "accuracy by 3.5 percent, reaching a Dice score of 0.855 on ImageNet, with large language models as judges."
)


@pytest.mark.parametrize(
    "summary",
    [
        "Fine-tunes GPT-4 on 1000 questions.",  # "1,000" = "1000"
        "Proposes a parser for 2 datasets.",  # the first word is not a name; "two" in the abstract is 2
        "Improves accuracy by 3.5%.",  # "3.5 percent" in the abstract
        "Improves accuracy by 3.5 %, with BERT's help.",  # possessive
        "Shows Transformers reach a Dice of 0.86.",  # plural; 0.855 rounds to 0.86
        "Uses LLMs as judges on ImageNet.",  # acronym spelled out as "large language models"
        "Builds a Transformer-based judge.",  # hyphenated: the name part is looked for
        "Improves accuracy by 3.5 points.",  # a bare number may be a percentage in the abstract
    ],
)
def test_faithful_summaries(summary):
    assert unsupported(summary, ABSTRACT) == []


@pytest.mark.parametrize(
    ("summary", "missing"),
    [
        ("Fine-tunes BERT on 2,000 questions.", ["2,000"]),  # a number not in the abstract
        ("Fine-tunes RoBERTa on the questions.", ["RoBERTa"]),  # an acronym absent (and not spelled out)
        ("Fine-tunes GPT-3 on the questions.", ["GPT-3"]),  # GPT-4 does not make GPT-3 (3 passes: 3.5 truncated)
        ("Improves accuracy by 3.5 points, i.e. 4.5%.", ["4.5%"]),
        ("Fine-tunes a model; Bert improves.", ["Bert"]),  # names are case-sensitive: "BERT" is not "Bert"
        ("Reaches a Dice score of 0.87.", ["0.87"]),  # 0.855 rounds to 0.86, not 0.87
        ("Reaches a Dice score of 0.855 on ImageNet and COCO.", ["COCO"]),
        ("Fine-tunes models, as Google shows.", ["Google"]),  # capitalised, not at the start of a sentence
    ],
)
def test_unfaithful_summaries_name_what_is_missing(summary, missing):
    assert unsupported(summary, ABSTRACT) == missing


def test_a_percentage_in_the_summary_must_be_a_percentage_in_the_abstract():
    assert unsupported("Reaches 0.855%.", ABSTRACT) == ["0.855%"]
    for written in ("12.5%", "12.5 %", "12.5 percent", "12.5 per cent", "12.5\\%"):
        assert unsupported("Cuts errors by 12.5%.", f"Errors fall by {written}.") == [], written


def test_the_first_word_and_sentence_starts_are_not_names_but_acronyms_anywhere_are():
    assert names("Proposes a method. Results improve on MNIST: Gains hold for Adam.") == ["MNIST", "Adam"]
    assert names("BERT improves; we also test mBERT and the ImageNet-1k set.") == ["BERT", "mBERT", "ImageNet-1k"]
    assert names("7B models in 3D scenes") == []  # a number with a unit is a number, not a name
    # "Proposes" is not a name at the start, so a summary whose first word is absent is faithful
    assert unsupported("Proposes a method.", "A method.") == []
    assert unsupported("A method that Proposes.", "A method.") == ["Proposes"]


def test_numbers_are_normalised():
    assert [(v, p) for _, v, p in numbers("1,000 items, 0.90 recall, 3.0x faster, 7% and 8 percent, F1 v2")] == [
        ("1000", False), ("0.9", False), ("3", False), ("7", True), ("8", True)
    ]


def test_title_and_first_sentence_are_faithful_by_construction():
    title = "SIGHT: A Large Annotated Dataset on Student Insights"
    abstract = "We release SIGHT, 288 transcripts and 15,784 comments from MIT OCW. It helps teachers."
    source = source_text(title, abstract)
    assert unsupported(title, source) == []
    assert unsupported("We release SIGHT, 288 transcripts and 15,784 comments from MIT OCW.", source) == []


def test_faithfulness_share_is_over_the_summaries_present_and_keeps_the_first_examples():
    ids = [f"p{i}" for i in range(30)]
    summaries = [None] + [f"Scores {i}." for i in range(1, 30)]
    missing = [None] + [[] if i % 3 else [str(i)] for i in range(1, 30)]  # 3, 6, ..., 27 unfaithful: 9 of 29
    f = faithfulness(ids, summaries, missing)
    assert (f.n, f.n_unfaithful) == (29, 9)
    assert f.share == pytest.approx(20 / 29)
    assert f.share_ci[0] <= f.share <= f.share_ci[1]
    assert [(e.id, e.unsupported) for e in f.examples] == [(f"p{i}", [str(i)]) for i in range(3, 30, 3)]
    many = faithfulness(ids, ["S."] * 30, [["x"]] * 30)
    assert (many.share, many.n_unfaithful, len(many.examples)) == (0.0, 30, MAX_EXAMPLES)
    none = faithfulness(ids[:2], [None, None], [None, None])
    assert (none.n, none.share, none.share_ci) == (0, None, None)


def test_bootstrap_interval_holds_the_mean_is_seeded_and_narrows_with_more_papers():
    pattern = [0.1, 0.5, 0.3, 0.9, 0.0, 0.4, 0.7, 0.2]
    mean, (low, high) = bootstrap_mean(pattern * 3)
    assert mean == pytest.approx(sum(pattern) / len(pattern))
    assert low < mean < high
    assert bootstrap_mean(pattern * 3, seed=4) == bootstrap_mean(pattern * 3, seed=4)
    _, (low_more, high_more) = bootstrap_mean(pattern * 30)
    assert low < low_more < mean < high_more < high
    assert (high_more - low_more) < (high - low) / 2  # ten times the papers: about a third of the width
    assert bootstrap_mean([0.4] * 5) == (pytest.approx(0.4), (pytest.approx(0.4), pytest.approx(0.4)))
    assert bootstrap_mean([]) is None


def test_summary_metrics_give_rouge_intervals_and_faithfulness_without_references():
    preds = ["the cat sat", "a dog ran", "the cat ran far", "birds fly south", None]
    refs = [["the cat sat"], ["the dog ran"], ["a cat ran"], ["birds fly"], ["x"]]
    sources = ["the cat sat", "the dog ran", "a cat ran far", "Birds fly south in 2024", "x"]
    m = summary_metrics(preds, refs, sources, ids=list("abcde"))
    for key in ("rouge1", "rouge2", "rougeL"):
        low, high = getattr(m, f"{key}_ci")
        assert low <= getattr(m, key) <= high
    assert (m.faithfulness.n, m.faithfulness.share) == (4, 1.0)
    bare = summary_metrics(preds, [[] for _ in preds], sources)
    assert (bare.rouge1, bare.rouge1_ci, bare.n_references) == (None, None, 0)
    assert bare.faithfulness.share == 1.0  # needs no references
    assert summary_metrics(preds, refs).faithfulness is None  # without the papers' text, not measured


def test_per_paper_scores_line_up_with_the_papers():
    preds = ["the cat sat", None, "dogs bark at 3 cats"]
    refs = [["the cat sat"], ["a dog ran"], []]
    scores = score_summaries(preds, refs, ["the cat sat", "a dog ran", "dogs bark at cats"])
    assert [(s.rouge1, s.faithful, s.unsupported) for s in scores] == [
        (pytest.approx(1.0), True, []),  # identical to its reference
        (0.0, None, []),  # no summary: ROUGE 0, faithfulness not asked
        (None, False, ["3"]),  # no reference: no ROUGE
    ]


def test_paired_bootstrap_small_p_when_one_version_is_better_on_every_paper():
    a = [0.1 * (i % 7) for i in range(40)]
    b = [x + 0.05 + 0.01 * (i % 3) for i, x in enumerate(a)]
    test = paired_bootstrap(a, b)
    assert test.n == 40
    assert test.difference == pytest.approx(sum(y - x for x, y in zip(a, b)) / 40)
    assert 0 < test.difference_ci[0] <= test.difference <= test.difference_ci[1]
    assert test.p_value < 0.01
    assert paired_bootstrap(b, a).difference == pytest.approx(-test.difference)


def test_paired_bootstrap_large_p_when_versions_are_equal_or_differ_by_noise():
    a = [0.1 * (i % 7) for i in range(40)]
    same = paired_bootstrap(a, a)
    assert (same.difference, same.difference_ci, same.p_value) == (0.0, (0.0, 0.0), 1.0)
    noise = paired_bootstrap(a, [x + (0.05 if i % 2 else -0.05) for i, x in enumerate(a)])  # mean difference 0
    assert noise.p_value > 0.5 and noise.difference_ci[0] < 0 < noise.difference_ci[1]
    assert paired_bootstrap([], []) is None


def test_compare_summaries_pairs_papers_by_id_and_tests_faithfulness_with_mcnemar():
    ids = [f"p{i}" for i in range(12)]
    a = {i: PaperSummary(rouge1=0.2, rouge2=0.1, faithful=True) for i in ids}
    # b better everywhere, unfaithful on 7 papers and faithful where a is not on none; given in reverse order
    b = {i: PaperSummary(rouge1=0.3 + 0.01 * k, rouge2=0.1, faithful=k >= 7) for k, i in reversed(list(enumerate(ids)))}
    b["p11"] = PaperSummary(rouge1=None, rouge2=None, faithful=None)  # no reference and no summary here
    c = compare_summaries(ids, a, b)
    assert c.rouge1.n == 11 and c.rouge1.difference == pytest.approx(sum(0.1 + 0.01 * k for k in range(11)) / 11)
    assert c.rouge1.p_value < 0.01
    assert (c.rouge2.difference, c.rouge2.p_value) == (pytest.approx(0.0), 1.0)
    assert (c.n_faithfulness, c.faithful_a, c.faithful_b) == (11, 1.0, pytest.approx(4 / 11))
    # 7 papers only a faithful, none only b: exact two-sided p = 2 * 0.5**7
    assert (c.faithfulness.only_a_correct, c.faithfulness.only_b_correct) == (7, 0)
    assert c.faithfulness.p_value == pytest.approx(2 * 0.5**7)
