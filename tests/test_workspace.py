"""Packaged prompt versions, and a user's own in a workspace made by `summariser init`."""

import json

import pytest

from summariser.base.errors import PromptError
from summariser.prompting.store import available_versions, load_prompt, packaged_dir, read_lock

from .conftest import SEED_DUMP, cli


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """The working directory is an empty folder outside the checkout."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("SUMMARISER_PROMPTS_DIR", raising=False)
    return folder


def test_the_released_versions_load_from_the_package_anywhere(elsewhere):
    assert set(read_lock()) == set(available_versions()) and len(read_lock()) >= 9
    for name, sha in read_lock().items():
        assert load_prompt(name).sha256 == sha
    assert "summariser/data/prompts" in str(packaged_dir())


def test_init_makes_a_workspace_whose_version_commands_find_by_name(elsewhere):
    made = cli("init", "ws", "--name", "mine")
    assert made.exit_code == 0, made.output
    ws = elsewhere / "ws"
    assert {p.relative_to(ws).as_posix() for p in ws.rglob("*") if p.is_file()} == {
        "prompts/mine.toml", "prompts/pools/seed-gold.jsonl", "evals/gold-template.jsonl", "evals/GUIDE.md", "README.md",
    }
    template = [json.loads(line) for line in (ws / "evals" / "gold-template.jsonl").read_text().splitlines()]
    assert set(template[0]["labels"]) == {"topic", "contribution"}
    # Found from the workspace (./prompts), by --prompts-dir, or by the environment; not elsewhere.
    assert "mine" not in cli("prompts", "list").stdout
    assert "mine\t" in cli("prompts", "list", "--prompts-dir", str(ws / "prompts")).stdout
    mine = load_prompt("mine", ws / "prompts")
    assert mine.meta.status == "experimental" and mine.sha256 != load_prompt("fewshot-v8").sha256
    listed = [line.split("\t") for line in cli("prompts", "list", "--prompts-dir", str(ws / "prompts")).stdout.splitlines()]
    assert [row[3] for row in listed if row[0] == "mine"] == ["draft"]
    again = cli("init", "ws", "--name", "mine")
    assert again.exit_code == 0 and again.output.count("kept ") == 5  # nothing is overwritten


def test_a_users_version_may_not_take_a_packaged_name_with_other_content(elsewhere, monkeypatch):
    mine = elsewhere / "prompts"
    mine.mkdir()
    (mine / "chat-v1.toml").write_bytes((packaged_dir() / "chat-v1.toml").read_bytes())
    monkeypatch.chdir(elsewhere)
    assert load_prompt("chat-v1").sha256 == read_lock()["chat-v1"]  # the same file: no conflict
    (mine / "chat-v1.toml").write_text((packaged_dir() / "chat-v1.toml").read_text() + "# edited\n")
    with pytest.raises(PromptError, match=r"'chat-v1' is both .*elsewhere/prompts/chat-v1.toml and, with other content, .*data/prompts/chat-v1.toml"):
        load_prompt("chat-v1")
    result = cli("run", str(SEED_DUMP), "--prompt", "chat-v1")
    assert result.exit_code == 2 and "give yours another name" in result.stderr


def test_the_environment_names_the_users_folder(elsewhere, monkeypatch, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "zz-mine.toml").write_text((packaged_dir() / "fewshot-v1.toml").read_text().replace('version = "fewshot-v1"', 'version = "zz-mine"'))
    monkeypatch.setenv("SUMMARISER_PROMPTS_DIR", str(folder))
    assert "zz-mine" in available_versions() and load_prompt("zz-mine").version == "zz-mine"


def test_init_refuses_a_packaged_name_and_an_unknown_source(elsewhere):
    taken = cli("init", "ws", "--name", "fewshot-v8")
    assert taken.exit_code == 2 and "packaged version's name" in taken.stderr
    unknown = cli("init", "ws", "--from", "nope")
    assert unknown.exit_code == 2 and "not a packaged version" in unknown.stderr
    assert not (elsewhere / "ws").exists()


def test_a_users_copy_with_its_meta_kept_does_not_become_a_default(elsewhere):
    from summariser.flow.fit import default_version

    mine = elsewhere / "prompts"
    mine.mkdir()
    # "aaa" sorts before every packaged name; it says it is recommended for chat.
    (mine / "aaa.toml").write_text((packaged_dir() / "chat-v1.toml").read_text().replace('version = "chat-v1"', 'version = "aaa"'))
    assert load_prompt("aaa").meta.recommended_for == ["chat"]
    assert default_version("chat") == "chat-v1"
