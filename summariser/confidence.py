"""How sure the model was of each label, from the token log-probabilities of its answer.

An endpoint that returns token log-probabilities (llama.cpp servers, the embedded model, OpenAI)
gives, for each token of the answer, how likely it was, and on request the most likely
alternatives at its place. Where the alternatives are there, a label field gets a distribution
over its values: each alternative at the value's first token that spells the start of exactly one
value counts for that value, renormalised over the values (a value nobody listed gets 0). The
label's confidence is its share. Without alternatives, the confidence is the product of the
probabilities of the tokens that spell the chosen value; without log-probabilities, None.

Normalising over the values, rather than over every token the grammar allows there (fragments
such as " s" included), is what makes the confidence rank right answers above wrong ones: on the
seed gold set its AUROC for topic correctness was 0.75 against 0.68 for the product.
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
    top: dict[str, float] | None = None  # the most likely tokens at this place, with theirs


def label_distributions(
    text: str, tokens: list[TokenLogprob] | None, prompt: PromptVersion, labels: dict[str, str]
) -> dict[str, dict[str, float] | None]:
    """Per label field, the model's probability of each value (summing to 1), or None where the
    endpoint listed no alternatives."""
    out: dict[str, dict[str, float] | None] = {f.name: None for f in prompt.fields}
    for f in prompt.fields:
        inside = _value_tokens(text, tokens, prompt, f.name, labels[f.name])
        if inside and inside[0][0].top:
            first, lead = inside[0]
            out[f.name] = _distribution(first, lead, list(f.values), labels[f.name])
    return out


def label_confidence(text: str, tokens: list[TokenLogprob] | None, prompt: PromptVersion, labels: dict[str, str]) -> dict[str, float | None]:
    """Each label field's confidence in [0, 1], or None where it cannot be told."""
    out: dict[str, float | None] = {f.name: None for f in prompt.fields}
    distributions = label_distributions(text, tokens, prompt, labels)
    for f in prompt.fields:
        dist = distributions[f.name]
        if dist is not None:
            out[f.name] = dist[labels[f.name]]
            continue
        inside = _value_tokens(text, tokens, prompt, f.name, labels[f.name])
        if inside:
            out[f.name] = min(1.0, math.exp(sum(t.logprob for t, _ in inside)))
    return out


def _value_tokens(
    text: str, tokens: list[TokenLogprob] | None, prompt: PromptVersion, name: str, value: str
) -> list[tuple[TokenLogprob, str]]:
    """The tokens that overlap the value's characters in the answer, each with the text it carries
    before the value starts (a token may carry the space before it)."""
    span = _value_span(text, prompt, name, value) if tokens else None
    if span is None or not tokens:
        return []
    ends = [t.offset for t in tokens[1:]] + [len(text)]
    return [(t, text[t.offset : span[0]]) for t, end in zip(tokens, ends) if t.offset < span[1] and end > span[0]]


def _distribution(token: TokenLogprob, lead: str, values: list[str], chosen: str) -> dict[str, float]:
    """The values' shares of the alternatives listed at a value's first token."""
    mass = dict.fromkeys(values, 0.0)
    alternatives = dict(token.top or {})
    for alt, logprob in alternatives.items():
        # An alternative that is a prefix of several values (" s": science, society) says nothing.
        fits = [v for v in values if alt and ((lead + v).startswith(alt) or alt.startswith(lead + v))]
        if len(fits) == 1 and alt.strip():
            mass[fits[0]] += math.exp(logprob)
    if mass[chosen] == 0.0:  # the chosen token was not listed (or not on its own): count it
        mass[chosen] = math.exp(token.logprob)
    total = sum(mass.values())
    return {v: m / total for v, m in mass.items()}


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
