"""Agreement and quality metrics, computed with well-kept libraries (scikit-learn, scipy, krippendorff).

Summary metrics (ROUGE, faithfulness, their intervals and paired tests) are in summaries.py and
faithfulness.py.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
from pydantic import BaseModel

MISSING = "(none)"  # a paper whose row has no valid label: counted, and never correct


class ValueScores(BaseModel):
    """Precision, recall and F1 of one label value."""

    value: str
    precision: float
    recall: float
    f1: float
    support: int


class FieldMetrics(BaseModel):
    """How well one label field agrees with the gold labels."""

    n: int
    coverage: float  # share of papers with a valid label
    accuracy: float
    kappa: float
    kappa_ci: tuple[float, float]  # 95% percentile bootstrap
    macro_f1: float
    per_value: list[ValueScores]
    labels: list[str]  # rows and columns of the confusion matrix
    confusion: list[list[int]]  # rows: gold, columns: model


class Agreement(BaseModel):
    """Agreement between human annotators on one field: the ceiling for the model."""

    annotators: list[str]
    measure: str  # "cohen_kappa" for two annotators, "krippendorff_alpha" for more
    value: float
    n: int


class McNemar(BaseModel):
    """Paired comparison of two versions' correctness on the same papers (exact McNemar test)."""

    only_a_correct: int
    only_b_correct: int
    p_value: float


def _sklearn():
    # Imported lazily: the eval dependencies are not needed to summarise.
    from sklearn import metrics

    return metrics


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa; 1.0 when both raters agree on everything (sklearn gives nan there)."""
    if list(a) == list(b):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(_sklearn().cohen_kappa_score(a, b))
    return 0.0 if np.isnan(value) else value


def kappa_ci(gold: Sequence[str], pred: Sequence[str], n_resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of Cohen's kappa over papers (paired resampling)."""
    from scipy.stats import bootstrap

    if len(gold) < 2:
        point = cohen_kappa(gold, pred)
        return point, point  # nothing to resample
    codes = {v: i for i, v in enumerate(sorted(set(gold) | set(pred)))}
    g = np.array([codes[v] for v in gold])
    p = np.array([codes[v] for v in pred])
    res = bootstrap(
        (g, p),
        lambda x, y: cohen_kappa(x.tolist(), y.tolist()),
        paired=True,
        vectorized=False,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def resampled_means(values: Sequence[float], n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """The means of n_resamples bootstrap resamples of the values (items drawn with replacement,
    a fixed seed), drawn in chunks to bound memory."""
    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // len(x))
    return np.concatenate([
        x[rng.integers(0, len(x), size=(min(chunk, n_resamples - done), len(x)))].mean(axis=1)
        for done in range(0, n_resamples, chunk)
    ])


def bootstrap_mean(values: Sequence[float], n_resamples: int = 1000, seed: int = 0) -> tuple[float, tuple[float, float]] | None:
    """The mean of per-paper values and its 95% percentile bootstrap interval over papers; None
    without values."""
    if not len(values):
        return None
    mean = float(np.mean(values))
    low, high = np.percentile(resampled_means(values, n_resamples, seed), [2.5, 97.5])
    # The interval of a mean holds the mean; min/max only absorb rounding in the last place.
    return mean, (min(float(low), mean), max(float(high), mean))


def field_metrics(gold: Sequence[str], pred: Sequence[str | None], values: Sequence[str], seed: int = 0) -> FieldMetrics:
    """All label metrics for one field; pred None means the row had no valid label."""
    m = _sklearn()
    predicted = [p if p is not None else MISSING for p in pred]
    n = len(gold)
    # Macro-F1 over the values that occur in the gold or the predictions.
    present = [v for v in values if v in set(gold) | set(predicted)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prec, rec, f1, support = m.precision_recall_fscore_support(
            gold, predicted, labels=present, zero_division=0
        )
    labels = list(values) + ([MISSING] if MISSING in predicted else [])
    return FieldMetrics(
        n=n,
        coverage=sum(p is not None for p in pred) / n,
        accuracy=float(m.accuracy_score(gold, predicted)),
        kappa=cohen_kappa(gold, predicted),
        kappa_ci=kappa_ci(gold, predicted, seed=seed),
        macro_f1=float(np.mean(f1)) if len(f1) else 0.0,
        per_value=[
            ValueScores(value=v, precision=float(a), recall=float(b), f1=float(c), support=int(d))
            for v, a, b, c, d in zip(present, prec, rec, f1, support)
        ],
        labels=labels,
        confusion=m.confusion_matrix(gold, predicted, labels=labels).tolist(),
    )


def human_agreement(by_annotator: dict[str, dict[str, str]]) -> Agreement | None:
    """Agreement among annotators on the papers they all labelled; None with fewer than two."""
    names = list(by_annotator)
    if len(names) < 2:
        return None
    common = sorted(set.intersection(*(set(v) for v in by_annotator.values())))
    if not common:
        return None
    if len(names) == 2:
        a, b = (by_annotator[x] for x in names)
        return Agreement(annotators=names, measure="cohen_kappa", value=cohen_kappa([a[i] for i in common], [b[i] for i in common]), n=len(common))
    import krippendorff

    codes = {v: i for i, v in enumerate(sorted({v for d in by_annotator.values() for v in d.values()}))}
    data = np.array([[codes[by_annotator[x][i]] for i in common] for x in names], dtype=float)
    alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    return Agreement(annotators=names, measure="krippendorff_alpha", value=alpha, n=len(common))


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> McNemar:
    """Exact McNemar test: a binomial test on the papers exactly one version got right."""
    from scipy.stats import binomtest

    only_a = sum(a and not b for a, b in zip(correct_a, correct_b))
    only_b = sum(b and not a for a, b in zip(correct_a, correct_b))
    p = 1.0 if only_a + only_b == 0 else float(binomtest(only_a, only_a + only_b, 0.5).pvalue)
    return McNemar(only_a_correct=only_a, only_b_correct=only_b, p_value=p)


class ConfidenceMetrics(BaseModel):
    """How well a field's confidence tells right labels from wrong ones."""

    n_scored: int  # rows with a confidence
    auroc: float | None  # None when every scored row is right, or every one wrong
    ece: float  # expected calibration error, 10 equal-width bins
    selective_accuracy: dict[str, float]  # accuracy of the most confident 50% / 80% of scored rows


def confidence_metrics(correct: Sequence[bool], confidence: Sequence[float | None]) -> ConfidenceMetrics | None:
    """AUROC of confidence for correctness, calibration error and selective accuracy, over the rows
    that have a confidence; None when none has."""
    pairs = [(c, ok) for c, ok in zip(confidence, correct) if c is not None]
    if not pairs:
        return None
    from sklearn.metrics import roc_auc_score

    conf = np.array([c for c, _ in pairs], dtype=float)
    ok = np.array([k for _, k in pairs], dtype=bool)
    auroc = float(roc_auc_score(ok, conf)) if 0 < ok.sum() < len(ok) else None
    bins = np.minimum((conf * 10).astype(int), 9)  # [0, 0.1), ..., [0.9, 1.0]
    ece = sum(abs(ok[bins == b].mean() - conf[bins == b].mean()) * (bins == b).sum() for b in range(10) if (bins == b).any()) / len(ok)
    order = np.argsort(-conf, kind="stable")
    selective = {f"{int(q * 100)}%": float(ok[order[: max(1, math.ceil(q * len(ok)))]].mean()) for q in (0.5, 0.8)}
    return ConfidenceMetrics(n_scored=len(ok), auroc=auroc, ece=float(ece), selective_accuracy=selective)
