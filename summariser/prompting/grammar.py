"""Server-side constraints on an answer's shape: a llama.cpp grammar for the line format, a JSON
schema for the JSON format. Answers are validated (answers.py) whether or not a server enforces them."""

from __future__ import annotations

import json
from typing import Any

from .answers import line_key
from .version import PromptVersion

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


def gbnf_grammar(prompt: PromptVersion) -> str:
    """A llama.cpp grammar for the line format: a summary of bounded words, then one allowed value per field."""
    max_words = prompt.output.summary_max_words
    given = prompt.output.summary == "abstract"  # the prompt ends with the summary's line
    parts = [] if given else ['" "', "summary"]
    for i, f in enumerate(prompt.fields):
        parts += [json.dumps(("" if given and i == 0 else "\n") + f"{line_key(f.name)}: "), _rule(f.name)]
    rules = ["root ::= " + " ".join(parts)]
    if not given:
        rules.append(f'summary ::= word (" " word){{0,{max_words - 1}}}')
        longest = prompt.output.summary_word_max_chars
        rules.append(r"word ::= [^ \n]" + (f"{{1,{longest}}}" if longest else "+"))
    for f in prompt.fields:
        rules.append(f"{_rule(f.name)} ::= " + " | ".join(json.dumps(v) for v in f.values))
    return "\n".join(rules) + "\n"


def _rule(field_name: str) -> str:
    return "field-" + field_name.replace("_", "-")
