"""Metrics checked against values worked out by hand on tiny examples (arithmetic in the comments)."""

from __future__ import annotations

import pytest

from summariser.evaluation.metrics import (
    MISSING,
    cohen_kappa,
    field_metrics,
    human_agreement,
    kappa_ci,
    mcnemar,
)
from summariser.evaluation.summaries import summary_metrics

# Two raters, 10 items: they agree on 8 (3 Y + 5 N) and disagree on items 3 and 9.
A2 = list("YYYYNNNNNN")
B2 = list("YYYNNNNNNY")


def test_cohen_kappa_two_classes():
    # p_o = 8/10; marginals A: Y 4/10, N 6/10; B: Y 4/10, N 6/10
    # p_e = 0.4*0.4 + 0.6*0.6 = 0.52; kappa = (0.8 - 0.52) / 0.48 = 0.28/0.48 = 7/12
    assert cohen_kappa(A2, B2) == pytest.approx(7 / 12)


def test_cohen_kappa_three_classes():
    a = list("xxyyzz")
    b = list("xyyyzx")
    # agree on items 0, 2, 3, 4 -> p_o = 4/6 = 2/3
    # marginals a: x 2, y 2, z 2; b: x 2, y 3, z 1 -> p_e = (2*2 + 2*3 + 2*1)/36 = 1/3
    # kappa = (2/3 - 1/3) / (1 - 1/3) = 1/2
    assert cohen_kappa(a, b) == pytest.approx(1 / 2)


def test_cohen_kappa_perfect_agreement_is_one():
    assert cohen_kappa(list("xyzx"), list("xyzx")) == 1.0
    assert cohen_kappa(["x", "x"], ["x", "x"]) == 1.0  # single class: sklearn alone would give nan


def test_field_metrics_hand_worked_example():
    gold = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", None, None]
    m = field_metrics(gold, pred, values=["a", "b", "c", "d"])
    assert m.n == 6
    assert m.coverage == pytest.approx(4 / 6)  # two None predictions
    assert m.accuracy == pytest.approx(3 / 6)  # right on items 0, 1, 3; None is never right
    # a: TP 2, predicted 2, gold 3 -> P 1, R 2/3, F1 = 2*(2/3)/(5/3) = 4/5
    # b: TP 1, predicted 2, gold 2 -> P 1/2, R 1/2, F1 1/2
    # c: TP 0, never predicted      -> P 0, R 0, F1 0; "d" occurs nowhere, so it is left out
    scores = {v.value: (v.precision, v.recall, v.f1, v.support) for v in m.per_value}
    assert list(scores) == ["a", "b", "c"]
    assert scores["a"] == pytest.approx((1.0, 2 / 3, 4 / 5, 3))
    assert scores["b"] == pytest.approx((1 / 2, 1 / 2, 1 / 2, 2))
    assert scores["c"] == pytest.approx((0.0, 0.0, 0.0, 1))
    assert m.macro_f1 == pytest.approx((4 / 5 + 1 / 2 + 0) / 3)  # = 13/30
    # kappa with None as the MISSING class: p_o = 1/2
    # gold a 3, b 2, c 1; pred a 2, b 2, MISSING 2 -> p_e = (3*2 + 2*2)/36 = 5/18
    # kappa = (1/2 - 5/18) / (13/18) = 4/13
    assert m.kappa == pytest.approx(4 / 13)
    assert m.kappa_ci[0] <= m.kappa_ci[1]
    # rows gold, columns model, in the order of `values`, MISSING last
    assert m.labels == ["a", "b", "c", "d", MISSING]
    assert m.confusion == [
        [2, 1, 0, 0, 0],  # gold a
        [0, 1, 0, 0, 1],  # gold b
        [0, 0, 0, 0, 1],  # gold c
        [0, 0, 0, 0, 0],  # gold d
        [0, 0, 0, 0, 0],  # gold MISSING (never)
    ]


def test_field_metrics_label_order_follows_values_and_no_missing_without_none():
    m = field_metrics(["x", "y", "z"], ["y", "y", "z"], values=["z", "y", "x"])
    assert m.coverage == 1.0
    assert m.labels == ["z", "y", "x"]
    assert m.confusion == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]  # gold x was called y
    assert [v.value for v in m.per_value] == ["z", "y", "x"]


# 40 items: the 10-item two-class example repeated four times (kappa stays 7/12).
GOLD40, PRED40 = A2 * 4, B2 * 4


def test_kappa_ci_contains_point_estimate():
    low, high = kappa_ci(GOLD40, PRED40, seed=0)
    assert low <= cohen_kappa(GOLD40, PRED40) <= high
    assert low < high


def test_kappa_ci_is_deterministic_for_a_seed():
    assert kappa_ci(GOLD40, PRED40, seed=3) == kappa_ci(GOLD40, PRED40, seed=3)


def test_kappa_ci_perfect_agreement_collapses_to_one():
    assert kappa_ci(GOLD40, GOLD40) == (1.0, 1.0)


def test_human_agreement_none_for_one_annotator():
    assert human_agreement({"ann": {"p1": "x", "p2": "y"}}) is None


def test_human_agreement_two_annotators_is_cohen_kappa_on_common_papers():
    first = {f"p{i}": v for i, v in enumerate(A2)}
    second = {f"p{i}": v for i, v in enumerate(B2)}
    first["extra"] = "Y"  # labelled by one annotator only: ignored
    second["other"] = "N"
    agreement = human_agreement({"ann1": first, "ann2": second})
    assert agreement.measure == "cohen_kappa"
    assert agreement.annotators == ["ann1", "ann2"]
    assert agreement.n == 10
    assert agreement.value == pytest.approx(7 / 12)  # same arithmetic as test_cohen_kappa_two_classes


def test_human_agreement_three_annotators_is_krippendorff_alpha():
    # units (ann1, ann2, ann3): u1 a a a | u2 a a b | u3 b b b | u4 a b b
    # coincidences, each ordered pair of values within a unit weighted 1/(m_u - 1) = 1/2:
    #   u1: o_aa += 6/2 = 3;  u2: o_aa += 1, o_ab += 1, o_ba += 1
    #   u3: o_bb += 3;        u4: o_bb += 1, o_ab += 1, o_ba += 1
    # o_aa 4, o_ab 2, o_ba 2, o_bb 4 -> n_a = 6, n_b = 6, n = 12
    # D_o = (o_ab + o_ba)/n = 4/12 = 1/3;  D_e = 2*n_a*n_b/(n(n-1)) = 72/132 = 6/11
    # alpha = 1 - (1/3)/(6/11) = 1 - 11/18 = 7/18
    labels = {
        "ann1": {"u1": "a", "u2": "a", "u3": "b", "u4": "a", "u5": "a"},
        "ann2": {"u1": "a", "u2": "a", "u3": "b", "u4": "b", "u5": "c"},
        "ann3": {"u1": "a", "u2": "b", "u3": "b", "u4": "b"},  # no u5: u5 is not used
    }
    agreement = human_agreement(labels)
    assert agreement.measure == "krippendorff_alpha"
    assert agreement.n == 4
    assert agreement.value == pytest.approx(7 / 18)


def test_mcnemar_exact_p_value():
    # pairs (a, b): 3x both right, 2x both wrong, 1x only a, 5x only b
    a = [True] * 3 + [False] * 2 + [True] + [False] * 5
    b = [True] * 3 + [False] * 2 + [False] + [True] * 5
    result = mcnemar(a, b)
    assert (result.only_a_correct, result.only_b_correct) == (1, 5)
    # n = 6 discordant: p = 2 * P(X <= 1 | 6, 1/2) = 2 * (1 + 6)/64 = 0.21875
    assert result.p_value == pytest.approx(0.21875)


def test_mcnemar_no_discordant_pairs_gives_p_one():
    result = mcnemar([True, False, True], [True, False, True])
    assert (result.only_a_correct, result.only_b_correct, result.p_value) == (0, 0, 1.0)


def test_summary_identical_text_scores_one():
    m = summary_metrics(["the cat sat on the mat"], [["the cat sat on the mat"]])
    assert (m.rouge1, m.rouge2, m.rougeL) == pytest.approx((1.0, 1.0, 1.0))


def test_summary_rouge_hand_computed():
    m = summary_metrics(["the cat sat"], [["the cat ran"]])
    # unigrams: 2 of 3 shared -> P = R = 2/3 -> F = 2/3
    # bigrams {the cat, cat sat} vs {the cat, cat ran}: 1 of 2 -> F = 1/2
    # LCS "the cat" = 2 tokens -> P = R = 2/3 -> F = 2/3
    assert m.rouge1 == pytest.approx(2 / 3)
    assert m.rouge2 == pytest.approx(1 / 2)
    assert m.rougeL == pytest.approx(2 / 3)


def test_summary_best_reference_is_used():
    # vs "the dog ran": 1/3 shared -> F 1/3; vs "the cat ran": F 2/3; best (not first, not mean) is 2/3
    m = summary_metrics(["the cat sat"], [["the dog ran", "the cat ran"]])
    assert m.rouge1 == pytest.approx(2 / 3)


def test_summary_missing_prediction_scores_zero_and_counts():
    m = summary_metrics(["the cat sat", None], [["the cat sat"], ["a dog ran"]])
    assert m.n == 2
    assert m.rouge1 == pytest.approx((1.0 + 0.0) / 2)


def test_summary_word_counts_and_one_line_share():
    preds = ["x", "one two three", "a b\nc d", None, "p q r s t u v"]
    m = summary_metrics(preds, [[p or "ref"] for p in preds])
    # word counts of present summaries: 1, 3, 4, 7
    assert m.words_mean == pytest.approx(15 / 4)
    assert m.words_median == pytest.approx((3 + 4) / 2)
    assert (m.words_min, m.words_max) == (1, 7)
    # one-line summaries: "x", "one two three", "p q r s t u v" -> 3 of n = 5
    assert m.one_line_share == pytest.approx(3 / 5)
