"""Votes: a second opinion on each label, combined with the model's.

A prompt version with `vote_k` or `vote_by = "classifier"` in its [retrieval] section decides each
label from two opinions: the model's probability for each value (confidence.label_distributions)
and the votes' share of each value. The votes are either the labels of the vote_k pool papers
most similar to the paper, each counted with its similarity (TF-IDF, or the embedded model's
embeddings with `vote_similarity = "embedding"`), share = (votes + SMOOTHING) / total; or, with
`vote_by = "classifier"`, the probabilities of a logistic regression over the pool's embeddings
(classifier.py, with its own smoothing). The value chosen maximises

    p_model(value) * share(value) ** vote_weight,

renormalised over the values; that product, not the model's alone, is the label's confidence, so
a label the model and the votes agree on is trusted more than one they dispute. The votes never
count the paper itself (retrieval.ExampleIndex leaves it out of the pool), so the eval cannot
vote with a paper's own gold label. Where the endpoint gave no alternatives for a field, its
label and confidence stay the model's.
"""

from __future__ import annotations

import math

from ..prompting.retrieval import ExampleIndex
from ..prompting.version import PromptVersion
from ..records import Paper

# Changing the smoothing, the combination or the model's distribution (confidence.py) needs a
# new base.versions.VOTES_VERSION: it is part of the hash of every version that votes.
# Added to every value's summed similarity, so a value no neighbour has keeps some weight (a
# neighbour's similarity is typically 0.1-0.3).
SMOOTHING = 0.1


def label_votes(prompt: PromptVersion, index: ExampleIndex | None, paper: Paper) -> dict[str, dict[str, float]]:
    """Per label field, each value's share of the votes (summing to 1): the neighbours', or the
    classifier's with `vote_by = "classifier"`; empty without votes. index: over the version's pool."""
    if prompt.retrieval is None or not prompt.retrieval.votes:
        return {}
    assert index is not None, "a version with votes needs its pool's index"
    if prompt.retrieval.vote_by == "classifier":
        from .classifier import classifier_votes

        return classifier_votes(index, paper, prompt.fields, {name: c for name, (c, _) in prompt.tuned.items()})
    return neighbour_votes(prompt, index, paper)


def neighbour_votes(prompt: PromptVersion, index: ExampleIndex, paper: Paper) -> dict[str, dict[str, float]]:
    """Per label field, each value's share of the similarity-weighted votes of the paper's
    vote_k nearest pool papers (smoothed, summing to 1); empty without votes."""
    if prompt.retrieval is None or not prompt.retrieval.vote_k:
        return {}
    neighbours = index.neighbours(paper, prompt.retrieval.vote_k, by=prompt.retrieval.vote_similarity)
    out: dict[str, dict[str, float]] = {}
    for f in prompt.fields:
        weights = dict.fromkeys(f.values, SMOOTHING)
        for example, similarity in neighbours:
            weights[example.labels[f.name]] += max(similarity, 0.0)  # a centred embedding's can be negative
        total = sum(weights.values())
        out[f.name] = {v: w / total for v, w in weights.items()}
    return out


def combine(model: dict[str, float], votes: dict[str, float], weight: float) -> dict[str, float]:
    """The model's distribution over a field's values weighted by the votes' shares, renormalised
    (an infinite weight: the votes' shares alone)."""
    if math.isinf(weight):
        return dict(votes)
    scores = {v: p * votes[v] ** weight for v, p in model.items()}
    total = sum(scores.values())
    if total <= 0:  # the model put all its mass on values the votes exclude: keep the model's view
        return dict(model)
    return {v: s / total for v, s in scores.items()}
