"""Choosing the classifier's settings by cross-validation (summariser/labels/tuning.py) and
measuring agreement on the labelled papers themselves (summariser/labels/crossval.py), on small
synthetic data whose answer is known from its construction."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from summariser.labels.crossval import curve, curve_sizes, labels_from, learning_curve, predict_held_out
from summariser.labels.tuning import (
    MIN_PER_VALUE,
    Setting,
    combined,
    decide,
    folds_of,
    kappa,
    too_few,
    tune_field,
)

VALUES = ["a", "b", "c"]


def clusters(per_value: int = 15, dims: int = 6, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Papers of each value around their own far-apart centre: the features give the label away."""
    rng = np.random.default_rng(seed)
    y = [v for v in VALUES for _ in range(per_value)]
    centres = 4.0 * np.eye(dims)[: len(VALUES)]
    x = np.vstack([centres[VALUES.index(v)] for v in y]) + rng.normal(0, 0.3, (len(y), dims))
    return x, y


def model_saying(labels: list[str], sure: float = 0.9) -> np.ndarray:
    """The model's probabilities: `sure` on the given label, the rest shared by the others."""
    out = np.full((len(labels), len(VALUES)), (1 - sure) / (len(VALUES) - 1))
    out[np.arange(len(labels)), [VALUES.index(v) for v in labels]] = sure
    return out


# tune_field


def test_a_classifier_that_separates_the_values_outweighs_a_model_that_is_noise():
    x, y = clusters()
    noise = np.random.default_rng(1).dirichlet(np.ones(len(VALUES)), size=len(y))

    tuned = tune_field(x, y, VALUES, noise)

    assert tuned.setting.weight > 0
    assert tuned.kappa is not None and tuned.kappa > 0.9
    assert tuned.reason is None
    assert tuned.counts == {"a": 15, "b": 15, "c": 15}


def test_a_classifier_that_separates_the_values_overrules_a_model_that_is_always_wrong():
    x, y = clusters()
    wrong = model_saying([VALUES[(VALUES.index(v) + 1) % 3] for v in y])  # always the next value
    assert kappa(y, [VALUES[i] for i in wrong.argmax(axis=1)]) < 0  # the model alone disagrees

    tuned = tune_field(x, y, VALUES, wrong)

    assert tuned.setting.weight > 0
    assert tuned.kappa is not None and tuned.kappa > 0.9


def test_a_model_that_is_right_is_left_alone_when_the_features_are_noise():
    _, y = clusters()
    x = np.random.default_rng(2).normal(size=(len(y), 6))
    right = model_saying(y)

    tuned = tune_field(x, y, VALUES, right)
    classifier_alone = tune_field(x, y, VALUES, None)

    # The model alone (weight 0) agrees perfectly; nothing can beat it, and ties keep the
    # first setting tried, which is the model alone.
    assert tuned.setting.weight == 0
    assert tuned.kappa == pytest.approx(1.0)
    assert classifier_alone.setting.weight == math.inf  # without the model's probabilities
    assert classifier_alone.kappa is not None and classifier_alone.kappa < tuned.kappa


def test_too_few_labels_leave_the_field_to_the_model():
    y = ["a"] * MIN_PER_VALUE + ["b"] * (MIN_PER_VALUE - 1) + ["c"] * (MIN_PER_VALUE - 1)
    x = np.random.default_rng(3).normal(size=(len(y), 4))

    reason = too_few(y, VALUES)
    tuned = tune_field(x, y, VALUES, model_saying(y))

    assert reason is not None and str(MIN_PER_VALUE) in reason
    assert tuned.setting.weight == 0
    assert tuned.kappa is None
    assert tuned.reason == reason
    assert tuned.counts == {"a": MIN_PER_VALUE, "b": MIN_PER_VALUE - 1, "c": MIN_PER_VALUE - 1}


def test_two_values_with_enough_labels_are_enough():
    assert too_few(["a"] * MIN_PER_VALUE + ["b"] * MIN_PER_VALUE, VALUES) is None
    assert too_few(["a"] * 50, VALUES) is not None  # one value, however many labels
    assert too_few([], VALUES) is not None


# folds_of


@pytest.mark.parametrize("seed", [0, 1])
def test_folds_spread_each_value_evenly(seed):
    counts = {"a": 7, "b": 12, "c": 3}
    y = [v for v, n in counts.items() for _ in range(n)]
    y = [y[i] for i in np.random.default_rng(9).permutation(len(y))]
    k = 5

    fold = folds_of(y, k, seed)

    assert fold.shape == (len(y),) and set(fold.tolist()) <= set(range(k))
    for value, n in counts.items():
        per_fold = Counter(int(f) for f, v in zip(fold, y) if v == value)
        sizes = [per_fold.get(f, 0) for f in range(k)]
        assert sum(sizes) == n
        assert set(sizes) <= {n // k, -(-n // k)}, (value, sizes)
    sizes = np.bincount(fold, minlength=k)
    assert sizes.max() - sizes.min() <= 1  # the folds themselves are even too


def test_folds_depend_on_the_seed_only():
    y = ["a"] * 10 + ["b"] * 10
    assert folds_of(y, 5, seed=4).tolist() == folds_of(y, 5, seed=4).tolist()
    assert any(folds_of(y, 5, seed=s).tolist() != folds_of(y, 5, seed=4).tolist() for s in range(5))


# combined and decide

MODEL = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
SHARE = np.array([[0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])  # the classifier disagrees on both rows


def test_weight_zero_is_the_model_and_infinity_the_classifier():
    assert combined(MODEL, SHARE, 0.0).argmax(axis=1).tolist() == [0, 2]
    np.testing.assert_allclose(combined(MODEL, SHARE, 0.0), MODEL / MODEL.sum(axis=1, keepdims=True))
    assert combined(MODEL, SHARE, math.inf).argmax(axis=1).tolist() == [2, 0]
    np.testing.assert_allclose(combined(MODEL, SHARE, math.inf), SHARE)
    np.testing.assert_allclose(combined(None, SHARE, 1.0), SHARE)  # no model: the classifier's


def test_a_finite_weight_multiplies_the_model_by_the_share_to_that_power():
    expected = MODEL * SHARE**2
    expected /= expected.sum(axis=1, keepdims=True)
    got = combined(MODEL, SHARE, 2.0)
    np.testing.assert_allclose(got, expected)
    np.testing.assert_allclose(got.sum(axis=1), 1.0)


def test_decide_with_weight_zero_gives_the_models_labels_and_confidence():
    x, y = clusters(per_value=6)
    test = np.array([[0.2, 0.2, 0.6], [0.5, 0.25, 0.25]])
    labels, confidence = decide(x, y, x[:2], VALUES, test, Setting(1.0, 0.0))
    assert labels == ["c", "a"]
    assert confidence == pytest.approx([0.6, 0.5])


def test_decide_with_the_classifier_alone_follows_the_features():
    x, y = clusters(per_value=8)
    x_test, y_test = clusters(per_value=3, seed=5)
    against = model_saying([VALUES[(VALUES.index(v) + 1) % 3] for v in y_test])
    labels, confidence = decide(x, y, x_test, VALUES, against, Setting(1.0, math.inf))
    assert labels == y_test
    assert all(1 / len(VALUES) < c <= 1 for c in confidence)


def test_kappa_is_zero_when_only_one_value_appears():
    assert kappa(["a", "a"], ["a", "a"]) == 0.0
    assert kappa(["a", "b"], ["a", "b"]) == pytest.approx(1.0)


# crossval


def test_held_out_predictions_never_see_the_papers_own_label():
    # Each paper's features are a direction of its own (one-hot of its index): a fit that saw a
    # paper's label could give it back, a fit on the other papers learns nothing about it.
    n = 40
    y = ["a" if i % 2 else "b" for i in range(n)]
    x = np.eye(n)

    labels, confidence = predict_held_out(x, y, ["a", "b"], None)
    in_sample, _ = labels_from(np.arange(n), np.arange(n), x, y, ["a", "b"], None)

    assert kappa(y, labels) < 0.3
    assert kappa(y, in_sample) == pytest.approx(1.0)  # the same features fit in sample perfectly
    assert len(labels) == n and all(c is not None for c in confidence)


def test_held_out_predictions_on_separated_clusters_agree():
    x, y = clusters()
    labels, confidence = predict_held_out(x, y, VALUES, None)
    assert kappa(y, labels) > 0.8
    assert all(c is not None and 0 < c <= 1 for c in confidence)


def test_with_too_few_labels_and_no_model_the_commonest_label_is_given_without_confidence():
    x, y = clusters(per_value=4)  # 4 of each: no value reaches MIN_PER_VALUE
    train, test = np.array([0, 1, 2, 4]), np.array([8, 9, 10])  # three a's and one b
    labels, confidence = labels_from(train, test, x, y, VALUES, None)
    assert labels == ["a", "a", "a"]
    assert confidence == [None, None, None]


def test_with_too_few_labels_the_models_own_labels_are_given():
    x, y = clusters(per_value=4)
    model = model_saying(["c"] * len(y), sure=0.8)
    labels, confidence = labels_from(np.arange(6), np.arange(6, 12), x, y, VALUES, model)
    assert labels == ["c"] * 6
    assert confidence == pytest.approx([0.8] * 6)


def test_curve_sizes_double_while_a_fifth_is_left():
    assert curve_sizes(178) == [10, 20, 40, 80]  # 160 would leave 18, under a fifth of 178
    assert curve_sizes(13) == [10]  # 3 left of 13 is more than a fifth
    assert curve_sizes(12) == []  # 2 left of 12 is less
    for total in range(1, 400, 7):
        sizes = curve_sizes(total)
        assert sizes == [10 * 2**i for i in range(len(sizes))]
        assert all(total - n >= total / 5 for n in sizes)
        assert total - 10 * 2 ** len(sizes) < total / 5  # the next size would leave too few


def test_curve_learns_from_the_first_papers_of_the_order():
    x, y = clusters()
    by_value = [list(range(i * 15, (i + 1) * 15)) for i in range(3)]
    interleaved = [i for trio in zip(*by_value) for i in trio]  # a, b, c, a, b, c, ...
    one_value_first = by_value[0] + by_value[1] + by_value[2]

    assert curve(interleaved, [15], x, y, VALUES, None)[0] > 0.9
    # Ten a's teach nothing but "a": every other paper is called a, which is kappa 0.
    assert curve(one_value_first, [10], x, y, VALUES, None) == [0.0]


def test_learning_curve_has_one_point_per_size_within_its_range():
    x, y = clusters()
    points = learning_curve(x, y, VALUES, None, [10, 20], repeats=3)
    assert [p.labelled for p in points] == [10, 20]
    for p in points:
        assert p.low <= p.kappa <= p.high
        assert -1 <= p.low and p.high <= 1
