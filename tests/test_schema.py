import json

import pytest

from summariser.prompting.store import load_prompt
from summariser.records import Paper
from summariser.prompting.render import render
from summariser.base.errors import AnswerError
from summariser.prompting.answers import validate_answer
from summariser.prompting.grammar import gbnf_grammar

FEWSHOT = load_prompt("fewshot-v1")
CHAT = load_prompt("chat-v1")
PAPER = Paper(id="p1", title="A Title", abstract="An abstract.")


def test_line_answer_is_parsed():
    a = validate_answer(" A model does a thing.\nTopic: language\nContribution: method", FEWSHOT)
    assert a.summary == "A model does a thing."
    assert a.labels == {"topic": "language", "contribution": "method"}


@pytest.mark.parametrize(
    "text, reason",
    [
        ("\nTopic: language\nContribution: method", "summary is empty"),  # no summary line
        ("A model\nthat wraps.\nTopic: language\nContribution: method", "single line"),
        ("Fine.\nTopic: linguistics\nContribution: method", "topic"),
        ("Fine.\nTopic: language", "contribution: Field required"),
        (" ".join(["word"] * 36) + "\nTopic: language\nContribution: method", "36 words, at most 35"),
        ("", "empty"),
    ],
)
def test_invalid_line_answers_say_why(text, reason):
    with pytest.raises(AnswerError, match=reason):
        validate_answer(text, FEWSHOT)


def test_json_answer_and_its_errors():
    ok = {"summary": "It works.", "topic": "health", "contribution": "survey"}
    assert validate_answer(json.dumps(ok), CHAT).labels == {"topic": "health", "contribution": "survey"}
    assert validate_answer("```json\n" + json.dumps(ok) + "\n```", CHAT).summary == "It works."
    with pytest.raises(AnswerError, match="single line"):
        validate_answer(json.dumps({**ok, "summary": "two\nlines"}), CHAT)
    raw_newline = '{"summary": "Ends with a raw newline\n", "topic": "health", "contribution": "survey"}'
    assert validate_answer(raw_newline, CHAT).summary == "Ends with a raw newline"
    with pytest.raises(AnswerError, match="single line"):
        validate_answer(raw_newline.replace("raw newline\n", "raw\nnewline"), CHAT)
    with pytest.raises(AnswerError, match="not valid JSON"):
        validate_answer("Sure! Here is", CHAT)


def test_grammar_allows_exactly_the_label_values():
    g = gbnf_grammar(FEWSHOT)
    topic_rule = next(line for line in g.splitlines() if line.startswith("field-topic ::="))
    assert topic_rule.count("|") == len(FEWSHOT.field("topic").values) - 1
    assert '"\\nTopic: "' in g and "{0,34}" in g


def test_requests_carry_constraints_by_mode():
    assert render(FEWSHOT, PAPER, "m", "llama").grammar is not None
    assert render(FEWSHOT, PAPER, "m", "none").grammar is None
    assert render(CHAT, PAPER, "m", "llama").response_format["type"] == "json_object"
    assert render(CHAT, PAPER, "m", "schema").response_format["type"] == "json_schema"


def test_completion_prompt_puts_the_paper_last():
    text = render(FEWSHOT, PAPER, "m").prompt
    assert text.endswith("Title: A Title\nAbstract: An abstract.\nSummary:")
    # Static part first: identical for every paper.
    other = render(FEWSHOT, Paper(id="p2", title="B", abstract="C."), "m").prompt
    prefix = text[: text.rindex("Title: A Title")]
    assert other.startswith(prefix)


def test_mixed_mode_sends_a_grammar_to_completion_prompts_and_a_schema_to_chat_prompts():
    assert render(FEWSHOT, PAPER, "m", "mixed").grammar is not None
    assert render(CHAT, PAPER, "m", "mixed").response_format["type"] == "json_schema"
    assert render(FEWSHOT, PAPER, "m", "schema").grammar is None


def test_a_word_length_cap_in_the_grammar_when_the_version_sets_one():
    assert "word ::= [^ \\n]+\n" in gbnf_grammar(load_prompt("fewshot-v1"))
    assert "word ::= [^ \\n]{1,24}\n" in gbnf_grammar(load_prompt("fewshot-v2"))
