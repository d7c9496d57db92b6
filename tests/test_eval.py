"""The gold set, its refusal cases, and `summariser eval` end to end (loopback server and cassettes)."""

import json

import pytest

from summariser.transport.client import ModelClient
from summariser.evaluation.evaluate import evaluate
from summariser.evaluation.gold import GoldError, check_against_prompt, check_no_self_examples, join_papers, load_gold
from summariser.prompting.store import load_prompt
from summariser.records import Paper, paper_id, read_dump

from summariser.base.versions import EMBEDDED_MODEL

from .conftest import RECORDING, ROOT, SEED_DUMP, cli, fake_client, recorder
from .fake_server import FakeServer, Reply

GOLD = ROOT / "evals" / "gold.jsonl"
PAPERS = read_dump(str(SEED_DUMP)).papers




def write_gold(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def gold_row(paper, topic, contribution="method", annotator="a1", summary="A summary."):
    return {"id": paper.id, "title": paper.title, "annotator": annotator,
            "labels": {"topic": topic, "contribution": contribution}, "summary": summary}


def test_shipped_gold_covers_the_seed_dump_within_the_default_labels():
    gold = load_gold(GOLD)
    assert gold.annotators == ["a1"]
    assert [r.id for r in gold.rows] == [p.id for p in PAPERS]
    assert [r.title for r in gold.rows] == [p.title for p in PAPERS]
    check_against_prompt(gold, load_prompt("fewshot-v1"))
    check_against_prompt(gold, load_prompt("chat-v1"))
    assert all(r.summary and "\n" not in r.summary and len(r.summary.split()) <= 35 for r in gold.rows)


def test_malformed_gold_rows_are_reported_with_their_line_and_a_relabelled_paper_keeps_its_last_answer(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(gold_row(PAPERS[0], "language")) + "\n{oops\n")
    with pytest.raises(GoldError, match=r"bad.jsonl:2: not a labelled row"):
        load_gold(bad)
    # The label page appends a correction as a new line: the last answer counts, and is counted.
    dup = write_gold(tmp_path / "dup.jsonl", [gold_row(PAPERS[0], "language"), gold_row(PAPERS[1], "society"), gold_row(PAPERS[0], "health")])
    gold = load_gold(dup)
    assert [(r.id, r.labels["topic"]) for r in gold.rows] == [(PAPERS[0].id, "health"), (PAPERS[1].id, "society")]
    assert gold.relabelled == 1

def test_gold_with_labels_outside_the_prompts_set_is_refused(tmp_path):
    path = write_gold(tmp_path / "g.jsonl", [gold_row(PAPERS[0], "linguistics")])
    with pytest.raises(GoldError, match=r"topic values \['linguistics'\] are not allowed by prompt fewshot-v1"):
        check_against_prompt(load_gold(path), load_prompt("fewshot-v1"))


def test_gold_matching_no_paper_is_refused(tmp_path):
    path = write_gold(tmp_path / "g.jsonl", [gold_row(Paper(id="elsewhere", title="T", abstract="A"), "language")])
    with pytest.raises(GoldError, match="none of its 1 papers is in the input dump"):
        join_papers(load_gold(path), PAPERS)


def test_prompt_whose_examples_are_gold_papers_is_refused(tmp_path):
    prompt = load_prompt("fewshot-v1")
    example = prompt.examples[0]
    path = write_gold(tmp_path / "g.jsonl", [gold_row(Paper(id="x", title=example.title, abstract="A"), "language")])
    rows = [json.loads(path.read_text())]
    rows[0]["id"] = paper_id(example.title)
    write_gold(path, rows)
    with pytest.raises(GoldError, match="uses gold paper"):
        check_no_self_examples(load_gold(path), prompt)


def test_eval_cli_refuses_bad_gold_with_exit_2(tmp_path):
    path = write_gold(tmp_path / "g.jsonl", [gold_row(PAPERS[0], "linguistics")])
    result = cli(*["eval", "--gold", str(path), "--base-url", "http://127.0.0.1:9/v1", "--model", "m"])
    assert result.exit_code == 2
    assert "linguistics" in result.stderr and "Traceback" not in result.output


def answer_by_style(body):
    """Version A (completion) always says language/method; version B (chat) always says health/method."""
    if "messages" in body:
        return Reply(text='{"summary": "A chat summary.", "topic": "health", "contribution": "method"}')
    return Reply(text=" A completion summary.\nTopic: language\nContribution: method")


def test_two_versions_are_compared_paper_by_paper(tmp_path):
    # Gold: 3 language, 2 health, 1 science; contributions all method.
    topics = ["language", "language", "language", "health", "health", "science"]
    papers = PAPERS[:6]
    gold = load_gold(write_gold(tmp_path / "g.jsonl", [gold_row(p, t) for p, t in zip(papers, topics)]))
    with FakeServer(responder=answer_by_style) as srv:
        client = fake_client(srv.url)
        report = evaluate(gold, PAPERS, [load_prompt("fewshot-v1"), load_prompt("chat-v1")], client)
    a, b = report.versions
    assert report.n_papers == 6
    assert a.fields["topic"].accuracy == pytest.approx(3 / 6)
    assert b.fields["topic"].accuracy == pytest.approx(2 / 6)
    assert a.fields["contribution"].accuracy == b.fields["contribution"].accuracy == 1.0
    comp = report.comparisons[0]
    topic = comp.fields["topic"]
    # Only A right on the 3 language papers, only B right on the 2 health papers.
    assert (topic.test.only_a_correct, topic.test.only_b_correct) == (3, 2)
    assert topic.test.p_value == pytest.approx(1.0)  # two-sided exact binomial, 3 of 5 at p=0.5
    assert comp.fields["contribution"].test.p_value == 1.0
    assert [(c.id, c.field, c.a, c.b, c.gold) for c in comp.changed] == [
        (p.id, "topic", "language", "health", t) for p, t in zip(papers, topics)
    ]
    assert report.gold_distribution["topic"] == {"language": 3, "health": 2, "science": 1}
    assert report.human == {"contribution": None, "topic": None}


def test_second_annotator_gives_human_agreement(tmp_path):
    papers = PAPERS[:4]
    rows = [gold_row(p, t) for p, t in zip(papers, ["language", "language", "health", "health"])]
    rows += [gold_row(p, t, annotator="a2") for p, t in zip(papers, ["language", "health", "health", "health"])]
    gold = load_gold(write_gold(tmp_path / "g.jsonl", rows))
    with FakeServer(responder=answer_by_style) as srv:
        report = evaluate(gold, PAPERS, [load_prompt("fewshot-v1")], fake_client(srv.url))
    human = report.human["topic"]
    # p_o = 3/4; marginals a1 (2 L, 2 H), a2 (1 L, 3 H): p_e = (2*1 + 2*3)/16 = 1/2; kappa = (3/4-1/2)/(1/2) = 1/2
    assert (human.measure, human.n, human.value) == ("cohen_kappa", 4, pytest.approx(0.5))
    assert report.human["contribution"].value == 1.0
    # The model is scored against the first annotator.
    assert report.versions[0].fields["topic"].accuracy == pytest.approx(2 / 4)


def test_eval_command_end_to_end_from_cassettes(tmp_path):
    """Both shipped versions on the first 3 seed papers, answered by the recorded embedded model."""
    gold_rows = [json.loads(line) for line in GOLD.read_text().splitlines()[:3]]
    gold = write_gold(tmp_path / "g.jsonl", gold_rows)
    out_json, out_html = tmp_path / "m.json", tmp_path / "r.html"
    # Replayed, the requests go to a closed port with the embedded model's name and constraint mode.
    endpoint = [] if RECORDING else ["--base-url", "http://127.0.0.1:9/v1", "--model", EMBEDDED_MODEL, "--constrain", "llama"]
    with recorder.use_cassette("eval-fewshot-v1-chat-v1.yaml"):
        result = cli(*[
            "eval", *endpoint, "--gold", str(gold), "--prompt", "fewshot-v1", "--prompt", "chat-v1",
            "--json", str(out_json), "--report", str(out_html), "--cache-dir", str(tmp_path / "c"),
        ])
    assert result.exit_code == 0, result.output
    for text in ("== topic", "== contribution", "kappa [95% CI]", "ROUGE-1", "chat-v1 vs fewshot-v1", "McNemar"):
        assert text in result.stdout
    metrics = json.loads(out_json.read_text())
    assert [v["prompt"] for v in metrics["versions"]] == ["fewshot-v1", "chat-v1"]
    assert metrics["n_papers"] == 3
    # The baselines are on the same 3 papers, next to the versions.
    majority = {f: metrics["baselines"]["fields"][f]["label"] for f in ("topic", "contribution")}
    for field, label in majority.items():
        truth = [r["labels"][field] for r in gold_rows]
        assert truth.count(label) == max(truth.count(v) for v in truth)
        assert f"baseline: always {label}" in result.stdout
    assert set(metrics["baselines"]["summaries"]) == {"title", "first sentence"}
    assert "baseline: first sentence" in result.stdout
    page = out_html.read_text()
    assert "baseline: title" in page
    assert page.count("data:image/png;base64,") == 4  # 2 fields x 2 versions
    assert "http://" not in page and "https://" not in page  # opens with no network


def test_a_single_gold_paper_still_gives_a_report(tmp_path):
    gold = load_gold(write_gold(tmp_path / "g.jsonl", [gold_row(PAPERS[0], "language")]))
    with FakeServer(responder=answer_by_style) as srv:
        report = evaluate(gold, PAPERS, [load_prompt("fewshot-v1")], fake_client(srv.url))
    topic = report.versions[0].fields["topic"]
    assert (topic.n, topic.accuracy, topic.kappa, topic.kappa_ci) == (1, 1.0, 1.0, (1.0, 1.0))


def test_self_example_check_also_matches_titles(tmp_path):
    prompt = load_prompt("fewshot-v1")
    row = gold_row(Paper(id="custom-id-7", title=prompt.examples[1].title, abstract="A"), "health")
    with pytest.raises(GoldError, match="uses gold paper"):
        check_no_self_examples(load_gold(write_gold(tmp_path / "g.jsonl", [row])), prompt)


def test_an_eval_without_reference_summaries_says_so_instead_of_scoring_rouge_0(tmp_path):
    from summariser.evaluation.report import format_text

    from .conftest import GOOD

    rows = [gold_row(p, "language", summary=None) for p in PAPERS[:3]]
    gold = load_gold(write_gold(tmp_path / "g.jsonl", rows))
    with FakeServer([Reply(text=GOOD)]) as srv:
        report = evaluate(gold, PAPERS, [load_prompt("fewshot-v1")], fake_client(srv.url))
    summary = report.versions[0].summary
    assert (summary.n_references, summary.rouge1, summary.rouge2, summary.rougeL) == (0, None, None, None)
    assert report.baselines.summaries["title"].rouge1 is None
    text = format_text(report)
    assert "the gold file has no reference summaries" in text and "0.000" not in text.split("== summaries")[1].split("== cost")[0]


def test_rouge_averages_over_the_papers_that_have_references():
    from summariser.evaluation.summaries import summary_metrics

    half = summary_metrics(["a parser of sentences", "anything"], [["a parser of sentences"], []])
    assert (half.n_references, half.rouge1) == (1, pytest.approx(1.0))


def test_the_packaged_gold_set_from_the_recorded_embedded_model(tmp_path):
    """fewshot-v4, the default of a completion endpoint, on all 178 packaged gold papers, replayed
    from a cassette recorded from the embedded model (CI replays the same file to an installed wheel)."""
    out = tmp_path / "m.json"
    closed = [] if RECORDING else ["--base-url", "http://127.0.0.1:9/v1", "--model", EMBEDDED_MODEL, "--constrain", "llama"]
    with recorder.use_cassette("eval-fewshot-v4-gold.yaml"):
        result = cli("eval", *closed, "--prompt", "fewshot-v4", "--json", str(out), "--cache-dir", str(tmp_path / "c"))
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(out.read_text())
    [v4] = metrics["versions"]
    assert metrics["n_papers"] == 178 and v4["cost"]["errors"] == 0
    for field in ("topic", "contribution"):
        low, high = v4["fields"][field]["kappa_ci"]
        assert v4["fields"][field]["coverage"] == 1.0 and low <= v4["fields"][field]["kappa"] <= high
        assert low > metrics["baselines"]["fields"][field]["metrics"]["kappa"]  # above always-the-commonest


def test_the_split_halves_are_fixed_disjoint_and_cover_the_gold_set(tmp_path):
    from summariser.evaluation.gold import half_of

    tuning, report = half_of(PAPERS, "tuning"), half_of(PAPERS, "report")
    assert len(tuning) == len(report) == 89 and not {p.id for p in tuning} & {p.id for p in report}
    assert {p.id for p in tuning} | {p.id for p in report} == {r.id for r in load_gold(GOLD).rows}
    out = tmp_path / "m.json"
    closed = ["--base-url", "http://127.0.0.1:9/v1", "--model", EMBEDDED_MODEL, "--constrain", "llama"]
    with recorder.use_cassette("eval-fewshot-v4-gold.yaml"):
        result = cli("eval", *closed, "--prompt", "fewshot-v4", "--split", "report", "--json", str(out), "--cache-dir", str(tmp_path / "c"))
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(out.read_text())
    assert metrics["n_papers"] == 89 and set(metrics["versions"][0]["predictions"]) == {p.id for p in report}


def answer_with_summaries(body):
    """Version A (completion) summarises faithfully; version B (chat) invents a model and a number."""
    if "messages" in body:
        return Reply(text='{"summary": "A parser tested with GPT-9 on 99 sentences.", "topic": "health", "contribution": "method"}')
    return Reply(text=" A parser of sentences.\nTopic: language\nContribution: method")


def test_summary_scores_per_paper_faithfulness_and_paired_tests_in_the_report(tmp_path):
    from summariser.evaluation.evaluate import EvalReport
    from summariser.evaluation.report import format_text, write_json
    from summariser.evaluation.report_html import write_html
    from summariser.evaluation.summaries import summary_metrics

    papers = PAPERS[:6]
    # Reference summaries differ per paper, so each paper's ROUGE tells whether it is the paper's own.
    refs = ["A parser of sentences.", papers[1].title, "A summary.", "A parser.", papers[4].title, None]
    gold = load_gold(write_gold(tmp_path / "g.jsonl", [gold_row(p, "language", summary=r) for p, r in zip(papers, refs)]))
    with FakeServer(responder=answer_with_summaries) as srv:
        report = evaluate(gold, PAPERS, [load_prompt("fewshot-v1"), load_prompt("chat-v1")], fake_client(srv.url))
    a, b = report.versions
    assert list(a.summary_scores) == [p.id for p in papers]
    for p, r in zip(papers, refs):
        alone = summary_metrics([a.summaries[p.id]], [[r] if r else []])
        assert a.summary_scores[p.id].rouge1 == (None if r is None else pytest.approx(alone.rouge1))
    assert a.summary.rouge1 == pytest.approx(sum(s.rouge1 for s in a.summary_scores.values() if s.rouge1 is not None) / 5)
    assert a.summary.faithfulness.share == 1.0
    assert (b.summary.faithfulness.share, b.summary.faithfulness.n_unfaithful) == (0.0, 6)
    assert b.summary.faithfulness.examples[0].unsupported == ["99", "GPT-9"]
    assert report.baselines.summaries["title"].faithfulness.share == 1.0  # faithful by construction
    comp = report.comparisons[0].summary
    assert comp.rouge1.n == 5 and comp.rouge1.difference == pytest.approx(b.summary.rouge1 - a.summary.rouge1)
    # Faithful for version a only on all 6 papers: exact McNemar p = 2 * 0.5**6.
    assert (comp.faithfulness.only_a_correct, comp.faithfulness.only_b_correct) == (6, 0)
    assert comp.faithfulness.p_value == pytest.approx(2 * 0.5**6)
    # Against the titles: papers 1 and 4 have their title as the reference, so the title wins there.
    vs_title = a.summary_vs_title.rouge1
    title_alone = [summary_metrics([p.title], [[r]]).rouge1 for p, r in zip(papers, refs) if r]
    assert vs_title.n == 5 and vs_title.mean_a == pytest.approx(sum(title_alone) / 5)
    assert vs_title.difference == pytest.approx(a.summary.rouge1 - sum(title_alone) / 5)
    write_json(report, tmp_path / "m.json")
    assert EvalReport.model_validate_json((tmp_path / "m.json").read_text()) == report
    text = format_text(report)
    assert f"fewshot-v1 minus the title, paper by paper (paired bootstrap): ROUGE-1 {vs_title.difference:+.3f}" in text
    assert f"{a.summary.rouge1:.3f} [{a.summary.rouge1_ci[0]:.2f}, {a.summary.rouge1_ci[1]:.2f}]" in text
    assert "faithful [95% CI]" in text and "1.000 [1.00, 1.00] of 6" in text
    assert "unfaithful summaries of chat-v1: 6 of 6" in text and "99, GPT-9 not in the paper" in text
    assert "paired bootstrap of the mean difference" in text and "6 only fewshot-v1, 0 only chat-v1" in text
    write_html(report, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "McNemar exact test)" in page and "GPT-9" in page


def test_a_committed_result_from_before_the_summary_intervals_still_loads_and_prints():
    from summariser.evaluation.evaluate import EvalReport
    from summariser.evaluation.report import format_text

    old = EvalReport.model_validate_json((ROOT / "evals" / "results" / "2026-12-02-fewshot-v8.json").read_text())
    summary = old.versions[0].summary
    assert (summary.rouge1_ci, summary.faithfulness, old.versions[0].summary_scores) == (None, None, {})
    text = format_text(old)
    assert f"{summary.rouge1:.3f}  " in text  # no interval where none was measured
