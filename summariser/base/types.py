"""The values that cross the layers: what an answer cost, a validated answer, an output row, and
the model's raw completion with its token log-probabilities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Sequence

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    import numpy as np


class Usage(BaseModel):
    """Tokens spent on one paper (all calls, re-asks included)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class Answer(BaseModel):
    """A validated answer: the summary and one value per label field, with the model's confidence
    in each value where the endpoint gave token log-probabilities."""

    summary: str
    labels: dict[str, str]
    confidence: dict[str, float | None] = {}


class Row(BaseModel):
    """One output row per input paper: a result, or an error with a one-line reason."""

    id: str
    title: str
    summary: str | None = None
    labels: dict[str, str | None]
    prompt: str
    prompt_sha256: str
    model: str
    # Not written out: a resumed run's file must equal an uninterrupted run's, whichever answers
    # came from the cache (the run's summary on stderr counts them).
    cached: bool = Field(default=False, exclude=True)
    usage: Usage = Usage()
    error: str | None = None
    warning: str | None = None  # e.g. the abstract was truncated to fit the context
    confidence: dict[str, float | None] = {}  # per label field, None where the endpoint gave no log-probabilities
    needs_review: bool = False  # set by `run --review-below`
    draft: bool = False  # made by a prompt version not yet released (written out only when true)


@dataclass
class TokenLogprob:
    """One token of the model's text: where it starts in the text, and its log-probability."""

    offset: int
    logprob: float
    top: dict[str, float] | None = None  # the most likely tokens at this place, with theirs


@dataclass
class Completion:
    """The model's raw text and what it cost; each token's log-probability if the endpoint gave them."""

    text: str
    usage: Usage
    logprobs: list[TokenLogprob] | None = None


class Embedder(Protocol):
    """Turns texts into vectors (one row per text): the embedding store, or a fake in tests."""

    def embed(self, texts: Sequence[str], layers: int = 0, last: bool = False) -> "np.ndarray": ...
