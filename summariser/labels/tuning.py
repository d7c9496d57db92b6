"""Choosing, by cross-validation on the labelled papers, how labels are decided for a version
whose `vote_weight = "auto"`: the classifier's regularisation and the weight of its votes against
the model's own probabilities.

Hand-set values suit one taxonomy and hurt another (weight 3 suited the seed's; on a six-area
conference taxonomy the classifier alone did better). Here each (C, weight) pair is scored by
Cohen's kappa of the labels it gives each labelled paper when that paper's fold is left out of
the fit, and the best pair is kept. Weight 0 is the model alone, infinity the classifier alone.
A field with too few labels (under MIN_PER_VALUE for at least two values) is left to the model.

Everything here works on arrays: x (the labelled papers' embeddings, standardised), y (their
values), model (the model's probability of each value per paper, None where the endpoint gave
none), so the eval can nest it (choose on some folds, report on another).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .classifier import SMOOTHING  # the run's classifier smooths its probabilities the same way

# Grids searched; few points, since with 30-60 labels a finer grid mostly fits noise.
C_GRID = (0.3, 1.0, 3.0, 10.0)
WEIGHT_GRID = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, math.inf)
FOLDS = 5
# A value needs this many labels for the classifier to learn it; a field needs two such values.
MIN_PER_VALUE = 5


@dataclass(frozen=True)
class Setting:
    """The classifier's inverse regularisation, and the exponent of its share of the vote."""

    c: float
    weight: float


@dataclass
class FieldTuning:
    """What was chosen for one field, and why."""

    setting: Setting
    kappa: float | None  # cross-validated, of the chosen setting (None: not tuned)
    counts: dict[str, int]  # labels per value
    reason: str | None = None  # why the model alone decides, when it does


def standardised(raw: np.ndarray, rows: np.ndarray | None = None, spread: bool = True) -> np.ndarray:
    """Every row centred on the mean of `rows` (all rows by default; with spread, each dimension
    also divided by its spread over them) and made unit length: how prompting.retrieval.ExampleIndex
    standardises embeddings over a pool, for a pool made of `rows` alone."""
    raw = np.asarray(raw, dtype=np.float64)
    basis = raw if rows is None else raw[rows]
    mean = basis.mean(axis=0)
    scale = np.maximum(basis.std(axis=0), 1e-6) if spread else 1.0
    x = (raw - mean) / scale
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def too_few(y: Sequence[str], values: Sequence[str]) -> str | None:
    """Why a field's labels cannot train the classifier yet (None when they can)."""
    counts = {v: list(y).count(v) for v in values}
    learnable = [v for v, n in counts.items() if n >= MIN_PER_VALUE]
    if len(learnable) >= 2:
        return None
    return f"{len(y)} labels, and fewer than two values with at least {MIN_PER_VALUE} of them"


def folds_of(y: Sequence[str], k: int = FOLDS, seed: int = 0) -> np.ndarray:
    """A fold number per paper, each value spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=int)
    y = np.asarray(y)
    start = 0
    for value in sorted(set(y.tolist())):
        rows = rng.permutation(np.flatnonzero(y == value))
        fold[rows] = (np.arange(len(rows)) + start) % k
        start += len(rows)
    return fold


def classifier_probabilities(
    x_train: np.ndarray, y_train: Sequence[str], x_test: np.ndarray, values: Sequence[str], c: float
) -> np.ndarray:
    """Smoothed probability of each value (columns in values' order) for the test rows."""
    from sklearn.linear_model import LogisticRegression

    out = np.zeros((len(x_test), len(values)))
    classes = sorted(set(y_train))
    if len(classes) == 1:
        out[:, list(values).index(classes[0])] = 1.0
    else:
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000).fit(x_train, list(y_train))
        proba = model.predict_proba(x_test)
        for j, value in enumerate(model.classes_):
            out[:, list(values).index(value)] = proba[:, j]
    return (out + SMOOTHING) / (1 + SMOOTHING * len(values))


def combined(model: np.ndarray | None, share: np.ndarray, weight: float) -> np.ndarray:
    """Each row's distribution: the model's times the share to the weight (as labels/votes.py)."""
    if model is None or math.isinf(weight):
        return share / share.sum(axis=1, keepdims=True)
    scores = np.log(np.clip(model, 1e-12, None)) + weight * np.log(share)
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    return scores / scores.sum(axis=1, keepdims=True)


def kappa(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Cohen's kappa; 0 when it is undefined (one value only)."""
    from sklearn.metrics import cohen_kappa_score

    if len(set(y_true) | set(y_pred)) < 2:
        return 0.0
    return float(cohen_kappa_score(y_true, y_pred))


def out_of_fold(x: np.ndarray, y: Sequence[str], values: Sequence[str], c: float, fold: np.ndarray) -> np.ndarray:
    """Each paper's classifier probabilities from a fit on the other folds."""
    y = np.asarray(y)
    out = np.zeros((len(y), len(values)))
    for k in np.unique(fold):
        test = fold == k
        out[test] = classifier_probabilities(x[~test], y[~test].tolist(), x[test], values, c)
    return out


def tune_field(x: np.ndarray, y: Sequence[str], values: Sequence[str], model: np.ndarray | None, seed: int = 0) -> FieldTuning:
    """The (C, weight) with the best cross-validated kappa on these labelled papers."""
    counts = {v: list(y).count(v) for v in values}
    reason = too_few(y, values)
    if reason is not None:
        return FieldTuning(Setting(C_GRID[0], 0.0), None, counts, reason)
    fold = folds_of(y, FOLDS, seed)
    names = np.asarray(values)
    weights = WEIGHT_GRID if model is not None else (math.inf,)
    best: tuple[float, Setting] | None = None
    for c in C_GRID:
        share = out_of_fold(x, y, values, c, fold)
        for w in weights:
            score = kappa(y, names[combined(model, share, w).argmax(axis=1)].tolist())
            if best is None or score > best[0] + 1e-9:
                best = (score, Setting(c, w))
    assert best is not None
    return FieldTuning(best[1], best[0], counts)


def decide(
    x_train: np.ndarray, y_train: Sequence[str], x_test: np.ndarray, values: Sequence[str], model_test: np.ndarray | None, setting: Setting
) -> tuple[list[str], list[float]]:
    """The test papers' labels under a setting, the classifier fitted on the training papers,
    and the probability of each label (its confidence)."""
    if setting.weight == 0 and model_test is not None:
        final = model_test / model_test.sum(axis=1, keepdims=True)
    else:
        final = combined(model_test, classifier_probabilities(x_train, y_train, x_test, values, setting.c), setting.weight)
    best = final.argmax(axis=1)
    return np.asarray(values)[best].tolist(), final[np.arange(len(best)), best].tolist()
