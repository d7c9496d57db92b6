"""Bad input through the command line: a one-line message naming the file (and line), exit 2
when nothing can be processed, the rest processed otherwise, and never a traceback."""

import json

import pytest

from summariser.records import MAX_ABSTRACT_CHARS, read_dump

from .conftest import cli, FAKE_ENDPOINT_PROMPT, GOOD
from .fake_server import FakeServer, Reply

ABSTRACT = " ".join(["This abstract has enough words to be read as an abstract line."] * 4)




def run_cli(server_url, path, *args):
    args = ["run", "--base-url", server_url, "--model", "fake", *FAKE_ENDPOINT_PROMPT, str(path), *args]
    result = cli(*args)
    # Any exception other than the exit itself would be a traceback for the user.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def rows_of(result):
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    "name, make, message",
    [
        ("missing file", lambda d: d / "missing.txt", "missing.txt: no such file"),
        ("directory", lambda d: d, "is a directory, expected a file"),
        ("empty file", lambda d: _write(d / "e.jsonl", b"\n \n"), "e.jsonl: is empty"),
        ("binary file", lambda d: _write(d / "b.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "b.txt: looks like a binary file"),
        ("titles only", lambda d: _write(d / "t.txt", b"A Title\nAnother Title\n"), "t.txt: no papers found"),
        ("CSV without abstract column", lambda d: _write(d / "c.csv", b"id,title,summary\n1,A,B\n"), "c.csv:1: CSV header lacks column(s) abstract"),
        ("JSONL without the fields", lambda d: _write(d / "f.jsonl", b'{"name": "x", "text": "y"}\n'), "f.jsonl: no papers found (read as jsonl; a paper needs a title and an abstract; line 1: missing title and abstract)"),
        ("malformed JSON file", lambda d: _write(d / "j.json", b'[{"title": "a",\n "abstract": }]'), "j.json:2: malformed JSON"),
    ],
)
def test_input_that_cannot_be_processed_exits_2_with_one_line(tmp_path, name, make, message):
    result = run_cli("http://127.0.0.1:9/v1", make(tmp_path))
    assert result.exit_code == 2, name
    assert message in result.stderr, (name, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_unknown_prompt_version_exits_2_naming_the_known_ones(tmp_path):
    path = _write(tmp_path / "p.jsonl", json.dumps({"title": "T", "abstract": ABSTRACT}).encode())
    result = run_cli("http://127.0.0.1:9/v1", path, "--prompt", "fewshot-v99")
    assert result.exit_code == 2
    assert "unknown prompt version 'fewshot-v99' (known: " in result.stderr and "fewshot-v1" in result.stderr


def test_text_dump_reports_unpaired_titles_and_abstracts_by_line_and_processes_the_rest(tmp_path):
    path = _write(
        tmp_path / "d.txt",
        f"Orphan Title Without Abstract\nGood Title\n{ABSTRACT}\n{ABSTRACT} An orphan abstract.\nLast Title\n{ABSTRACT} Last.\n".encode(),
    )
    with FakeServer([Reply(text=GOOD)]) as srv:
        result = run_cli(srv.url, path)
    assert result.exit_code == 0
    assert [r["title"] for r in rows_of(result)] == ["Good Title", "Last Title"]
    assert f"{path}:1: skipped: a title (or page text) with no abstract line after it" in result.stderr
    assert f"{path}:4: skipped: an abstract with no title line before it" in result.stderr
    assert "2 input line(s) skipped" in result.stderr


def test_jsonl_bad_lines_are_reported_with_line_numbers_and_the_rest_processed(tmp_path):
    lines = [
        json.dumps({"title": "First", "abstract": ABSTRACT}),
        '{"title": "Broken", "abstract": ',
        json.dumps({"title": "No abstract"}),
        json.dumps({"abstract": ABSTRACT + " untitled"}),
        json.dumps({"title": "first", "abstract": ABSTRACT}),  # the same paper again (case differs)
        json.dumps({"title": "Second", "abstract": ABSTRACT + " second"}),
    ]
    path = _write(tmp_path / "d.jsonl", "\n".join(lines).encode())
    with FakeServer([Reply(text=GOOD)]) as srv:
        result = run_cli(srv.url, path)
        assert len(srv.requests) == 2  # the duplicate is sent once
    assert result.exit_code == 0
    assert [r["title"] for r in rows_of(result)] == ["First", "Second"]
    assert f"{path}:2: skipped: malformed JSON" in result.stderr
    assert f"{path}:3: skipped: missing abstract" in result.stderr
    assert f"{path}:4: skipped: missing title" in result.stderr
    assert f"{path}:5: skipped: duplicate of the paper at line 1" in result.stderr
    assert "2 papers" in result.stderr and "4 input line(s) skipped" in result.stderr


def test_csv_rows_missing_a_field_are_reported(tmp_path):
    path = _write(tmp_path / "d.csv", f'title,abstract\nGood,"{ABSTRACT}"\n,"{ABSTRACT} x"\nNo abstract,\n'.encode())
    with FakeServer([Reply(text=GOOD)]) as srv:
        result = run_cli(srv.url, path)
    assert result.exit_code == 0
    assert [r["title"] for r in rows_of(result)] == ["Good"]
    assert f"{path}:3: skipped: missing title" in result.stderr
    assert f"{path}:4: skipped: missing abstract" in result.stderr


def test_json_lists_are_reported_by_item_and_csv_rows_by_their_first_line(tmp_path):
    items = [{"title": "Good", "abstract": ABSTRACT}, {"title": "No abstract"}]
    json_path = _write(tmp_path / "d.json", json.dumps(items, indent=2).encode())
    csv_path = _write(tmp_path / "d.csv", f'title,abstract\n"A title\nover two lines","{ABSTRACT}"\n"No abstract",\n'.encode())
    with FakeServer([Reply(text=GOOD)]) as srv:
        from_json = run_cli(srv.url, json_path)
        from_csv = run_cli(srv.url, csv_path)
    assert f"{json_path}: item 2: skipped: missing abstract" in from_json.stderr
    assert f"{csv_path}:4: skipped: missing abstract" in from_csv.stderr  # the row after a 2-line one


def test_non_utf8_text_is_decoded_with_replacement_and_reported(tmp_path):
    latin1 = f"Caf\xe9 Title\n{ABSTRACT} na\xefve\n".encode("latin-1")
    path = _write(tmp_path / "l.txt", latin1)
    with FakeServer([Reply(text=GOOD)]) as srv:
        result = run_cli(srv.url, path)
    assert result.exit_code == 0
    assert rows_of(result)[0]["title"] == "Caf\ufffd Title"
    assert f"{path}:1: not valid UTF-8: 2 invalid byte sequence(s) replaced with U+FFFD" in result.stderr


def test_utf16_and_byte_order_marks_are_read(tmp_path):
    text = json.dumps({"title": "T\u00e9", "abstract": ABSTRACT}) + "\n"
    for name, data in (("a.jsonl", text.encode("utf-16")), ("b.jsonl", b"\xef\xbb\xbf" + text.encode())):
        dump = read_dump(str(_write(tmp_path / name, data)))
        assert [p.title for p in dump.papers] == ["T\u00e9"] and dump.cleaned == []


def test_an_over_long_abstract_is_truncated_with_a_warning_in_its_row(tmp_path):
    latex = r"We prove \(\sum_{i=1}^{n} x_i^2 \leq \epsilon\) holds. " * 4000  # ~200 KB
    path = _write(tmp_path / "d.jsonl", (json.dumps({"title": "Long", "abstract": latex}) + "\n" + json.dumps({"title": "Short", "abstract": ABSTRACT})).encode())
    with FakeServer([Reply(text=GOOD)]) as srv:
        result = run_cli(srv.url, path)
        sent = srv.requests[0]["prompt"] if "Long" in srv.requests[0]["prompt"] else srv.requests[1]["prompt"]
    assert result.exit_code == 0
    long_row, short_row = rows_of(result)
    assert long_row["error"] is None and long_row["labels"]["topic"] == "language"
    assert long_row["warning"].startswith(f"abstract truncated from {len(latex.strip()):,} to ")
    assert short_row["warning"] is None
    sentence = r"We prove \(\sum_{i=1}^{n} x_i^2 \leq \epsilon\) holds. "
    assert 0 < sent.count(sentence) <= MAX_ABSTRACT_CHARS // len(sentence)  # only what fits was sent
    assert f"{path}:1: abstract truncated" in result.stderr
    assert "1 with a warning" in result.stderr


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
