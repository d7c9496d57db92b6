import io
import json
import sys

import pytest

from summariser.records import InputError, detect_format, paper_id, read_dump

from .conftest import SEED_DUMP

ABSTRACT = " ".join(["This abstract has enough words to be read as an abstract line."] * 4)


def test_seed_dump_noise_is_dropped():
    dump = read_dump(str(SEED_DUMP))
    lines = SEED_DUMP.read_text().splitlines()
    assert dump.format == "text"
    assert len(dump.papers) == 178
    # The two boilerplate lines are skipped and reported by line number.
    assert [line for line, _ in dump.skipped] == [1, 2]
    first = dump.papers[0]
    assert lines[2].startswith("Subscribe")
    assert first.title == lines[2].removeprefix("Subscribe")
    assert first.abstract == lines[3]
    assert first.line == 3
    assert dump.cleaned and dump.cleaned[0][0] == 3
    last = dump.papers[-1]
    assert (last.title, last.abstract) == (lines[-2], lines[-1])
    assert len({p.id for p in dump.papers}) == 178


def test_ids_are_stable_and_ignore_case_and_punctuation():
    assert paper_id("Attention Is All You Need") == paper_id("attention is all you need!")
    assert paper_id("Attention Is All You Need") != paper_id("Attention Is Not All You Need")


def test_jsonl_with_and_without_ids_and_bad_lines(tmp_path):
    path = tmp_path / "papers.jsonl"
    path.write_text(
        json.dumps({"id": "a1", "title": "First", "abstract": "Short abstract one."})
        + "\n{not json\n"
        + json.dumps({"title": "Second", "abstract": "Short abstract two."})
        + "\n"
        + json.dumps({"title": "No abstract"})
        + "\n"
    )
    dump = read_dump(str(path))
    assert [p.id for p in dump.papers] == ["a1", paper_id("Second")]
    assert [p.line for p in dump.papers] == [1, 3]
    reasons = dict(dump.skipped)
    assert reasons[2].startswith("malformed JSON")
    assert reasons[4] == "missing abstract"


def test_csv_and_missing_columns(tmp_path):
    path = tmp_path / "papers.csv"
    path.write_text('title,abstract\n"A, with comma","An abstract, quoted."\nB,Another abstract.\n')
    dump = read_dump(str(path))
    assert [p.title for p in dump.papers] == ["A, with comma", "B"]
    assert dump.papers[0].abstract == "An abstract, quoted."
    bad = tmp_path / "bad.csv"
    bad.write_text("title,summary\nA,B\n")
    with pytest.raises(InputError, match="lacks column"):
        read_dump(str(bad))


def test_json_list(tmp_path):
    path = tmp_path / "papers.json"
    path.write_text(json.dumps([{"title": "T1", "abstract": "A1"}, {"title": "T2", "abstract": "A2"}]))
    assert [p.title for p in read_dump(str(path)).papers] == ["T1", "T2"]


def test_stdin_is_detected_by_content(monkeypatch):
    data = json.dumps({"title": "From stdin", "abstract": "Read from standard input."}) + "\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data.encode())))
    dump = read_dump("-")
    assert dump.format == "jsonl"
    assert dump.papers[0].title == "From stdin"


def test_plain_text_without_noise_and_format_forced(tmp_path):
    path = tmp_path / "listing.dat"
    path.write_text(f"A Title\n{ABSTRACT}\n\nAnother Title\n{ABSTRACT}\n")
    dump = read_dump(str(path), fmt="text")
    assert [p.title for p in dump.papers] == ["A Title", "Another Title"]
    assert dump.skipped == []


def test_duplicates_are_processed_once_and_reported(tmp_path):
    path = tmp_path / "dup.txt"
    path.write_text(f"Same Title\n{ABSTRACT}\nSame title\n{ABSTRACT}\n")
    dump = read_dump(str(path))
    assert len(dump.papers) == 1
    assert dump.skipped == [(3, f"duplicate of the paper at line 1 (id {paper_id('Same Title')}): processed once")]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.txt", "no such file"),
        (lambda d: d, "is a directory"),
        (lambda d: (d / "e.txt").write_text("  \n") and d / "e.txt", "is empty"),
        (lambda d: (d / "b.bin").write_bytes(b"\x00\x01\x02") and d / "b.bin", "binary"),
        (lambda d: (d / "t.txt").write_text("only a title\n") and d / "t.txt", "no papers found"),
    ],
)
def test_unusable_inputs_raise_one_line_errors(tmp_path, make, message):
    with pytest.raises(InputError, match=message) as info:
        read_dump(str(make(tmp_path)))
    assert "\n" not in str(info.value)


def test_detect_format():
    assert detect_format("x.jsonl", "") == "jsonl"
    assert detect_format("x", '{"title": "a"}\n{"title": "b"}') == "jsonl"
    assert detect_format("x", '[{"title": "a"}]') == "json"
    assert detect_format("x", "id,title,abstract\n1,a,b") == "csv"
    assert detect_format("x", "Some title\nSome abstract") == "text"


def test_malformed_csv_is_a_clear_error(tmp_path, monkeypatch):
    import csv

    monkeypatch.setattr(csv, "field_size_limit", csv.field_size_limit)
    csv.field_size_limit(100)
    path = tmp_path / "bad.csv"
    path.write_text('title,abstract\n"unclosed,' + "x" * 500 + "\n")
    with pytest.raises(InputError, match="malformed CSV"):
        read_dump(str(path))


def test_no_papers_message_names_the_first_problem(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"title": "x"}\n')
    with pytest.raises(InputError, match=r"no papers found .*line 1: missing abstract"):
        read_dump(str(path))
