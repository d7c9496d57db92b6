"""What a valid answer is for a prompt version: reading the model's text and validating it."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, create_model, field_validator

from ..base.errors import AnswerError
from ..base.types import Answer
from .version import PromptVersion


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


def line_key(field_name: str) -> str:
    """How a field is written in the line format: "topic" -> "Topic"."""
    return field_name.replace("_", " ").capitalize()


def parse_lines(text: str, prompt: PromptVersion, summary_given: bool = False) -> dict[str, str]:
    """Read "<summary>\\nTopic: x\\nContribution: y" into a dict (first line is the summary).
    summary_given: the prompt gave the summary, so any text before the label lines is ignored."""
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
    if summary_given:
        before_fields = []
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


def validate_answer(text: str, prompt: PromptVersion, summary: str | None = None) -> Answer:
    """Parse and validate the model's text; raise AnswerError with a readable reason otherwise.
    summary: the summary the prompt already gave (output.summary = "abstract"), so the text holds
    only the label lines."""
    data = parse_lines(text, prompt, summary is not None) if prompt.output.format == "lines" else parse_json(text)
    if summary is not None:
        data["summary"] = summary
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
