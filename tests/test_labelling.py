"""The label page's session without a browser: answers written at once, resume, undo, skip,
annotators kept apart, tabs given different papers, bad files refused, review order; and the
HTTP server's checks."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from summariser.base.errors import InputError
from summariser.labelled import LabelledWriter, read_labelled
from summariser.labelling.features import FeatureThread, tfidf_features
from summariser.labelling.models import AnswerIn, HeartbeatIn, SkipIn
from summariser.labelling.review import read_review
from summariser.labelling.session import Session
from summariser.prompting.store import load_prompt
from summariser.records import Paper, read_dump

from .conftest import SEED_DUMP, cli

FIELDS = load_prompt("fewshot-v1").fields
PAPERS = read_dump(str(SEED_DUMP)).papers[:24]
TOPICS = list(FIELDS[0].values)
KINDS = list(FIELDS[1].values)


def labels(i: int = 0) -> dict[str, str]:
    return {"topic": TOPICS[i % len(TOPICS)], "contribution": KINDS[i % len(KINDS)]}


def session(path: Path, annotator: str = "a1", **kw) -> Session:
    return Session(PAPERS, FIELDS, path, "fewshot-v1", annotator, **kw)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def answer(s: Session, tab: str = "t1", i: int = 0, **kw):
    shown = s.next(tab).paper
    return shown.id, s.answer(AnswerIn(tab=tab, id=shown.id, labels=labels(i), **kw))


def test_each_answer_is_on_disk_when_the_call_returns(tmp_path):
    s = session(tmp_path / "lab.jsonl")
    pid, reply = answer(s, summary=" A parser. ", note="hard one")
    row = lines(tmp_path / "lab.jsonl")[0]
    paper = next(p for p in PAPERS if p.id == pid)
    assert row["id"] == pid and row["annotator"] == "a1" and row["labels"] == labels(0)
    assert (row["title"], row["abstract"], row["summary"], row["note"]) == (paper.title, paper.abstract, "A parser.", "hard one")
    assert row["at"]  # when it was given
    assert reply.saved.id == pid and reply.paper.id != pid
    assert reply.progress.labelled == 1 and reply.progress.total == len(PAPERS)
    s.close()


def test_a_restart_offers_only_papers_not_yet_answered_or_skipped(tmp_path):
    path = tmp_path / "lab.jsonl"
    s = session(path)
    done = {answer(s, i=i)[0] for i in range(5)}
    skipped = s.next("t1").paper.id
    s.skip(SkipIn(tab="t1", id=skipped))
    s.close()

    again = session(path)
    assert again.progress().labelled == 5 and again.progress().skipped == 1
    offered = []
    while (reply := again.next("t1")).paper is not None:
        offered.append(reply.paper.id)
        again.answer(AnswerIn(tab="t1", id=reply.paper.id, labels=labels()))
    assert set(offered) == {p.id for p in PAPERS} - done - {skipped}
    assert len(offered) == len(set(offered))
    again.close()


def test_undo_withdraws_the_last_answer_and_shows_that_paper_again_with_it_selected(tmp_path):
    path = tmp_path / "lab.jsonl"
    s = session(path)
    first, _ = answer(s, i=0)
    second, _ = answer(s, i=3, note="unsure")
    reply = s.undo("t1")
    assert reply.withdrawn == second and reply.paper.id == second
    assert reply.paper.labels == labels(3) and reply.paper.note == "unsure"
    assert lines(path)[-1] | {"at": None} == {"id": second, "annotator": "a1", "title": reply.paper.title, "retracted": True, "at": None}
    assert reply.progress.labelled == 1
    assert s.undo("t1").paper.id == first  # and again: the answer before
    s.close()
    assert read_labelled(path).answers("a1") == []
    again = session(path)
    assert again.progress().labelled == 0
    assert [again.next(f"t{i}").paper.id for i in range(2)] == [PAPERS[0].id, PAPERS[1].id] == [first, second]  # offered again
    again.close()


def test_undo_after_a_restart_withdraws_the_last_answer_in_the_file(tmp_path):
    path = tmp_path / "lab.jsonl"
    s = session(path)
    answer(s, i=0)
    last, _ = answer(s, i=1)
    s.close()
    again = session(path)
    assert again.undo("new-tab").paper.id == last
    again.close()


def test_undo_takes_back_this_tabs_answer_not_another_tabs(tmp_path):
    s = session(tmp_path / "lab.jsonl")
    mine, _ = answer(s, "t1")
    theirs, _ = answer(s, "t2")
    assert s.undo("t1").paper.id == mine
    assert s.progress().labelled == 1 and theirs in s._seen()
    s.close()


def test_a_skip_is_a_line_and_the_paper_is_not_offered_again(tmp_path):
    path = tmp_path / "lab.jsonl"
    s = session(path)
    pid = s.next("t1").paper.id
    reply = s.skip(SkipIn(tab="t1", id=pid))
    assert reply.saved.skipped and reply.paper.id != pid and reply.progress.skipped == 1
    assert lines(path)[0]["skipped"] is True and "labels" not in lines(path)[0]
    s.close()
    assert pid in read_labelled(path).seen("a1")


def test_the_same_answer_sent_twice_is_written_once(tmp_path):
    path = tmp_path / "lab.jsonl"
    s = session(path)
    pid, _ = answer(s)
    s.answer(AnswerIn(tab="t1", id=pid, labels=labels(0)))  # a retry after a lost reply
    assert len(lines(path)) == 1
    s.answer(AnswerIn(tab="t1", id=pid, labels=labels(1)))  # a changed answer is written
    assert len(lines(path)) == 2
    s.close()


def test_a_second_annotator_sees_neither_the_first_ones_labels_nor_their_suggestions(tmp_path):
    path = tmp_path / "lab.jsonl"
    first = session(path, "a1")
    first.set_features(tfidf_features(PAPERS), "tf-idf")
    answered = [answer(first, i=i)[0] for i in range(8)]
    assert first.suggestion(answered[0]).fields  # a1 has enough labels for the classifier
    first.close()

    second = session(path, "a2")
    second.set_features(tfidf_features(PAPERS), "tf-idf")
    assert second.progress().labelled == 0
    assert second.suggestion(answered[0]).fields == {}  # a2 has none: nothing of a1's is used
    offered = []
    while (reply := second.next("t1")).paper is not None:
        offered.append(reply.paper)
        second.skip(SkipIn(tab="t1", id=reply.paper.id))
    assert set(answered) <= {p.id for p in offered}  # a1's papers are offered to a2
    assert all(p.labels == {} and p.model is None for p in offered)  # with nothing preselected
    second.close()
    assert len(read_labelled(path).answers("a1")) == 8


def test_two_tabs_never_show_the_same_paper_and_a_closed_tab_lets_its_paper_go(tmp_path):
    clock = [0.0]
    s = session(tmp_path / "lab.jsonl", clock=lambda: clock[0], tab_timeout=60)
    one, two = s.next("t1").paper.id, s.next("t2").paper.id
    assert one != two
    assert s.next("t1").paper.id == one  # a reload keeps its paper
    s.release("t1")
    assert s.next("t3").paper.id == one
    clock[0] = 61  # t2 went quiet (its browser crashed): after the timeout its paper may go
    assert s.heartbeat(HeartbeatIn(tab="t3", id=one)).held is True  # t3 is still open
    assert s.next("t4").paper.id == two
    assert s.heartbeat(HeartbeatIn(tab="t2", id=two)).held is False  # t2 wakes up: it must move on
    assert s.heartbeat(HeartbeatIn(tab="t4", id=two)).held is True
    s.close()


def test_two_tabs_get_different_papers_from_the_ranking_too(tmp_path):
    s = session(tmp_path / "lab.jsonl")
    s.start_ranking()
    s.set_features(tfidf_features(PAPERS), "tf-idf")
    assert s.wait_ranked(10)
    for i in range(6):
        answer(s, i=i)
        assert s.wait_ranked(10)
    s.release("t1")
    assert s.wait_ranked(10)
    best = s.ranking[0]
    assert best != PAPERS[6].id or s.ranking[1] != PAPERS[7].id  # not dump order
    reply = s.next("t1")
    assert reply.ranked_by == "tf-idf" and reply.paper.id == best
    assert s.next("t2").paper.id != best
    s.close()


def test_before_any_ranking_papers_come_in_dump_order(tmp_path):
    s = session(tmp_path / "lab.jsonl")
    reply = s.next("t1")
    assert (reply.ranked_by, reply.paper.id) == ("dump order", PAPERS[0].id)
    assert s.next("t2").paper.id == PAPERS[1].id
    s.close()


def test_an_answer_outside_the_versions_values_is_refused_and_not_written(tmp_path):
    path = tmp_path / "lab.jsonl"
    s = session(path)
    pid = s.next("t1").paper.id
    with pytest.raises(ValueError, match="topic: 'robots' is not one of health"):
        s.answer(AnswerIn(tab="t1", id=pid, labels={"topic": "robots", "contribution": "method"}))
    with pytest.raises(ValueError, match="contribution: None"):
        s.answer(AnswerIn(tab="t1", id=pid, labels={"topic": "health"}))
    with pytest.raises(ValueError, match="no paper 'nope'"):
        s.answer(AnswerIn(tab="t1", id="nope", labels=labels()))
    assert path.read_text() == ""
    s.close()


def write(path: Path, *rows: dict) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_file_with_a_value_outside_the_version_is_refused_naming_line_value_and_values(tmp_path):
    path = tmp_path / "lab.jsonl"
    write(path, {"id": PAPERS[0].id, "labels": labels()}, {"id": PAPERS[1].id, "labels": {"topic": "robots", "contribution": "method"}})
    with pytest.raises(InputError) as err:
        session(path)
    assert str(err.value) == f"{path}:2: topic='robots' is not a value of fewshot-v1 (allowed: {', '.join(TOPICS)})"
    write(path, {"id": PAPERS[0].id, "labels": {"modality": "text"}})
    with pytest.raises(InputError, match=r":1: field 'modality' is not a field of fewshot-v1 \(its fields: topic, contribution\)"):
        session(path)


def test_a_torn_last_line_is_dropped_and_said(tmp_path):
    path = tmp_path / "lab.jsonl"
    path.write_text(json.dumps({"id": PAPERS[0].id, "labels": labels()}) + '\n{"id": "' + PAPERS[1].id + '", "lab')
    s = session(path)
    assert any("cut off mid-write" in note for note in s.notes)
    answer(s, i=1)
    s.close()
    resolved = read_labelled(path)
    assert not resolved.torn_tail and len(resolved.answers("a1")) == 2


def test_a_paper_answered_twice_in_the_file_counts_once_with_the_last_answer(tmp_path):
    path = tmp_path / "lab.jsonl"
    write(path, {"id": PAPERS[0].id, "labels": labels(0)}, {"id": PAPERS[0].id, "labels": labels(2)})
    s = session(path)
    assert any("answered more than once" in note for note in s.notes)
    assert s.progress().labelled == 1 and s.rows[PAPERS[0].id].labels == labels(2)
    s.close()


def test_an_answer_lacking_a_field_is_offered_again_with_the_rest_selected(tmp_path):
    path = tmp_path / "lab.jsonl"
    write(path, {"id": PAPERS[5].id, "labels": {"topic": "language"}})
    s = session(path)
    reply = s.next("t1")  # first, before the papers no one started
    assert reply.paper.id == PAPERS[5].id and reply.paper.labels == {"topic": "language"}
    assert reply.progress.labelled == 0
    s.close()


def test_a_second_session_on_the_same_file_is_refused(tmp_path):
    path = tmp_path / "lab.jsonl"
    s = session(path)
    with pytest.raises(InputError, match="open in another labelling session"):
        session(path, "a2")
    s.close()


RUN_ROWS = [
    {"id": PAPERS[0].id, "title": "t", "summary": "s0", "labels": labels(0), "confidence": {"topic": 0.9, "contribution": 0.8}, "needs_review": False},
    {"id": PAPERS[1].id, "title": "t", "summary": "s1", "labels": labels(1), "confidence": {"topic": 0.7, "contribution": 0.3}, "needs_review": True},
    {"id": PAPERS[2].id, "title": "t", "summary": "s2", "labels": labels(2), "confidence": {"topic": 0.2, "contribution": 0.6}, "needs_review": True},
    {"id": PAPERS[3].id, "title": "t", "summary": None, "labels": {"topic": None, "contribution": None}, "error": "timeout", "needs_review": False},
    {"id": "not-in-dump", "title": "t", "summary": "s", "labels": labels(0), "confidence": {"topic": 0.1}, "needs_review": True},
    {"id": PAPERS[4].id, "title": "t", "summary": "s4", "labels": {"topic": "robots", "contribution": "method"}, "confidence": {}, "needs_review": True},
]


def test_review_offers_flagged_rows_least_confident_first_with_the_models_labels(tmp_path):
    out = tmp_path / "out.jsonl"
    write(out, *RUN_ROWS)
    review = read_review(out, {p.id for p in PAPERS}, FIELDS)
    assert [item.id for item in review.items] == [PAPERS[2].id, PAPERS[1].id, PAPERS[4].id]  # no confidence: last
    assert review.items[2].labels == {"contribution": "method"}  # a value the version lacks is not selected
    assert any("with an error" in n for n in review.notes) and any("not papers of the dump" in n for n in review.notes)
    write(out, *[r | {"needs_review": False} for r in RUN_ROWS])
    assert [item.id for item in read_review(out, {p.id for p in PAPERS}, FIELDS).items] == [PAPERS[2].id, PAPERS[1].id, PAPERS[0].id, PAPERS[4].id]

    path = tmp_path / "lab.jsonl"
    write(out, *RUN_ROWS)
    s = session(path, review=read_review(out, {p.id for p in PAPERS}, FIELDS).items)
    reply = s.next("t1")
    assert reply.paper.id == PAPERS[2].id and reply.paper.labels == labels(2) and reply.paper.model.summary == "s2"
    assert reply.progress.total == 3 and reply.ranked_by == "review order"
    s.answer(AnswerIn(tab="t1", id=PAPERS[2].id, labels=reply.paper.labels))  # confirmed as it was
    assert lines(path)[0]["labels"] == labels(2) and lines(path)[0]["annotator"] == "a1"
    with pytest.raises(ValueError, match="no paper"):
        s.answer(AnswerIn(tab="t1", id=PAPERS[5].id, labels=labels()))  # not under review
    s.close()
    again = session(path, review=read_review(out, {p.id for p in PAPERS}, FIELDS).items)
    assert again.next("t1").paper.id == PAPERS[1].id  # resumes after the reviewed one
    again.close()


def test_review_of_a_file_that_is_not_a_runs_jsonl_output_is_refused(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("id,title\nx,y\n")
    with pytest.raises(InputError, match=r"out.csv:1: not a row of `summariser run` JSONL output"):
        read_review(out, {p.id for p in PAPERS}, FIELDS)
    write(out, *[r | {"id": "elsewhere"} for r in RUN_ROWS])
    with pytest.raises(InputError, match="none of its rows is a paper of the dump"):
        read_review(out, {p.id for p in PAPERS}, FIELDS)


def test_tfidf_features_fit_tiny_and_ordinary_dumps():
    assert tfidf_features(PAPERS).shape == (len(PAPERS), len(PAPERS) - 1)
    tiny = [Paper(id="a", title="Graphs", abstract="graph networks"), Paper(id="b", title="Speech", abstract="speech audio")]
    assert tfidf_features(tiny).shape[0] == 2


class Vectors:
    def __init__(self, fail: bool = False) -> None:
        self.fail, self.calls = fail, []

    def embed(self, texts, layers=0, last=False):
        self.calls.append((len(texts), layers))
        if self.fail:
            raise RuntimeError("the endpoint is down")
        return np.random.default_rng(0).normal(size=(len(texts), 8))


def test_features_come_as_tfidf_then_the_versions_embeddings_or_stay_tfidf_if_they_fail(capsys):
    retrieval = load_prompt("fewshot-v8").retrieval
    for embedder, expected in ((Vectors(), ["tf-idf", "embeddings"]), (Vectors(fail=True), ["tf-idf"])):
        got = []
        FeatureThread(PAPERS, lambda f, name: got.append((name, f.shape[0])), embedder, retrieval).start().thread.join(30)
        assert [name for name, _ in got] == expected and all(n == len(PAPERS) for _, n in got)
        assert embedder.calls == [(len(PAPERS), retrieval.embedding_layers)]
    assert "paper embeddings failed (RuntimeError: the endpoint is down); choosing papers by TF-IDF" in capsys.readouterr().err
    got = []
    FeatureThread(PAPERS, lambda f, name: got.append(name), Vectors(), load_prompt("fewshot-v4").retrieval).start().thread.join(30)
    assert got == ["tf-idf"]  # a version without embeddings: none asked for


def test_the_command_refuses_bad_input_with_one_line_and_status_2(tmp_path):
    dump = tmp_path / "dump.jsonl"
    dump.write_text("".join(json.dumps({"id": p.id, "title": p.title, "abstract": p.abstract}) + "\n" for p in PAPERS))
    path = tmp_path / "lab.jsonl"
    write(path, {"id": PAPERS[0].id, "labels": {"topic": "robots", "contribution": "method"}})
    result = cli("label", str(dump), "--prompt", "fewshot-v1", "-o", str(path), "--no-browser")
    assert result.exit_code == 2 and "lab.jsonl:1: topic='robots' is not a value of fewshot-v1" in result.stderr
    result = cli("label", str(dump), "--prompt", "fewshot-v1", "--no-browser")
    assert result.exit_code == 2 and "fewshot-v1 has no retrieval pool to add answers to: name the labelled file with -o FILE" in result.stderr
    result = cli("label", str(dump), "--prompt", "fewshot-v8", "--no-browser")
    assert result.exit_code == 2 and "fewshot-v8 is a released version: its pool stays as released. Name the labelled file with -o FILE" in result.stderr
    path.write_text("")
    holder = LabelledWriter(path)
    result = cli("label", str(dump), "--prompt", "fewshot-v1", "-o", str(path), "--no-browser")
    assert result.exit_code == 2 and "open in another labelling session" in result.stderr
    holder.close()


def test_the_default_file_is_the_versions_pool(tmp_path, monkeypatch):
    import importlib

    from .conftest import ROOT, shipped_source

    command = importlib.import_module("summariser.cli.label")
    (tmp_path / "prompts" / "pools").mkdir(parents=True)
    source = shipped_source("fewshot-v4").replace('version = "fewshot-v4"', 'version = "label-test"')
    (tmp_path / "prompts" / "label-test.toml").write_text(source)
    pool = tmp_path / "prompts" / "pools" / "seed-gold.jsonl"
    pool.write_bytes((ROOT / "prompts" / "pools" / "seed-gold.jsonl").read_bytes())
    opened = []

    def bind(session, port):
        opened.append((session.writer.path, session.progress()))
        session.close()
        raise SystemExit(0)

    monkeypatch.setattr(command, "_bind", bind)
    cli("label", str(SEED_DUMP), "--prompt", "label-test", "--no-browser", "--prompts-dir", str(tmp_path / "prompts"))
    path, progress = opened[0]
    assert path == pool
    assert progress.labelled == len(read_labelled(pool).answers("a1")) > 100  # the pool's papers count as a1's answers


# -- the HTTP server, without a browser --


@pytest.fixture
def served(tmp_path):
    from summariser.labelling.server import LabelServer

    s = session(tmp_path / "lab.jsonl")
    server = LabelServer(s, 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    s.close()


def call(server, path: str, body: dict | None = None, host: str | None = None, kind: str = "application/json"):
    request = urllib.request.Request(server.url.rstrip("/") + path, data=None if body is None else json.dumps(body).encode())
    request.add_header("content-type", kind)
    if host:
        request.add_header("host", host)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null") if "json" in resp.headers["content-type"] else resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_server_answers_on_loopback_and_writes_what_the_page_sends(served):
    assert served.server_address[0] == "127.0.0.1"
    status, page = call(served, "/")
    assert status == 200 and b"<script src=\"/page.js\">" in page
    status, reply = call(served, "/api/next?tab=abc")
    pid = reply["paper"]["id"]
    status, saved = call(served, "/api/answer", {"tab": "abc", "id": pid, "labels": labels()})
    assert status == 200 and saved["saved"]["id"] == pid and saved["paper"]["id"] != pid
    assert lines(served.session.writer.path)[0]["labels"] == labels()


def test_the_server_refuses_other_hosts_non_json_posts_and_bad_answers(served):
    assert call(served, "/api/setup", host="evil.example:80")[0] == 403
    assert call(served, "/api/undo", {"tab": "abc"}, kind="text/plain")[0] == 415
    pid = call(served, "/api/next?tab=abc")[1]["paper"]["id"]
    status, error = call(served, "/api/answer", {"tab": "abc", "id": pid, "labels": {"topic": "robots", "contribution": "method"}})
    assert status == 400 and "topic: 'robots' is not one of" in error["error"]
    assert call(served, "/api/answer", {"tab": "a b", "id": pid, "labels": labels()})[0] == 400  # not a tab id
    assert call(served, "/api/nothing")[0] == 404
    assert served.session.writer.path.read_text() == ""
