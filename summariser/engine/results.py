"""A finished completion of the batching engine, its OpenAI text_completion response, and the small helpers the engine shares."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any


@dataclass
class Result:
    """A finished completion."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" or "length"
    # With logprobs: each token of text, where it starts in text, its log-probability, and the
    # most likely tokens at its place with theirs (a token the grammar forced: 0, and only itself).
    tokens: list[str] | None = None
    text_offset: list[int] | None = None
    token_logprobs: list[float] | None = None
    top_logprobs: list[dict[str, float]] | None = None


def add_logprobs(result: Result, pieces: list[bytes], logprobs: list[float], tops: list[dict[str, float]]) -> None:
    """Each token's text and offset in the result's text; tokens cut off by a stop are dropped."""
    result.tokens, result.text_offset, result.token_logprobs, result.top_logprobs = [], [], [], []
    done = b""
    for piece, logprob, top in zip(pieces, logprobs, tops):
        offset = len(done.decode("utf-8", errors="ignore"))
        if offset >= len(result.text):
            break
        result.tokens.append(piece.decode("utf-8", errors="replace"))
        result.text_offset.append(offset)
        result.token_logprobs.append(logprob)
        result.top_logprobs.append(top)
        done += piece


def as_dict(result: Result, model: str) -> dict[str, Any]:
    """An OpenAI text_completion response for a Result."""
    logprobs = None
    if result.tokens is not None:
        logprobs = {"tokens": result.tokens, "text_offset": result.text_offset, "token_logprobs": result.token_logprobs, "top_logprobs": result.top_logprobs}
    return {
        "id": "cmpl-embedded",
        "object": "text_completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "text": result.text, "finish_reason": result.finish_reason, "logprobs": logprobs}],
        "usage": {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens,
        },
    }


def resolve(future: Future[Result], result: Result | None = None, exception: BaseException | None = None) -> None:
    """Answer a caller's future, unless it was cancelled meanwhile."""
    if future.done():  # cancelled by its caller meanwhile
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)  # type: ignore[arg-type]


def common_prefix(a: list[int], b: list[int], limit: int) -> int:
    """How many leading tokens a and b share, at most limit."""
    n = 0
    for x, y in zip(a, b):
        if x != y or n >= limit:
            break
        n += 1
    return n
