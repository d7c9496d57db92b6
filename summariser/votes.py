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

from .prompts import PromptVersion
from .records import Paper
from .retrieval import pool_index
from .schema import Answer

# Bump when the way labels are decided changes (the smoothing, the combination, the model's
# distribution in confidence.py): it is part of the hash of every version that votes, so their
# cached answers are not reused.
VOTES_VERSION = "votes-2"
# Added to every value's summed similarity, so a value no neighbour has keeps some weight (a
# neighbour's similarity is typically 0.1-0.3).
SMOOTHING = 0.1


def label_votes(prompt: PromptVersion, paper: Paper) -> dict[str, dict[str, float]]:
    """Per label field, each value's share of the votes (summing to 1): the neighbours', or the
    classifier's with `vote_by = "classifier"`; empty without votes."""
    if prompt.retrieval is None or not prompt.retrieval.votes:
        return {}
    if prompt.retrieval.vote_by == "classifier":
        from .classifier import classifier_votes

        return classifier_votes(pool_index(prompt), paper, prompt.fields)
    return neighbour_votes(prompt, paper)


def neighbour_votes(prompt: PromptVersion, paper: Paper) -> dict[str, dict[str, float]]:
    """Per label field, each value's share of the similarity-weighted votes of the paper's
    vote_k nearest pool papers (smoothed, summing to 1); empty without votes."""
    if prompt.retrieval is None or not prompt.retrieval.vote_k:
        return {}
    neighbours = pool_index(prompt).neighbours(paper, prompt.retrieval.vote_k, by=prompt.retrieval.vote_similarity)
    out: dict[str, dict[str, float]] = {}
    for f in prompt.fields:
        weights = dict.fromkeys(f.values, SMOOTHING)
        for example, similarity in neighbours:
            weights[example.labels[f.name]] += max(similarity, 0.0)  # a centred embedding's can be negative
        total = sum(weights.values())
        out[f.name] = {v: w / total for v, w in weights.items()}
    return out


def uses_embeddings(prompt: PromptVersion) -> bool:
    """Whether this version's votes need embeddings (neighbours found by them, or the classifier)."""
    return prompt.retrieval is not None and prompt.retrieval.embeds


def combine(model: dict[str, float], votes: dict[str, float], weight: float) -> dict[str, float]:
    """The model's distribution over a field's values weighted by the votes' shares, renormalised."""
    scores = {v: p * votes[v] ** weight for v, p in model.items()}
    total = sum(scores.values())
    if total <= 0:  # the model put all its mass on values the votes exclude: keep the model's view
        return dict(model)
    return {v: s / total for v, s in scores.items()}


def decide(answer: Answer, distributions: dict[str, dict[str, float] | None], prompt: PromptVersion, paper: Paper) -> Answer:
    """The answer with each label (and its confidence) decided by the model's distribution and
    the votes (label_votes); labels without a distribution are left as the model gave them."""
    if all(model is None for model in distributions.values()):
        return answer  # nothing to combine the votes with: spare finding the neighbours
    votes = label_votes(prompt, paper)
    labels, confidence = dict(answer.labels), dict(answer.confidence)
    for name, model in distributions.items():
        if model is None or name not in votes:
            continue
        assert prompt.retrieval is not None  # votes exist only with retrieval
        final = combine(model, votes[name], prompt.retrieval.vote_weight)
        labels[name] = max(final, key=lambda v: (final[v], v == answer.labels[name]))
        confidence[name] = final[labels[name]]
    return answer.model_copy(update={"labels": labels, "confidence": confidence})
