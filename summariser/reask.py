"""Re-asking: when an answer fails validation, ask again with the validation error (bounded)."""

from __future__ import annotations

from dataclasses import dataclass

from .client import ModelClient
from .confidence import label_confidence, label_distributions
from .prompts import PromptVersion
from .records import Paper
from .render import Request, reask_request
from .schema import Answer, AnswerError, Usage, validate_answer
from .votes import decide

MAX_REASKS = 3  # a model that keeps giving invalid answers is not helped by more


@dataclass
class Outcome:
    """A validated answer, or the last reason it was invalid; with the tokens spent either way."""

    answer: Answer | None
    error: str | None
    usage: Usage


def ask(client: ModelClient, request: Request, prompt: PromptVersion, paper: Paper, max_reasks: int = MAX_REASKS) -> Outcome:
    """Call the model and validate; on an invalid answer re-ask up to max_reasks times.

    Transport failures propagate (client.RequestError / FatalModelError); only answer
    validation is handled here.
    """
    usage = Usage()
    current = request
    reason = ""
    for _ in range(max_reasks + 1):
        completion = client.call(current)
        usage = usage + completion.usage
        try:
            answer = validate_answer(completion.text, prompt)
        except AnswerError as exc:
            reason = str(exc)
            current = reask_request(request, prompt, paper, completion.text, reason)
            continue
        distributions = label_distributions(completion.text, completion.logprobs, prompt, answer.labels)
        answer.confidence = label_confidence(completion.text, completion.logprobs, prompt, answer.labels, distributions)
        answer = decide(answer, distributions, prompt, paper)
        return Outcome(answer=answer, error=None, usage=usage)
    return Outcome(answer=None, error=f"invalid answer after {max_reasks + 1} tries: {reason}", usage=usage)
