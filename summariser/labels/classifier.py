"""Votes from a classifier: a logistic regression over the pool's embeddings.

Neighbour votes (votes.py) count the labels of the few pool papers nearest to a paper, each pool
paper alone. A linear classifier fitted on the whole pool's embeddings weighs every labelled
paper, and learns which directions of the embedding space tell the values apart: on the seed gold
set (each paper held out of the fit that labels it), its probabilities combined with the model's
gave contribution kappa 0.46 and an AUROC of topic confidence of 0.80 (docs/prompts.md, fewshot-v6's
eval), where neighbour votes by embeddings had given 0.34 and 0.66 with the same prompt text
(fewshot-v5's eval, another cold run). The labels are then mostly the classifier's: alone it
reaches topic kappa 0.73.

The fit is scikit-learn's LogisticRegression on the embeddings that prompting.retrieval.ExampleIndex keeps
(centred, for middle-layer embeddings standardised per dimension, and unit length). The paper
asked about, if it is in the pool, is left out of the fit (one fit per left-out set, kept for
the next paper with the same), so an eval never labels a paper with its own gold answer.
Summarising the pool's own papers (the seed dump) therefore fits once per paper and field: 356
fits, about 5 s for the 178 seed papers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..prompting.retrieval import ExampleIndex
from ..prompting.version import LabelField
from ..records import Paper

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

# Changing the fit (regularisation, weighting, smoothing) needs a new
# base.versions.CLASSIFIER_VERSION: it is part of the hash of every version that uses it.
# Inverse regularisation strength. On the seed gold set 3, 10 and 30 gave topic kappa 0.65-0.75
# and contribution 0.42-0.47 combined with the model; 10 is the middle.
C = 10.0
# Added to every value's probability before renormalising, so that a value the classifier all
# but rules out can still win when the model is sure of it.
SMOOTHING = 0.01

# The index keeps its fits (index.memo) by field and left-out rows: a run on a new dump fits once
# per field, an eval once per gold paper and field (about 0.015 s each).


def classifier_votes(
    index: ExampleIndex, paper: Paper, fields: Sequence[LabelField], c: Mapping[str, float] | None = None
) -> dict[str, dict[str, float]]:
    """Per label field, each value's probability under a logistic regression fitted on the pool's
    embeddings without the paper itself (smoothed, summing to 1). c: per field, the inverse
    regularisation chosen for a learning version (default: C)."""
    c = c or {}
    allowed = index.allowed(paper)
    query = index.embedded(paper)
    out: dict[str, dict[str, float]] = {}
    for f in fields:
        if not allowed.any():  # the paper matches every pool example: no opinion
            probabilities = dict.fromkeys(f.values, 1 / len(f.values))
        elif (model := _fit(index, f.name, allowed, c.get(f.name, C))) is None:  # every allowed example has one value
            probabilities = dict.fromkeys(f.values, 0.0)
            probabilities[index.pool[int(np.flatnonzero(allowed)[0])].labels[f.name]] = 1.0
        else:
            probabilities = dict.fromkeys(f.values, 0.0)
            for value, p in zip(model.classes_, model.predict_proba(query)[0]):
                probabilities[str(value)] = float(p)
        total = 1.0 + SMOOTHING * len(probabilities)
        out[f.name] = {v: (p + SMOOTHING) / total for v, p in probabilities.items()}
    return out


def _fit(index: ExampleIndex, field: str, allowed: np.ndarray, c: float) -> "LogisticRegression | None":
    """The classifier for one field fitted on the allowed pool rows (None when they share one
    value), fitted once per field and set of rows."""
    from sklearn.linear_model import LogisticRegression

    key = (field, c, np.packbits(allowed).tobytes())
    with index.memo_lock:
        fits: dict[tuple[str, float, bytes], LogisticRegression | None] = index.memo.setdefault("classifier fits", {})
        if key not in fits:
            rows = np.flatnonzero(allowed)
            labels = [index.pool[i].labels[field] for i in rows]
            # Balanced class weights: a value few pool papers have (survey, theory) would
            # otherwise hardly ever be predicted. One BLAS thread: the fit takes about 0.015 s
            # alone, while BLAS threads spinning beside the embedded model's server slowed a
            # run on 2 cores by about 8% (docs/performance.md).
            with _one_blas_thread(index):
                fits[key] = (
                    None
                    if len(set(labels)) < 2
                    else LogisticRegression(C=c, class_weight="balanced", max_iter=2000).fit(
                        index.embedded_pool()[rows], labels
                    )
                )
        return fits[key]


def _one_blas_thread(index: ExampleIndex) -> Any:
    """A context limiting BLAS to one thread (the controller, which finds the loaded BLAS
    libraries in about 1.5 ms, is made once per index; the caller holds its memo lock)."""
    from threadpoolctl import ThreadpoolController

    if "blas" not in index.memo:
        index.memo["blas"] = ThreadpoolController()
    return index.memo["blas"].limit(limits=1, user_api="blas")
