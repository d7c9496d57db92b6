"""Every error summariser raises on purpose, in one place, under one base class.

A caller (the CLI, a script) catches SummariserError for "the message is for the user"; the
subclasses say where it came from and carry what a caller needs to act on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import Usage


class SummariserError(Exception):
    """An error whose message is one line meant for the user."""


class InputError(SummariserError):
    """The input dump cannot be used at all."""


class PromptError(SummariserError):
    """A prompt version is unknown or its file is invalid."""


class GoldError(SummariserError):
    """The gold file cannot be used for this evaluation."""


class AnswerError(SummariserError, ValueError):
    """The model's text is not a valid answer; the message says why, to be shown back to the model."""


class InvalidAnswer(SummariserError):
    """The model gave no valid answer after every re-ask."""

    def __init__(self, reason: str, attempts: int, last_answer: str, usage: "Usage") -> None:
        super().__init__(f"invalid answer after {attempts} tries: {reason}")
        self.reason = reason
        self.attempts = attempts
        self.last_answer = last_answer  # the model's last text, as it came
        self.usage = usage  # tokens spent on every try

    def __reduce__(self) -> tuple[type, tuple[str, int, str, "Usage"]]:
        return (type(self), (self.reason, self.attempts, self.last_answer, self.usage))


class FatalModelError(SummariserError):
    """The endpoint refuses every request (bad key, unknown model, missing API); the run cannot go on."""


class RequestError(SummariserError):
    """This one request failed for good (after retries); other papers may still succeed."""

    def __init__(self, message: str, attempts: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts  # how many times it was sent, where known

    def __reduce__(self) -> tuple[type, tuple[str, int | None]]:
        return (type(self), (str(self), self.attempts))


class MalformedResponse(SummariserError):
    """The endpoint answered with success but the body is not a completion (cut short, not JSON): retried."""


class EmbeddedModelError(SummariserError):
    """The embedded model cannot be started or used; the message says what to do."""
