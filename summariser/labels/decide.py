"""Deciding a validated answer's labels: the model's distribution over each field's values (from
the token log-probabilities), combined with the votes where the version has them, and each
label's confidence."""

from __future__ import annotations

import math

from ..base.types import Answer, Completion
from ..prompting.retrieval import ExampleIndex
from ..prompting.version import PromptVersion
from ..records import Paper
from .confidence import label_confidence, label_distributions
from .votes import combine, label_votes


class Labeller:
    """Decides labels for one prompt version; index: over its pool (None without one)."""

    def __init__(self, prompt: PromptVersion, index: ExampleIndex | None = None) -> None:
        self.prompt = prompt
        self.index = index

    def model_view(self, answer: Answer, completion: Completion) -> tuple[Answer, dict[str, dict[str, float] | None]]:
        """The answer with the model's own confidence in each label, and its distribution over
        each field's values (None where the endpoint gave none): what a learning version caches,
        to decide again as its labelled file grows."""
        text, tokens = completion.text, completion.logprobs
        distributions = label_distributions(text, tokens, self.prompt, answer.labels)
        confidence = label_confidence(text, tokens, self.prompt, answer.labels, distributions)
        return answer.model_copy(update={"confidence": confidence}), distributions

    def vote(self, answer: Answer, distributions: dict[str, dict[str, float] | None], paper: Paper) -> Answer:
        """Each label decided together with the votes (label_votes) where the field has a
        distribution, or where the votes alone decide (a learning version's infinite weight)."""
        weights = {f.name: self.weight(f.name) for f in self.prompt.fields} if self.prompt.retrieval else {}
        usable = [n for n, w in weights.items() if w and (distributions.get(n) is not None or math.isinf(w))]
        if not usable:
            return answer  # nothing to combine the votes with: spare finding the neighbours
        votes = label_votes(self.prompt, self.index, paper)
        labels, confidence = dict(answer.labels), dict(answer.confidence)
        for name in usable:
            if name not in votes:
                continue
            final = combine(distributions.get(name) or {}, votes[name], weights[name])
            labels[name] = max(final, key=lambda v: (final[v], v == answer.labels[name]))
            confidence[name] = final[labels[name]]
        return answer.model_copy(update={"labels": labels, "confidence": confidence})

    def weight(self, field: str) -> float:
        """The votes' weight for a field: chosen on the pool for a learning version, else set."""
        assert self.prompt.retrieval is not None  # votes exist only with retrieval
        if not self.prompt.retrieval.votes:
            return 0.0
        if self.prompt.retrieval.learns:
            # Not tuned (yet, or too few labels): the model alone decides.
            return self.prompt.tuned[field][1] if field in self.prompt.tuned else 0.0
        return float(self.prompt.retrieval.vote_weight)
