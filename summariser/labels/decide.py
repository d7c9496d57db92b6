"""Deciding a validated answer's labels: the model's distribution over each field's values (from
the token log-probabilities), combined with the votes where the version has them, and each
label's confidence."""

from __future__ import annotations

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

    def decide(self, answer: Answer, completion: Completion, paper: Paper) -> Answer:
        """The answer with each label's confidence, and each label (and its confidence) decided
        by the model's distribution and the votes; labels without a distribution stay as the
        model gave them."""
        text, tokens = completion.text, completion.logprobs
        distributions = label_distributions(text, tokens, self.prompt, answer.labels)
        answer = answer.model_copy(
            update={"confidence": label_confidence(text, tokens, self.prompt, answer.labels, distributions)}
        )
        return self.vote(answer, distributions, paper)

    def vote(self, answer: Answer, distributions: dict[str, dict[str, float] | None], paper: Paper) -> Answer:
        """Each label with a distribution decided together with the votes (label_votes)."""
        if all(model is None for model in distributions.values()):
            return answer  # nothing to combine the votes with: spare finding the neighbours
        votes = label_votes(self.prompt, self.index, paper)
        labels, confidence = dict(answer.labels), dict(answer.confidence)
        for name, model in distributions.items():
            if model is None or name not in votes:
                continue
            assert self.prompt.retrieval is not None  # votes exist only with retrieval
            final = combine(model, votes[name], self.prompt.retrieval.vote_weight)
            labels[name] = max(final, key=lambda v: (final[v], v == answer.labels[name]))
            confidence[name] = final[labels[name]]
        return answer.model_copy(update={"labels": labels, "confidence": confidence})
