"""Drafts: a user's copy of a version to edit (`prompts new`), and its release into the lock
(`prompts release`), after which its file and labelled file must not change."""

from __future__ import annotations

import re
from pathlib import Path

from ..base.errors import PromptError
from .store import LOCK_NAME, load_prompt, read_lock, resolve_path

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_META = re.compile(r"^\[meta\][^\n]*\n.*\Z", re.M | re.S)
# A draft's classifier also reads the model's state after this question (version.py,
# embedding_question): a taxonomy of one's own is most often one of areas (docs/labelling.md).
DRAFT_QUESTION = "The research area of this paper is"


def new_draft(name: str, source: str, directory: Path) -> tuple[Path, bool]:
    """Copy version `source` to directory/NAME.toml as a draft whose labels learn from
    pools/NAME.jsonl (made empty). Returns the file, and whether the copy learns (a source
    without a classifier over embeddings cannot: its labels stay the model's)."""
    if not _NAME.match(name):
        raise PromptError(f"{name!r}: a version name is letters, digits, '.', '_' and '-'")
    target = directory / f"{name}.toml"
    if target.exists():
        raise PromptError(f"{target} exists already")
    text = resolve_path(source, directory).read_text(encoding="utf-8")
    text, found = re.subn(r'^version = "[^"\n]*"', f'version = "{name}"', text, count=1, flags=re.M)
    if not found:
        raise PromptError(f"{source}: no version line to rename")
    text = _META.sub("", text).rstrip("\n") + '\n\n[meta]\nstatus = "draft"\n'
    learns = bool(re.search(r'^vote_by = "classifier"', text, re.M))
    if learns:
        text = re.sub(r"^pool = .*$", f'pool = "pools/{name}.jsonl"', text, count=1, flags=re.M)
        if re.search(r"^vote_weight = .*$", text, re.M):
            text = re.sub(r"^vote_weight = .*$", 'vote_weight = "auto"', text, count=1, flags=re.M)
        else:
            text = re.sub(r'^(vote_by = "classifier")$', r'\1\nvote_weight = "auto"', text, count=1, flags=re.M)
        if re.search(r"^embedding_layers = [1-9]", text, re.M) and not re.search(r"^embedding_question = ", text, re.M):
            text = re.sub(r'^(vote_weight = "auto")$', rf'\1\nembedding_question = "{DRAFT_QUESTION}"', text, count=1, flags=re.M)
        (directory / "pools").mkdir(parents=True, exist_ok=True)
        (directory / "pools" / f"{name}.jsonl").touch()
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target, learns


def release(name: str, directory: Path) -> str:
    """Freeze a draft: its status becomes experimental and its hash (file above [meta], labelled
    file, settings) goes into directory's versions.lock. Returns the hash."""
    path = directory / f"{name}.toml"
    if not path.is_file():
        raise PromptError(f"{path}: no such draft (releasing works on your own versions)")
    lock = read_lock(directory)
    if name in lock:
        raise PromptError(f"{name} is released already (hash {lock[name][:12]}); copy it to a new draft to change it")
    load_prompt(str(path))  # valid before anything is written
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r'^status = "draft"$', 'status = "experimental"', text, count=1, flags=re.M), encoding="utf-8")
    sha = load_prompt(str(path)).sha256
    with open(directory / LOCK_NAME, "a", encoding="utf-8") as f:
        f.write(f"{name} {sha}\n")
    return sha
