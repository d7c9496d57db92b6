"""Turning a prompt version and a paper into the exact request sent to the model.

The static part (instructions, label definitions, examples) comes first and is identical for
every paper, so a server that keeps its evaluated prefix (llama.cpp does) only processes the paper.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel

from ..records import Paper
from .answers import line_key
from .extract import extract_summary, prompt_summary
from .grammar import gbnf_grammar, json_schema
from .retrieval import ExampleIndex
from .version import Example, PromptVersion


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

    def endpoint_body(self) -> tuple[str, dict[str, Any]]:
        """The OpenAI-compatible path (under /v1) and JSON body this request is sent as: by a
        client call, or as a line of a Batch-API request file."""
        if self.api == "completion":
            body: dict[str, Any] = {"model": self.model, "prompt": self.prompt or "", **self.params}
            if self.grammar:
                body["grammar"] = self.grammar
            return "/completions", body
        body = {"model": self.model, "messages": self.messages or [], **self.params}
        if self.response_format:
            body["response_format"] = self.response_format
        return "/chat/completions", body


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


def retrieved_examples(prompt: PromptVersion, paper: Paper, index: ExampleIndex | None) -> list[Example]:
    """The examples chosen for this paper from the version's pool (none without retrieval),
    with their abstracts cut short."""
    if prompt.retrieval is None or not prompt.retrieval.k:
        return []
    if index is None:
        raise ValueError(f"prompt version {prompt.version} shows retrieved examples: render it with its pool's index")
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


class Renderer:
    """Turns papers into requests for one prompt version, model and constraint mode, with what
    is the same for every paper (the prompt's static prefix, the grammar) built once."""

    def __init__(self, prompt: PromptVersion, model: str, constrain: str = "none", index: ExampleIndex | None = None) -> None:
        self.prompt = prompt
        self.model = model
        self.constrain = constrain
        if index is None and prompt.retrieval is not None and prompt.retrieval.k:
            index = ExampleIndex.for_version(prompt)  # shown examples are chosen by TF-IDF: no embedder
        self.index = index
        self._prefix = _completion_prefix(prompt) if prompt.api == "completion" else ""
        lines_grammar = prompt.api == "completion" and constrain in ("llama", "mixed") and prompt.output.format == "lines"
        self._grammar = gbnf_grammar(prompt) if lines_grammar else None
        self._params = _params(prompt)

    def completion_prompt(self, paper: Paper, reask: str | None = None) -> str:
        """The text a completion-style model continues: header, worked examples (fixed, then
        those retrieved for this paper, without their summaries where the version says so), then
        the paper."""
        retrieved = "".join(_retrieved_block(ex, self.prompt) for ex in retrieved_examples(self.prompt, paper, self.index))
        last = _input_block(paper, self.prompt)
        if reask:
            last += f"(A previous answer was rejected: {reask})\n"
        if self.prompt.output.summary != "abstract":
            return self._prefix + retrieved + last + "Summary:"
        given = prompt_summary(paper.title, paper.abstract, self.prompt.output.summary_max_words)
        return self._prefix + retrieved + last + f"Summary: {given}\n"

    def summary(self, paper: Paper) -> str | None:
        """The paper's summary when the version takes it from the abstract (output.summary =
        "abstract"; the prompt then ends with its sentence and the model writes only the labels).
        None when the model writes the summary."""
        if self.prompt.output.summary != "abstract":
            return None
        return extract_summary(paper.title, paper.abstract, self.prompt.output.summary_max_words)

    def chat_messages(self, paper: Paper) -> list[dict[str, str]]:
        """System instructions with definitions, examples as earlier turns, then the paper."""
        prompt = self.prompt
        messages = [{"role": "system", "content": prompt.instructions.strip() + "\n\n" + _definitions(prompt)}]
        for ex in [*prompt.examples, *retrieved_examples(prompt, paper, self.index)]:
            messages.append({"role": "user", "content": _paper_block(ex.title, ex.abstract)})
            answer = _answer_json(ex, prompt) if prompt.output.format == "json" else _answer_lines(ex, prompt).lstrip()
            messages.append({"role": "assistant", "content": answer})
        messages.append({"role": "user", "content": _input_block(paper, prompt)})
        return messages

    def request(self, paper: Paper) -> Request:
        """The request for one paper. The constraint mode asks the server to enforce the answer's shape:
        - "llama": llama.cpp's grammar (completion), or a JSON schema as response_format json_object (chat);
        - "schema": OpenAI's json_schema response format (chat only);
        - "mixed": a grammar for completion prompts, json_schema for chat prompts (servers that ignore
          what they do not know, such as vLLM and Ollama, and llama.cpp's own server);
        - "none". The answer is validated, and re-asked if wrong, whatever the mode.
        """
        prompt = self.prompt
        common = dict(model=self.model, prompt_version=prompt.version, prompt_sha256=prompt.request_sha256 or prompt.sha256, params=self._params)
        if prompt.api == "completion":
            return Request(api="completion", prompt=self.completion_prompt(paper), grammar=self._grammar, **common)
        return Request(api="chat", messages=self.chat_messages(paper), response_format=_response_format(prompt, self.constrain), **common)

    def reask(self, request: Request, paper: Paper, bad_answer: str, error: str) -> Request:
        """The same request, told what was wrong with the previous answer."""
        if request.api == "completion":
            return request.model_copy(update={"prompt": self.completion_prompt(paper, reask=error)})
        messages = list(request.messages or []) + [
            {"role": "assistant", "content": bad_answer},
            {"role": "user", "content": f"That answer is invalid: {error}. Answer again, correcting it."},
        ]
        return request.model_copy(update={"messages": messages})


def _params(prompt: PromptVersion) -> dict[str, Any]:
    params = prompt.params.model_dump(exclude_none=True)
    if not params.get("stop"):
        params.pop("stop", None)
    if prompt.api == "chat" and "logprobs" in params:
        # The chat API takes a flag, and the number of alternatives apart.
        wanted = params["logprobs"]
        params["logprobs"] = bool(wanted)
        if wanted > 1:
            params["top_logprobs"] = wanted
    return params


def _response_format(prompt: PromptVersion, constrain: str) -> dict[str, Any] | None:
    if prompt.output.format == "json" and constrain == "llama":
        return {"type": "json_object", "schema": json_schema(prompt, cap_length=True)}
    if prompt.output.format == "json" and constrain in ("schema", "mixed"):
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": json_schema(prompt), "strict": True}}
    return None


def render(prompt: PromptVersion, paper: Paper, model: str, constrain: str = "none", index: ExampleIndex | None = None) -> Request:
    """The request for one paper (a Renderer made for one call)."""
    return Renderer(prompt, model, constrain, index).request(paper)
