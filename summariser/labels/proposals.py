"""Which paper to label next: the ones that teach the classifier most.

Each unlabelled paper is scored by three things, multiplied:
- uncertainty: one minus the margin between the two likeliest values under a classifier fitted
  on the labels so far (averaged over the fields that can be fitted; 1 before any can);
- novelty: its distance to the nearest labelled paper in the embedding space, squared, so the labels
  spread over the dump instead of piling up where the classifier happens to be unsure;
- typicality: its mean similarity to its nearest papers, so an outlier (a mis-scraped line, a
  paper unlike any other) is not asked first.
A batch is picked greedily, each pick counting as labelled for the novelty of the next, so the
papers of one batch differ from each other. Before any label the scores are typicality and
spread alone: the first papers asked cover the dump's main regions.

Fitting and scoring take milliseconds for a few thousand papers; the label page does them in the
background after each answer and serves the next paper from the last ranking.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..prompting.version import LabelField
from .tuning import standardised

# Inverse regularisation of the classifier fitted here (not the run's: that one is chosen by
# cross-validation, labels/tuning.py); a fixed middle value keeps each refit cheap.
C = 1.0
# A field is fitted once it has this many labels and two values among them.
MIN_LABELS_TO_FIT = 4
# Typicality is measured against this many nearest papers, among at most SAMPLE papers.
NEIGHBOURS = 10
# The exponent of novelty in the score. Chosen on the seed gold's topic and contribution fields
# (simulated sessions, benchmarks/labelling.py): 2 gave kappa 0.69 and 0.46 after 60 labels where
# 1 gave 0.63 and 0.43, and 0.5 gave 0.54 and 0.43 (the classifier alone, one session each).
NOVELTY = 2
SAMPLE = 2000


class Proposer:
    """Ranks a dump's papers for labelling. features: one row per id (embeddings, or any vectors)."""

    def __init__(self, fields: Sequence[LabelField], ids: Sequence[str], features: np.ndarray, seed: int = 0) -> None:
        if len(ids) != len(features):
            raise ValueError(f"{len(ids)} ids but {len(features)} feature rows")
        self.fields = list(fields)
        self.ids = list(ids)
        self.row = {pid: i for i, pid in enumerate(self.ids)}
        self.x = standardised(features)
        self.typicality = self._typicality(np.random.default_rng(seed))

    def _typicality(self, rng: np.random.Generator) -> np.ndarray:
        """Each paper's mean cosine similarity to its nearest papers, scaled to [0, 1]."""
        n = len(self.x)
        if n < 2:
            return np.ones(n)
        sample = self.x if n <= SAMPLE else self.x[rng.choice(n, SAMPLE, replace=False)]
        k = min(NEIGHBOURS, len(sample) - 1)
        out = np.empty(n)
        for start in range(0, n, 1024):
            sims = self.x[start : start + 1024] @ sample.T
            out[start : start + 1024] = np.sort(sims, axis=1)[:, -k - 1 : -1].mean(axis=1)  # without itself
        return (out - out.min()) / (np.ptp(out) + 1e-12)

    def probabilities(
        self, labelled: Mapping[str, Mapping[str, str]], field: LabelField, only: Sequence[int] | None = None
    ) -> np.ndarray | None:
        """Every paper's (or only those rows') probability of each of the field's values (columns
        in the field's order) under a classifier fitted on the labelled papers; None until it can
        be fitted."""
        known = [(self.row[pid], labels[field.name]) for pid, labels in labelled.items() if pid in self.row and field.name in labels]
        values = {v for _, v in known}
        if len(known) < MIN_LABELS_TO_FIT or len(values) < 2:
            return None
        from sklearn.linear_model import LogisticRegression

        rows, y = zip(*known)
        model = LogisticRegression(C=C, class_weight="balanced", max_iter=1000).fit(self.x[list(rows)], list(y))
        proba = model.predict_proba(self.x if only is None else self.x[list(only)])
        out = np.zeros((len(proba), len(field.values)))
        for j, value in enumerate(field.values):
            if value in model.classes_:
                out[:, j] = proba[:, list(model.classes_).index(value)]
        return out

    def rank(self, labelled: Mapping[str, Mapping[str, str]], exclude: set[str] = frozenset(), n: int = 20) -> list[str]:
        """The next n papers to label, best first: neither labelled nor excluded (skipped, on
        another page)."""
        candidates = np.array([i for i, pid in enumerate(self.ids) if pid not in labelled and pid not in exclude], dtype=int)
        if not len(candidates):
            return []
        margins = []
        for f in self.fields:
            proba = self.probabilities(labelled, f)
            if proba is not None:
                top2 = np.sort(proba, axis=1)[:, -2:]
                margins.append(1 - (top2[:, 1] - top2[:, 0]))
        uncertainty = np.mean(margins, axis=0) if margins else np.ones(len(self.x))
        taken = [self.row[pid] for pid in labelled if pid in self.row]
        novelty = np.ones(len(self.x)) if not taken else 1 - (self.x @ self.x[taken].T).max(axis=1)
        picks: list[int] = []
        for _ in range(min(n, len(candidates))):
            score = uncertainty[candidates] * np.clip(novelty[candidates], 0, None) ** NOVELTY * (0.5 + self.typicality[candidates])
            score[np.isin(candidates, picks)] = -np.inf
            best = int(candidates[int(np.argmax(score))])
            picks.append(best)
            novelty = np.minimum(novelty, 1 - self.x @ self.x[best])
        return [self.ids[i] for i in picks]

    def suggestion(self, labelled: Mapping[str, Mapping[str, str]], pid: str) -> dict[str, dict[str, float]]:
        """Per field, the classifier's probability of each value for one paper (empty for a
        field it cannot fit yet): what the page shows after an answer."""
        out: dict[str, dict[str, float]] = {}
        if pid not in self.row:
            return out
        for f in self.fields:
            proba = self.probabilities({k: v for k, v in labelled.items() if k != pid}, f, [self.row[pid]])
            if proba is not None:
                out[f.name] = {v: float(p) for v, p in zip(f.values, proba[0])}
        return out
