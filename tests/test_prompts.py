import pytest

from summariser.prompting import store as prompts
from summariser.prompting.store import PromptError, load_prompt, read_lock

from .conftest import shipped_source

SHIPPED = prompts.available_versions()


def test_shipped_versions_load_and_default_exists():
    assert prompts.DEFAULT_VERSION in SHIPPED
    assert len(SHIPPED) >= 2
    for name in SHIPPED:
        p = load_prompt(name)
        assert p.version == name
        assert [f.name for f in p.fields] == ["topic", "contribution"]


@pytest.mark.parametrize("name", SHIPPED)
def test_released_versions_never_change(name):
    """A released prompt file (and its example pool) is frozen: change a prompt by adding a new version."""
    lock = read_lock()
    assert name in lock, f"{name} is not released in prompts/versions.lock"
    assert load_prompt(name).sha256 == lock[name], f"prompts/{name}.toml or its pool changed after release; add a new version instead"


def test_default_fields_follow_the_labelling_precedence():
    p = load_prompt(prompts.DEFAULT_VERSION)
    assert list(p.field("topic").values) == [
        "health", "science", "society", "reinforcement-learning", "vision-audio", "language", "ml-methods", "other",
    ]
    assert set(p.field("contribution").values) == {
        "method", "dataset-benchmark", "empirical-study", "model-release", "survey", "theory", "position",
    }


def test_hash_is_of_the_file_bytes(tmp_path):
    src = shipped_source("fewshot-v1")
    path = tmp_path / "mine.toml"
    path.write_text(src)
    a = load_prompt(str(path)).sha256
    path.write_text(src + "\n# a comment changes the hash\n")
    assert load_prompt(str(path)).sha256 != a


def test_unknown_version_lists_known_ones():
    with pytest.raises(PromptError, match="unknown prompt version 'nope'.*fewshot-v1"):
        load_prompt("nope")


def test_example_with_label_outside_the_set_is_rejected(tmp_path):
    src = shipped_source("fewshot-v1")
    path = tmp_path / "bad.toml"
    path.write_text(src.replace('topic = "language"', 'topic = "linguistics"', 1))
    with pytest.raises(PromptError, match="linguistics"):
        load_prompt(str(path))


def test_diff_shows_changed_lines():
    out = prompts.diff_prompts("fewshot-v1", "chat-v1")
    assert out.startswith("--- fewshot-v1.toml\n+++ chat-v1.toml")
    assert '-api = "completion"' in out and '+api = "chat"' in out
    assert prompts.diff_prompts("fewshot-v1", "fewshot-v1") == ""


def test_a_label_field_may_not_be_called_summary(tmp_path):
    src = shipped_source("fewshot-v1")
    path = tmp_path / "bad.toml"
    path.write_text(src.replace('name = "contribution"', 'name = "summary"'))
    with pytest.raises(PromptError, match="not 'summary'"):
        load_prompt(str(path))


def test_a_retrieval_pool_that_is_missing_or_has_bad_labels_is_refused(tmp_path):
    src = shipped_source("fewshot-v2")
    path = tmp_path / "mine.toml"
    path.write_text(src)
    with pytest.raises(PromptError, match="retrieval pool: no such file"):
        load_prompt(str(path))
    (tmp_path / "pools").mkdir()
    pool = (prompts.packaged_dir() / "pools" / "seed-gold.jsonl").read_text()
    (tmp_path / "pools" / "seed-gold.jsonl").write_text(pool.replace('"topic": "health"', '"topic": "medicine"', 1))
    # The line is named, so the user can find it.
    line = next(n for n, row in enumerate(pool.splitlines(), 1) if '"topic": "health"' in row)
    with pytest.raises(PromptError, match=rf"seed-gold.jsonl:{line}: topic='medicine' is not one of"):
        load_prompt(str(path))


def test_the_meta_table_is_outside_the_hash_and_must_come_last(tmp_path):
    src = shipped_source("fewshot-v1")
    path = tmp_path / "mine.toml"
    path.write_text(src)
    bare = load_prompt(str(path))
    assert bare.meta.status == "experimental" and bare.meta.requires is None  # a user's version needs no [meta]
    path.write_text(src + '[meta]\n# status may change after release\nstatus = "superseded"\nrequires = ["completions"]\n')
    marked = load_prompt(str(path))
    assert marked.sha256 == bare.sha256 and marked.meta.status == "superseded"
    path.write_text(src + '[meta]\nstatus = "superseded"\n\n[more]\nx = 1\n')
    with pytest.raises(PromptError, match=r"\[meta\] must be the file's last table"):
        load_prompt(str(path))


def test_declared_requirements_must_match_the_settings(tmp_path):
    (tmp_path / "pools").mkdir()
    (tmp_path / "pools" / "seed-gold.jsonl").write_text((prompts.packaged_dir() / "pools" / "seed-gold.jsonl").read_text())
    path = tmp_path / "mine.toml"
    path.write_text(shipped_source("fewshot-v8") + '[meta]\nstatus = "experimental"\nrequires = ["completions", "logprobs"]\n')
    with pytest.raises(PromptError, match="meta.requires .* need .*local-embeddings"):
        load_prompt(str(path))


def test_every_shipped_version_states_status_and_requirements():
    recommended = {}
    for name in SHIPPED:
        meta = load_prompt(name).meta
        assert meta.requires is not None, f"{name} has no [meta] requires"
        for kind in meta.recommended_for:
            recommended.setdefault(kind, []).append(name)
    # One recommended version per endpoint kind, the default among them.
    assert {k: len(v) for k, v in recommended.items()} == {"embedded": 1, "completion": 1, "chat": 1}
    assert prompts.DEFAULT_VERSION in recommended["embedded"]


def test_prompts_list_shows_status_and_requirements():
    from .conftest import cli

    lines = {line.split("\t")[0]: line.split("\t") for line in cli("prompts", "list").stdout.splitlines()}
    default = lines[f"{prompts.DEFAULT_VERSION} (default: embedded)"]
    assert default[3] == "released" and default[4] == "recommended for embedded"
    assert default[5] == "requires: completions, logprobs, local-embeddings"
    assert lines["chat-v1 (default: chat)"][4:6] == ["recommended for chat", "requires: -"]
    assert lines["fewshot-v4 (default: completion)"][4] == "recommended for completion"
    assert lines["fewshot-v1"][4] == "superseded"


def test_a_meta_header_inside_a_string_or_with_a_comment_is_handled(tmp_path):
    src = shipped_source("fewshot-v1")
    path = tmp_path / "mine.toml"
    path.write_text(src + "[meta]  # catalogue facts\nstatus = \"superseded\"\n")
    assert load_prompt(str(path)).meta.status == "superseded"
    tricky = src.replace('instructions = """', 'instructions = """\n[meta]\n', 1)
    path.write_text(tricky)
    with pytest.raises(PromptError, match=r"\[meta\] must be the file's last table"):
        load_prompt(str(path))


def test_errors_that_cross_processes_keep_what_they_carry():
    import pickle

    from summariser.base.errors import InvalidAnswer, RequestError
    from summariser.base.types import Usage

    invalid = pickle.loads(pickle.dumps(InvalidAnswer("no labels", 4, "text", Usage(prompt_tokens=3))))
    assert (str(invalid), invalid.attempts, invalid.last_answer, invalid.usage.prompt_tokens) == ("invalid answer after 4 tries: no labels", 4, "text", 3)
    request = pickle.loads(pickle.dumps(RequestError("HTTP 500: boom", 8)))
    assert (str(request), request.attempts) == ("HTTP 500: boom", 8)
