"""Label confidence from token log-probabilities, --review-below, and the eval's confidence metrics."""

import json
import math

import pytest

from summariser.transport.client import ModelClient
from summariser.labels.confidence import TokenLogprob, label_confidence, needs_review
from summariser.evaluation.metrics import confidence_metrics
from summariser.flow.pipeline import summarise
from summariser.prompting.store import load_prompt
from summariser.records import Paper

from .conftest import cli, fake_client, FAKE_ENDPOINT_PROMPT
from .fake_server import FakeServer, Reply, completion_body

PROMPT = load_prompt("fewshot-v1")  # line format: " summary\nTopic: x\nContribution: y"
TEXT = " A parser.\nTopic: language\nContribution: method"
# Tokens of TEXT: " A", " parser", ".", "\n", "Topic", ":", " language", "\n", "Contribution", ":", " method"
PIECES = [" A", " parser", ".", "\n", "Topic", ":", " language", "\n", "Contribution", ":", " method"]


def tokens(logprobs):
    offsets = [sum(len(p) for p in PIECES[:i]) for i in range(len(PIECES))]
    return [TokenLogprob(o, lp) for o, lp in zip(offsets, logprobs)]


def test_a_labels_confidence_is_the_probability_of_its_values_tokens():
    lps = [0.0] * len(PIECES)
    lps[6] = math.log(0.7)  # " language"
    lps[10] = math.log(0.4)  # " method"
    conf = label_confidence(TEXT, tokens(lps), PROMPT, {"topic": "language", "contribution": "method"})
    assert conf == {"topic": pytest.approx(0.7), "contribution": pytest.approx(0.4)}


def test_a_value_spelled_by_two_tokens_multiplies_their_probabilities():
    text = " A parser.\nTopic: ml-methods\nContribution: method"
    pieces = [" A parser.", "\n", "Topic:", " ml", "-methods", "\n", "Contribution:", " method"]
    offsets = [sum(len(p) for p in pieces[:i]) for i in range(len(pieces))]
    lps = [0.0, 0.0, 0.0, math.log(0.5), math.log(0.8), 0.0, 0.0, math.log(0.9)]
    conf = label_confidence(text, [TokenLogprob(o, lp) for o, lp in zip(offsets, lps)], PROMPT, {"topic": "ml-methods", "contribution": "method"})
    assert conf["topic"] == pytest.approx(0.4) and conf["contribution"] == pytest.approx(0.9)


def test_no_logprobs_no_confidence():
    assert label_confidence(TEXT, None, PROMPT, {"topic": "language", "contribution": "method"}) == {"topic": None, "contribution": None}


def test_json_answers_are_scored_too():
    chat = load_prompt("chat-v1")
    text = '{"summary": "A parser.", "topic": "vision-audio", "contribution": "survey"}'
    start = text.index("vision-audio")
    toks = [TokenLogprob(0, 0.0), TokenLogprob(start, math.log(0.25)), TokenLogprob(start + len("vision-audio"), 0.0)]
    conf = label_confidence(text, toks, chat, {"topic": "vision-audio", "contribution": "survey"})
    assert conf["topic"] == pytest.approx(0.25) and conf["contribution"] == pytest.approx(1.0)


def with_logprobs(text, logprobs, offset_base=0):
    body = completion_body(text)
    offsets = [offset_base + sum(len(p) for p in PIECES[:i]) for i in range(len(PIECES))]
    body["choices"][0]["logprobs"] = {"tokens": PIECES, "text_offset": offsets, "token_logprobs": logprobs, "top_logprobs": None}
    return body


def test_the_client_reads_completion_logprobs_and_rows_carry_confidence(tmp_path):
    lps = [0.0] * len(PIECES)
    lps[6], lps[10] = math.log(0.9), math.log(0.3)
    paper = Paper(id="p", title="T", abstract="A")
    # OpenAI counts offsets from the start of the prompt: they are made relative to the answer.
    with FakeServer([Reply(body=with_logprobs(TEXT, lps, offset_base=1234))]) as srv:
        [row] = summarise([paper], PROMPT, fake_client(srv.url))
    assert row.confidence == {"topic": pytest.approx(0.9), "contribution": pytest.approx(0.3)}


def test_review_below_marks_and_counts_rows(tmp_path):
    dump = tmp_path / "d.jsonl"
    dump.write_text("".join(json.dumps({"title": f"Paper {i}", "abstract": f"Abstract {i}"}) + "\n" for i in range(3)))
    sure, unsure = [0.0] * len(PIECES), [0.0] * len(PIECES)
    unsure[10] = math.log(0.2)

    def responder(body):
        return Reply(body=with_logprobs(TEXT, unsure if "Paper 1\n" in body["prompt"] else sure))

    with FakeServer(responder=responder) as srv:
        args = ["run", "--base-url", srv.url, "--model", "fake", *FAKE_ENDPOINT_PROMPT, str(dump)]
        args += ["--review-below", "0.5"]
        result = cli(*args)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["needs_review"] for r in rows] == [False, True, False]
    assert rows[1]["confidence"]["contribution"] == pytest.approx(0.2)
    assert "1 row(s) need review" in result.stderr


def test_review_below_says_when_there_is_nothing_to_judge_by(tmp_path):
    dump = tmp_path / "d.jsonl"
    dump.write_text(json.dumps({"title": "Paper", "abstract": "Abstract"}) + "\n")
    with FakeServer([Reply(text=TEXT)]) as srv:
        args = ["run", "--base-url", srv.url, "--model", "fake", *FAKE_ENDPOINT_PROMPT, str(dump)]
        args += ["--review-below", "0.5"]
        result = cli(*args)
    assert json.loads(result.stdout)["needs_review"] is False
    assert "1 row(s) have no confidence to judge" in result.stderr


def test_needs_review_uses_the_least_confident_label():
    assert needs_review({"topic": 0.9, "contribution": 0.3}, 0.5)
    assert not needs_review({"topic": 0.9, "contribution": None}, 0.5)
    assert not needs_review({"topic": None, "contribution": None}, 0.5)


def test_confidence_metrics_hand_worked():
    correct = [True, True, False, True, False, False]
    conf = [0.95, 0.85, 0.8, 0.6, 0.3, None]  # the unscored row is left out
    m = confidence_metrics(correct, conf)
    assert m.n_scored == 5
    # AUROC: right {0.95, 0.85, 0.6} vs wrong {0.8, 0.3}: 5 of 6 pairs ordered right
    assert m.auroc == pytest.approx(5 / 6)
    # ECE bins: [0.9,1]: 0.95 right -> |1-0.95|=0.05; [0.8,0.9): 0.85 right, 0.8 wrong -> |0.5-0.825|=0.325 x2;
    # [0.6,0.7): |1-0.6|=0.4; [0.3,0.4): |0-0.3|=0.3  -> (0.05 + 0.65 + 0.4 + 0.3) / 5
    assert m.ece == pytest.approx((0.05 + 0.65 + 0.4 + 0.3) / 5)
    # most confident 50% of 5 rows -> 3 rows (0.95, 0.85, 0.8): 2 right; 80% -> 4 rows: 3 right
    assert m.selective_accuracy == {"50%": pytest.approx(2 / 3), "80%": pytest.approx(3 / 4)}


def test_confidence_metrics_without_any_confidence_is_none_and_all_right_has_no_auroc():
    assert confidence_metrics([True, False], [None, None]) is None
    assert confidence_metrics([True, True], [0.9, 0.4]).auroc is None
