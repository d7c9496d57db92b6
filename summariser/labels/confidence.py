"""How sure the model was of each label, from the token log-probabilities of its answer.

An endpoint that returns token log-probabilities (llama.cpp servers, the embedded model, OpenAI)
gives, for each token of the answer, how likely it was, and on request the most likely
alternatives at its place. Where two or more alternatives are listed, a label field gets a
distribution over its values: the chosen value weighs the probability of the tokens that spell
it, every other alternative at the value's first token that starts exactly one value weighs for
that value, the probability the list leaves out is shared by the values it does not mention, and
the weights are renormalised over the values. The label's confidence is its share. Otherwise
the confidence is the product of the probabilities of the tokens that spell the chosen value;
without log-probabilities, None.

Normalising over the values, rather than over every token the grammar allows there (fragments
such as " s" included), ranks right answers above wrong ones better: with fewshot-v2's answers to
the seed gold set scored again with every value's probability, the values' shares gave an AUROC
for topic correctness of 0.75, the product (fewshot-v2 asks for logprobs = 1) 0.68.
"""

from __future__ import annotations

import json
import math
import re

from ..base.types import TokenLogprob
from ..prompting.answers import line_key
from ..prompting.version import PromptVersion


def label_distributions(
    text: str, tokens: list[TokenLogprob] | None, prompt: PromptVersion, labels: dict[str, str]
) -> dict[str, dict[str, float] | None]:
    """Per label field, the model's probability of each value (summing to 1), or None where the
    endpoint listed fewer than two alternatives at the value (logprobs = 1 lists only the chosen
    token, which says nothing about the others)."""
    out: dict[str, dict[str, float] | None] = {f.name: None for f in prompt.fields}
    for f in prompt.fields:
        inside = _value_tokens(text, tokens, prompt, f.name, labels[f.name])
        if inside and len(inside[0][0].top or {}) >= 2:
            out[f.name] = _distribution(inside, list(f.values), labels[f.name])
    return out


def label_confidence(
    text: str,
    tokens: list[TokenLogprob] | None,
    prompt: PromptVersion,
    labels: dict[str, str],
    distributions: dict[str, dict[str, float] | None] | None = None,
) -> dict[str, float | None]:
    """Each label field's confidence in [0, 1], or None where it cannot be told (distributions:
    label_distributions of the same answer, if the caller has them already)."""
    out: dict[str, float | None] = {f.name: None for f in prompt.fields}
    if distributions is None:
        distributions = label_distributions(text, tokens, prompt, labels)
    for f in prompt.fields:
        dist = distributions[f.name]
        if dist is not None:
            out[f.name] = dist[labels[f.name]]
            continue
        inside = _value_tokens(text, tokens, prompt, f.name, labels[f.name])
        if inside:
            out[f.name] = min(1.0, math.exp(sum(t.logprob for t, _, _ in inside)))
    return out


def _value_tokens(
    text: str, tokens: list[TokenLogprob] | None, prompt: PromptVersion, name: str, value: str
) -> list[tuple[TokenLogprob, str, str]]:
    """The tokens that overlap the value's characters in the answer, each with its own text and
    the text it carries before the value starts (a token may carry the space before it)."""
    span = _value_span(text, prompt, name, value) if tokens else None
    if span is None or not tokens:
        return []
    ends = [t.offset for t in tokens[1:]] + [len(text)]
    return [
        (t, text[t.offset : end], text[t.offset : span[0]]) for t, end in zip(tokens, ends) if t.offset < span[1] and end > span[0]
    ]


def _distribution(inside: list[tuple[TokenLogprob, str, str]], values: list[str], chosen: str) -> dict[str, float] | None:
    """The values' shares: the chosen value gets the probability of the tokens the model wrote
    it with; every other alternative listed at its first token that starts exactly one value
    counts for that value (" s", the start of science and of society, for neither); what the
    list leaves out is shared by the values it does not mention, so neighbours' votes can still
    raise them. None when no other value gets any weight: the list then says nothing about them."""
    first, piece, lead = inside[0]
    mass = dict.fromkeys(values, 0.0)
    mass[chosen] = math.exp(sum(t.logprob for t, _, _ in inside))
    listed = first.top or {}
    for alt, logprob in listed.items():
        if alt == piece or not alt.strip():  # the token written is counted above
            continue
        fits = [v for v in values if (lead + v).startswith(alt) or alt.startswith(lead + v)]
        if len(fits) == 1:
            mass[fits[0]] += math.exp(logprob)
    unlisted = [v for v, m in mass.items() if m == 0.0]
    rest = max(0.0, 1.0 - sum(math.exp(lp) for lp in listed.values()))
    for v in unlisted:
        mass[v] = rest / len(unlisted)
    total = sum(mass.values())
    if total <= mass[chosen]:
        return None
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
