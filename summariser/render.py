"""Turning a prompt version and a paper into the exact request sent to the model.

The static part (instructions, label definitions, examples) comes first and is identical for
every paper, so a server that keeps its evaluated prefix (llama.cpp does) only processes the paper.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel

from .prompts import Example, PromptVersion
from .records import Paper
from .retrieval import pool_index
from .schema import gbnf_grammar, json_schema, line_key


class Request(BaseModel):
    """One model call, fully specified; its hash is the cache key."""

    api: Literal["completion", "chat"]
    model: str
    prompt_version: str
    prompt_sha256: str
    prompt: str | None = None  # completion api
    messages: list[dict[str, str]] | None = None  # chat api
    params: dict[str, Any]
    # Server-side output constraints: a llama.cpp grammar (completion) or a JSON schema (chat).
    grammar: str | None = None
    response_format: dict[str, Any] | None = None

    def cache_key(self) -> str:
        """Hash of everything that can change the answer: prompt hash, model, parameters, input."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def _definitions(prompt: PromptVersion) -> str:
    blocks = []
    for f in prompt.fields:
        head = f"{line_key(f.name)} (exactly one of: {', '.join(f.values)})"
        if f.description:
            head += f". {f.description}"
        blocks.append(head + "\n" + "\n".join(f"- {v}: {d}" for v, d in f.values.items()))
    return "\n\n".join(blocks)


def _paper_block(title: str, abstract: str) -> str:
    return f"Title: {title}\nAbstract: {abstract}\n" if abstract else f"Title: {title}\n"


def _label_lines(ex: Example, prompt: PromptVersion) -> str:
    return "\n".join(f"{line_key(f.name)}: {ex.labels[f.name]}" for f in prompt.fields)


def _answer_lines(ex: Example, prompt: PromptVersion) -> str:
    return f" {ex.summary}\n" + _label_lines(ex, prompt)


def _answer_json(ex: Example, prompt: PromptVersion) -> str:
    return json.dumps({"summary": ex.summary, **{f.name: ex.labels[f.name] for f in prompt.fields}})


def _completion_prefix(prompt: PromptVersion) -> str:
    parts = [prompt.instructions.strip(), _definitions(prompt)]
    for ex in prompt.examples:
        parts.append(_paper_block(ex.title, ex.abstract) + "Summary:" + _answer_lines(ex, prompt))
    return "\n\n".join(parts) + "\n\n"


def _input_block(paper: Paper, prompt: PromptVersion) -> str:
    # One line each, whatever the caller passed: line breaks in an abstract could otherwise forge
    # the prompt's own structure (a fake "Summary:" and label lines after it).
    abstract = _cut_words(paper.abstract, prompt.abstract_words) if prompt.abstract_words else " ".join(paper.abstract.split())
    return _paper_block(" ".join(paper.title.split()), abstract)


def retrieved_examples(prompt: PromptVersion, paper: Paper) -> list[Example]:
    """The examples chosen for this paper from the version's pool (none without retrieval),
    with their abstracts cut short."""
    if prompt.retrieval is None or not prompt.retrieval.k:
        return []
    index = pool_index(prompt)
    words = prompt.retrieval.example_words
    return [ex.model_copy(update={"abstract": _cut_words(ex.abstract, words)}) for ex in index.nearest(paper, prompt.retrieval.k)]


def _cut_words(text: str, words: int) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if 0 < words < len(parts) else "")


def _retrieved_block(ex: Example, prompt: PromptVersion) -> str:
    # With example_summaries = false the summary is left out: a small model copies from it.
    assert prompt.retrieval is not None
    answer = "Summary:" + _answer_lines(ex, prompt) if prompt.retrieval.example_summaries else _label_lines(ex, prompt)
    return _paper_block(ex.title, ex.abstract) + answer + "\n\n"


def completion_prompt(prompt: PromptVersion, paper: Paper, reask: str | None = None) -> str:
    """The text a completion-style model continues: header, worked examples (fixed, then those
    retrieved for this paper, without their summaries where the version says so), then the paper."""
    retrieved = "".join(_retrieved_block(ex, prompt) for ex in retrieved_examples(prompt, paper))
    last = _input_block(paper, prompt)
    if reask:
        last += f"(A previous answer was rejected: {reask})\n"
    return prompt.derived("completion_prefix", _completion_prefix) + retrieved + last + "Summary:"


def chat_messages(prompt: PromptVersion, paper: Paper) -> list[dict[str, str]]:
    """System instructions with definitions, examples as earlier turns, then the paper."""
    system = prompt.instructions.strip() + "\n\n" + _definitions(prompt)
    messages = [{"role": "system", "content": system}]
    for ex in [*prompt.examples, *retrieved_examples(prompt, paper)]:
        messages.append({"role": "user", "content": _paper_block(ex.title, ex.abstract)})
        answer = _answer_json(ex, prompt) if prompt.output.format == "json" else _answer_lines(ex, prompt).lstrip()
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": _input_block(paper, prompt)})
    return messages


def render(prompt: PromptVersion, paper: Paper, model: str, constrain: str = "none") -> Request:
    """The request for one paper.

    constrain asks the server to enforce the answer's shape:
    - "llama": llama.cpp's grammar (completion), or a JSON schema as response_format json_object (chat);
    - "schema": OpenAI's json_schema response format (chat only);
    - "mixed": a grammar for completion prompts, json_schema for chat prompts (servers that ignore
      what they do not know, such as vLLM and Ollama, and llama.cpp's own server);
    - "none". The answer is validated, and re-asked if wrong, whatever the mode.
    """
    params = prompt.params.model_dump(exclude_none=True)
    if not params.get("stop"):
        params.pop("stop", None)
    if prompt.api == "chat" and "logprobs" in params:
        # The chat API takes a flag, and the number of alternatives apart.
        wanted = params["logprobs"]
        params["logprobs"] = bool(wanted)
        if wanted > 1:
            params["top_logprobs"] = wanted
    common = dict(model=model, prompt_version=prompt.version, prompt_sha256=prompt.sha256, params=params)
    if prompt.api == "completion":
        wants_grammar = constrain in ("llama", "mixed") and prompt.output.format == "lines"
        grammar = prompt.derived("grammar", gbnf_grammar) if wants_grammar else None
        return Request(api="completion", prompt=completion_prompt(prompt, paper), grammar=grammar, **common)
    response_format = None
    if prompt.output.format == "json" and constrain == "llama":
        response_format = {"type": "json_object", "schema": json_schema(prompt, cap_length=True)}
    elif prompt.output.format == "json" and constrain in ("schema", "mixed"):
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": json_schema(prompt), "strict": True},
        }
    return Request(api="chat", messages=chat_messages(prompt, paper), response_format=response_format, **common)


def reask_request(request: Request, prompt: PromptVersion, paper: Paper, bad_answer: str, error: str) -> Request:
    """The same request, told what was wrong with the previous answer."""
    if request.api == "completion":
        return request.model_copy(update={"prompt": completion_prompt(prompt, paper, reask=error)})
    messages = list(request.messages or []) + [
        {"role": "assistant", "content": bad_answer},
        {"role": "user", "content": f"That answer is invalid: {error}. Answer again, correcting it."},
    ]
    return request.model_copy(update={"messages": messages})
