"""Reading an endpoint's answer: the text, the usage and the token log-probabilities, in either
of OpenAI's shapes (completions and chat); and the vectors of an embeddings answer."""

from __future__ import annotations

import json
from typing import Any, Iterable

import numpy as np

from ..base.errors import MalformedResponse
from ..base.types import Completion, TokenLogprob, Usage


def completion_from_json(content: str, api: str) -> Completion:
    """The text and usage in an endpoint's answer; MalformedResponse (retried) if it is not one."""
    try:
        data = json.loads(content)
    except ValueError:
        raise MalformedResponse(f"the endpoint's answer is not a completion: {one_line(content[:200])}") from None
    return completion_from_data(data, api, content)


def completion_from_data(data: object, api: str, content: str | None = None) -> Completion:
    """completion_from_json of an answer already parsed (content: its text, for the error)."""
    try:
        choice = data["choices"][0]  # type: ignore[index]
        text = choice["text"] if api == "completion" else choice["message"]["content"]
        usage = data.get("usage") or {}  # type: ignore[union-attr]
        return Completion(
            text=text or "",
            usage=Usage(prompt_tokens=usage.get("prompt_tokens") or 0, completion_tokens=usage.get("completion_tokens") or 0),
            logprobs=logprobs_from(choice.get("logprobs")),
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        shown = content if content is not None else json.dumps(data)
        raise MalformedResponse(f"the endpoint's answer is not a completion: {one_line(shown[:200])}") from None


def logprobs_from(data: Any) -> list[TokenLogprob] | None:
    """Token log-probabilities in either OpenAI shape: completions (tokens, text_offset,
    token_logprobs, top_logprobs) or chat (content: [{token, logprob, top_logprobs}]), with the
    listed alternatives of each token; None if absent or unusable."""
    if not isinstance(data, dict):
        return None
    try:
        if isinstance(data.get("content"), list):  # chat: offsets follow from the tokens' text
            out, offset = [], 0
            for item in data["content"]:
                top = merged((alt["token"], float(alt["logprob"])) for alt in item.get("top_logprobs") or [])
                out.append(TokenLogprob(offset, float(item["logprob"]), top))
                offset += len(item["token"])
            return out or None
        tokens, logprobs = data["tokens"], data["token_logprobs"]
        offsets = data.get("text_offset") or [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
        if len(offsets) != len(tokens):  # some servers count offsets from the prompt's start
            return None
        tops = data.get("top_logprobs") or []
        tops = list(tops) + [None] * (len(tokens) - len(tops))  # a short list: the rest have none
        base = offsets[0] if offsets else 0
        return [
            TokenLogprob(o - base, float(lp), merged((str(k), float(v)) for k, v in top.items()) if isinstance(top, dict) else None)
            for o, lp, top in zip(offsets, logprobs, tops)
            if lp is not None
        ] or None
    except (KeyError, TypeError, ValueError):
        return None


def merged(pairs: Iterable[tuple[str, float]]) -> dict[str, float] | None:
    """Alternatives by text (None if none); two tokens that spell the same text add up."""
    out: dict[str, float] = {}
    for text, logprob in pairs:
        out[text] = float(np.logaddexp(out[text], logprob)) if text in out else logprob
    return out or None


def one_line(text: str) -> str:
    """Text squeezed onto one line of at most 300 characters, for messages."""
    return " ".join(str(text).split())[:300]


def vectors_from_json(content: str, count: int) -> list[list[float]]:
    """The vectors of an OpenAI embeddings answer, in input order; MalformedResponse (retried) if
    it is not one for `count` inputs."""
    try:
        data = sorted(json.loads(content)["data"], key=lambda item: item["index"])
        vectors = [[float(x) for x in item["embedding"]] for item in data]
    except (ValueError, KeyError, TypeError):
        raise MalformedResponse(f"the endpoint's answer is not embeddings: {one_line(content[:200])}") from None
    if len(vectors) != count:
        raise MalformedResponse(f"the endpoint returned {len(vectors)} embeddings for {count} texts")
    return vectors
