"""The shape of a valid answer for a prompt version: parsing the model's text and validating it."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, create_model, field_validator

from .prompts import PromptVersion


class AnswerError(ValueError):
    """The model's text is not a valid answer; the message says why, to be shown back to the model."""


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


def _summary_validator(max_words: int):
    def check(cls: Any, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the summary is empty")
        if "\n" in value or "\r" in value:
            raise ValueError("the summary must be a single line")
        words = len(value.split())
        if words > max_words:
            raise ValueError(f"the summary has {words} words, at most {max_words} are allowed")
        return value

    return check


@lru_cache(maxsize=32)
def _answer_model(prompt_sha: str, spec: str) -> type[BaseModel]:
    # Keyed by the prompt hash; spec carries what the model needs (hashable).
    fields, max_words = json.loads(spec)
    definitions: dict[str, Any] = {"summary": (str, ...)}
    for name, values in fields:
        definitions[name] = (Literal[tuple(values)], ...)  # type: ignore[valid-type]
    validators = {"summary_ok": field_validator("summary")(_summary_validator(max_words))}
    return create_model("ModelAnswer", __validators__=validators, **definitions)


def answer_model(prompt: PromptVersion) -> type[BaseModel]:
    """A pydantic model that accepts exactly the answers this prompt version allows."""
    spec = json.dumps([[[f.name, list(f.values)] for f in prompt.fields], prompt.output.summary_max_words])
    return _answer_model(prompt.sha256, spec)


# Characters per word budgeted when a grammar caps the summary's length (a JSON schema cannot count words).
CHARS_PER_WORD = 5


def json_schema(prompt: PromptVersion, cap_length: bool = False) -> dict[str, Any]:
    """The JSON schema of an answer, for endpoints that constrain output to a schema.

    cap_length adds a maxLength to the summary, which llama.cpp's grammar enforces (OpenAI's
    strict mode does not accept it)."""
    summary: dict[str, Any] = {"type": "string", "description": "one line"}
    if cap_length:
        summary["maxLength"] = prompt.output.summary_max_words * CHARS_PER_WORD
    props: dict[str, Any] = {"summary": summary}
    for f in prompt.fields:
        props[f.name] = {"type": "string", "enum": list(f.values)}
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def line_key(field_name: str) -> str:
    """How a field is written in the line format: "topic" -> "Topic"."""
    return field_name.replace("_", " ").capitalize()


def gbnf_grammar(prompt: PromptVersion) -> str:
    """A llama.cpp grammar for the line format: a summary of bounded words, then one allowed value per field."""
    max_words = prompt.output.summary_max_words
    parts = ['" "', "summary"]
    for f in prompt.fields:
        parts += [json.dumps(f"\n{line_key(f.name)}: "), _rule(f.name)]
    rules = ["root ::= " + " ".join(parts)]
    rules.append(f'summary ::= word (" " word){{0,{max_words - 1}}}')
    longest = prompt.output.summary_word_max_chars
    rules.append(r"word ::= [^ \n]" + (f"{{1,{longest}}}" if longest else "+"))
    for f in prompt.fields:
        rules.append(f"{_rule(f.name)} ::= " + " | ".join(json.dumps(v) for v in f.values))
    return "\n".join(rules) + "\n"


def _rule(field_name: str) -> str:
    return "field-" + field_name.replace("_", "-")


def parse_lines(text: str, prompt: PromptVersion) -> dict[str, str]:
    """Read "<summary>\\nTopic: x\\nContribution: y" into a dict (first line is the summary)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise AnswerError("the answer is empty")
    keys = {line_key(f.name).casefold(): f.name for f in prompt.fields}
    data: dict[str, str] = {}
    before_fields = []
    for line in lines:
        m = re.match(r"^([A-Za-z _]+):\s*(.*)$", line)
        if m and m.group(1).strip().casefold() in keys:
            data.setdefault(keys[m.group(1).strip().casefold()], m.group(2).strip().strip(".").casefold())
        elif not data:
            before_fields.append(line)
    if len(before_fields) > 1:
        raise AnswerError("the summary must be a single line, followed by one line per label field")
    data["summary"] = before_fields[0] if before_fields else ""
    return data


def parse_json(text: str) -> dict[str, Any]:
    """Read a JSON object answer, tolerating code fences around it."""
    text = text.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", text, re.S)
    if fenced:
        text = fenced.group(1)
    try:
        # strict=False lets a raw control character inside a string through to validation, where
        # a trailing newline is trimmed and an inner one is rejected with a clear reason.
        data = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise AnswerError(f"the answer is not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise AnswerError("the answer must be a JSON object")
    return data


def validate_answer(text: str, prompt: PromptVersion) -> Answer:
    """Parse and validate the model's text; raise AnswerError with a readable reason otherwise."""
    data = parse_lines(text, prompt) if prompt.output.format == "lines" else parse_json(text)
    try:
        checked = answer_model(prompt).model_validate(data)
    except ValidationError as exc:
        reasons = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "answer"
            msg = err["msg"].removeprefix("Value error, ")
            reasons.append(f"{where}: {msg}")
        raise AnswerError("; ".join(reasons)) from None
    values = checked.model_dump()
    return Answer(summary=values.pop("summary"), labels=values)


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
