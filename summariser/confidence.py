"""How sure the model was of each label: the probability of the label value's tokens.

An endpoint that returns token log-probabilities (llama.cpp servers, the embedded model, OpenAI)
gives, for each token of the answer, how likely it was. A label's confidence is the product of
the probabilities of the tokens that spell its value, i.e. the probability the model gave that
value there. Without log-probabilities every confidence is None.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from .prompts import PromptVersion
from .schema import line_key


@dataclass
class TokenLogprob:
    """One token of the model's text: where it starts in the text, and its log-probability."""

    offset: int
    logprob: float


def label_confidence(text: str, tokens: list[TokenLogprob] | None, prompt: PromptVersion, labels: dict[str, str]) -> dict[str, float | None]:
    """Each label field's confidence in [0, 1], or None where it cannot be told."""
    out: dict[str, float | None] = {f.name: None for f in prompt.fields}
    if not tokens:
        return out
    for f in prompt.fields:
        span = _value_span(text, prompt, f.name, labels[f.name])
        if span is not None:
            # The tokens that overlap the value's characters (a token may carry the space before it).
            ends = [t.offset for t in tokens[1:]] + [len(text)]
            inside = [t.logprob for t, end in zip(tokens, ends) if t.offset < span[1] and end > span[0]]
            if inside:
                out[f.name] = min(1.0, math.exp(sum(inside)))
    return out


def _value_span(text: str, prompt: PromptVersion, name: str, value: str) -> tuple[int, int] | None:
    """Where the label's value is written in the answer's text."""
    if prompt.output.format == "lines":
        pattern = rf"(?im)^\s*{re.escape(line_key(name))}\s*:\s*({re.escape(value)})"
    else:
        pattern = rf"(?i){re.escape(json.dumps(name))}\s*:\s*\"({re.escape(value)})\""
    match = re.search(pattern, text)
    return match.span(1) if match else None


def needs_review(confidence: dict[str, float | None], below: float) -> bool:
    """Whether the least confident label is below `below` (without any confidence there is
    nothing to judge by: False)."""
    scores = [c for c in confidence.values() if c is not None]
    return bool(scores) and min(scores) < below
