"""Re-asking: when an answer fails validation, ask again with the validation error (bounded).

This step only validates and re-asks; deciding the labels from the model's distribution and the
votes is the labels layer's (labels/decide.py), called by the flow.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..base.errors import AnswerError, InvalidAnswer
from ..base.types import Answer, Completion, Usage
from ..prompting.answers import validate_answer
from ..prompting.render import Renderer, Request
from ..records import Paper
from .client import ModelClient

MAX_REASKS = 3  # a model that keeps giving invalid answers is not helped by more


@dataclass
class Asked:
    """A validated answer, the completion it was read from (its log-probabilities decide the
    labels), and the tokens spent on every try."""

    answer: Answer
    completion: Completion
    usage: Usage


def ask(client: ModelClient, renderer: Renderer, request: Request, paper: Paper, max_reasks: int = MAX_REASKS) -> Asked:
    """Call the model and validate; on an invalid answer re-ask up to max_reasks times, then
    raise InvalidAnswer. Transport failures propagate (RequestError, FatalModelError)."""
    usage = Usage()
    current = request
    reason, text = "", ""
    summary = renderer.summary(paper)  # the prompt's own, when the version takes it from the abstract
    for _ in range(max_reasks + 1):
        completion = client.call(current)
        usage = usage + completion.usage
        text = completion.text
        try:
            answer = validate_answer(text, renderer.prompt, summary)
        except AnswerError as exc:
            reason = str(exc)
            current = renderer.reask(request, paper, text, reason)
            continue
        return Asked(answer=answer, completion=completion, usage=usage)
    raise InvalidAnswer(reason, max_reasks + 1, text, usage)
