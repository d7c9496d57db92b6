"""Agreement measured on the labelled papers themselves, for a version with no other gold set:
k-fold cross-validation (settings chosen inside each training part, so no paper's own label
chooses how it is labelled), and learning curves (agreement on the papers left over after
labelling the first n, in a given order or in random orders).

Each measure takes the raw embeddings and standardises them over its training papers alone, as
a run standardises over its pool: a version with 60 labelled papers knows nothing of the rest.
(Standardising over every paper instead raised the seed topic's kappa after 60 proposed labels
from 0.64 to 0.67.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .tuning import FOLDS, decide, folds_of, kappa, standardised, too_few, tune_field


@dataclass
class CurvePoint:
    """Agreement after n labels: the mean kappa over the orders tried, and its lowest and highest."""

    labelled: int
    kappa: float
    low: float
    high: float


def labels_from(
    train: np.ndarray, test: np.ndarray, raw: np.ndarray, y: Sequence[str], values: Sequence[str], model: np.ndarray | None,
    spread: bool = True,
) -> tuple[list[str], list[float | None]]:
    """The test papers' labels (and confidences) learnt from the training papers' labels alone:
    settings tuned and the classifier fitted on them; with too few, the model's own (or, without
    the model's probabilities, the commonest label, with no confidence). raw: the embeddings,
    standardised here over the training papers (spread: per dimension too, as for layer
    embeddings)."""
    x = standardised(raw, np.asarray(train), spread)
    y = np.asarray(y)
    y_train = y[train].tolist()
    if too_few(y_train, values) is not None and model is None:
        return [max(set(y_train), key=y_train.count) if y_train else values[0]] * len(test), [None] * len(test)
    tuned = tune_field(x[train], y_train, values, None if model is None else model[train])
    labels, confidence = decide(x[train], y_train, x[test], values, None if model is None else model[test], tuned.setting)
    return labels, list(confidence)


def predict_held_out(
    raw: np.ndarray, y: Sequence[str], values: Sequence[str], model: np.ndarray | None, seed: int = 0, spread: bool = True
) -> tuple[list[str], list[float | None]]:
    """Each paper's label and confidence with its fold left out of the tuning and the fit."""
    labels: list[str] = [""] * len(y)
    confidence: list[float | None] = [None] * len(y)
    fold = folds_of(y, FOLDS, seed)
    for k in np.unique(fold):
        test, train = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
        for i, label, c in zip(test, *labels_from(train, test, raw, y, values, model, spread)):
            labels[i], confidence[i] = label, c
    return labels, confidence


def curve(
    order: Sequence[int], sizes: Sequence[int], raw: np.ndarray, y: Sequence[str], values: Sequence[str], model: np.ndarray | None,
    spread: bool = True,
) -> list[float]:
    """Kappa on the papers outside order[:n], for each n in sizes, learning from order[:n]."""
    y = np.asarray(y)
    order = np.asarray(order)
    out = []
    for n in sizes:
        train = order[:n]
        test = np.setdiff1d(np.arange(len(y)), train)
        out.append(kappa(y[test].tolist(), labels_from(train, test, raw, y, values, model, spread)[0]))
    return out


def learning_curve(
    raw: np.ndarray, y: Sequence[str], values: Sequence[str], model: np.ndarray | None, sizes: Sequence[int], repeats: int = 5,
    seed: int = 0, spread: bool = True,
) -> list[CurvePoint]:
    """Agreement after n labels in random order, over `repeats` orders."""
    rng = np.random.default_rng(seed)
    runs = np.array([curve(rng.permutation(len(y)), sizes, raw, y, values, model, spread) for _ in range(repeats)])
    return [CurvePoint(n, float(col.mean()), float(col.min()), float(col.max())) for n, col in zip(sizes, runs.T)]


def curve_sizes(total: int, start: int = 10) -> list[int]:
    """10, 20, 40, ... while at least a fifth of the papers is left to measure on."""
    sizes, n = [], start
    while n <= total * 0.8:
        sizes.append(n)
        n *= 2
    return sizes
