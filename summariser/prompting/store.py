"""Finding, loading and hashing prompt versions: one TOML file each under prompts/, immutable once
released (see versions.lock)."""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tomllib
from pathlib import Path

from pydantic import ValidationError

from ..base import versions
from ..base.data import packaged
from ..base.errors import InputError, PromptError
from ..labelled import read_labelled
from ..base.versions import DEFAULT_VERSION
from .version import Example, PromptVersion, Retrieval

__all__ = ["DEFAULT_VERSION", "available_versions", "diff_prompts", "file_sha256", "load_prompt", "packaged_dir", "read_lock", "resolve_path", "user_dir"]
LOCK_NAME = "versions.lock"
# The catalogue table, last in a version's file and outside its hash.
_META = re.compile(rb"^\[meta\][ \t]*(#[^\n]*)?\r?$", re.M)
_TABLE = re.compile(rb"^[ \t]*\[", re.M)


def packaged_dir() -> Path:
    """The released versions that ship inside the package (summariser/data/prompts)."""
    return packaged("prompts")


def user_dir(directory: Path | None = None) -> Path | None:
    """A user's own versions: `directory` (--prompts-dir), else $SUMMARISER_PROMPTS_DIR, else a
    prompts/ folder in the working directory (a workspace made by `summariser init`)."""
    if directory is not None:
        return Path(directory)
    env = os.environ.get("SUMMARISER_PROMPTS_DIR")
    if env:
        return Path(env)
    here = Path.cwd() / "prompts"
    return here if here.is_dir() else None


def search_dirs(directory: Path | None = None) -> list[Path]:
    """Where versions are looked up: the user's folder, then the packaged one."""
    dirs = [d for d in (user_dir(directory), packaged_dir()) if d is not None]
    return [d for i, d in enumerate(dirs) if d.resolve() not in {e.resolve() for e in dirs[:i]}]


def file_sha256(path: Path) -> str:
    """The content hash that identifies a prompt version: of the file's bytes above its [meta]
    table (all of them without one). Comments and descriptions count: a released file never
    changes, so there is nothing to gain from a canonical form, and bytes need none."""
    data = path.read_bytes()
    meta = _META.search(data)
    return hashlib.sha256(data[: meta.start()] if meta else data).hexdigest()


def _check_meta_last(path: Path, parsed: dict[str, object]) -> None:
    """The hash leaves out what follows the [meta] header: that must be the [meta] table alone."""
    data = path.read_bytes()
    meta = _META.search(data)
    if meta is None:
        return
    try:
        above = None if _TABLE.search(data, meta.end()) else tomllib.loads(data[: meta.start()].decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):  # the header line stood inside a string
        above = None
    if above != {k: v for k, v in parsed.items() if k != "meta"}:
        raise PromptError(f"{path}: [meta] must be the file's last table (it is left out of the version's hash)")


def available_versions(directory: Path | None = None) -> list[str]:
    """Names of the versions in the user's folder and the packaged one, sorted."""
    return sorted({p.stem for d in search_dirs(directory) for p in d.glob("*.toml")})


def resolve_path(version: str, directory: Path | None = None) -> Path:
    """A version name (the user's folder first, then the packaged versions), or a path to a .toml
    file of the user's own. A name in both places with other content is an error: a user's
    version must not silently stand in for a released one of the same name."""
    if version.endswith(".toml") and Path(version).is_file():
        return Path(version)
    found = [d / f"{version}.toml" for d in search_dirs(directory) if (d / f"{version}.toml").is_file()]
    if not found:
        known = ", ".join(available_versions(directory)) or "none"
        raise PromptError(f"unknown prompt version {version!r} (known: {known})")
    if len(found) > 1 and found[0].read_bytes() != found[1].read_bytes():
        raise PromptError(f"prompt version {version!r} is both {found[0]} and, with other content, {found[1]}: give yours another name")
    return found[-1]  # a copy of a packaged version is the packaged one (and reads its pool)


def load_prompt(version: str = DEFAULT_VERSION, directory: Path | None = None, embedding: str | None = None) -> PromptVersion:
    """Load and validate a prompt version by name or path. embedding: the identity of the
    embeddings its votes will use, when not the embedded model's (it enters the hash, so answers
    decided with other embeddings are cached apart)."""
    path = resolve_path(version, directory)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PromptError(f"{path}: invalid TOML: {exc}") from None
    _check_meta_last(path, data)
    pool_path = None
    if isinstance(data.get("retrieval"), dict) and "pool" in data["retrieval"]:
        pool_path = path.parent / data["retrieval"]["pool"]
        # Read once: a label session appending meanwhile cannot make the hash and the pool differ.
        pool_bytes = pool_path.read_bytes() if pool_path.is_file() else None
        data["pool"] = _read_pool(pool_path, pool_bytes, data.get("fields"), learns=data["retrieval"].get("vote_weight") == "auto")
    try:
        prompt = PromptVersion.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PromptError(f"{path}: {where}: {first['msg']}") from None
    named = not (version.endswith(".toml") and Path(version).is_file())
    if named and prompt.version != path.stem:
        raise PromptError(f"{path}: version {prompt.version!r} does not match the file name")
    most = max(prompt.retrieval.k, prompt.retrieval.vote_k) if prompt.retrieval else 0
    # A learning version with too few labels is still usable: the model alone decides.
    if prompt.retrieval and len(prompt.pool) <= most and not prompt.retrieval.learns:
        raise PromptError(f"{pool_path}: the pool needs more than {most} examples (k, vote_k)")
    prompt.sha256 = prompt.request_sha256 = sha = file_sha256(path)
    if prompt.retrieval and pool_path is not None:
        prompt.sha256 = prompt.request_sha256 = _with_pool(sha, pool_bytes or b"", prompt.retrieval, embedding)
        if prompt.retrieval.learns and not prompt.retrieval.k:  # no request shows the pool
            prompt.request_sha256 = _with_pool(sha, None, prompt.retrieval, embedding)
    if prompt.output.summary == "abstract":  # its summaries come from code: that code is part of it
        prompt.sha256, prompt.request_sha256 = (
            hashlib.sha256(f"{h}\n{versions.EXTRACT_VERSION}".encode()).hexdigest() for h in (prompt.sha256, prompt.request_sha256)
        )
    prompt.draft = read_lock(path.parent).get(prompt.version) != prompt.sha256
    return prompt


def _with_pool(file_sha: str, pool: bytes | None, retrieval: Retrieval, embedding: str | None) -> str:
    """The pool, the retrieval settings (defaults included) and the way examples are chosen are
    part of the version: changing any of them changes the hash, as editing the file would."""
    # Settings added after fewshot-v2 are left out while unused or at their default, so older
    # versions keep their hash (and their cached answers).
    unused = {"vote_k", "vote_weight"} if not retrieval.votes else set()
    unused |= {"vote_k"} if retrieval.vote_by == "classifier" else set()
    unused |= {"example_summaries"} if retrieval.example_summaries else set()
    unused |= {"vote_similarity"} if retrieval.vote_similarity == "tfidf" else set()
    unused |= {"vote_by"} if retrieval.vote_by == "neighbours" else set()
    unused |= {"embedding_words"} if retrieval.embedding_words == versions.EMBEDDING_WORDS or not retrieval.embeds else set()
    unused |= {"embedding_layers"} if not retrieval.embedding_layers or not retrieval.embeds else set()
    unused |= {"embedding_question"} if not retrieval.embedding_question else set()
    return versions.version_hash(
        file_sha,
        hashlib.sha256(pool).hexdigest() if pool is not None else "",
        retrieval.model_dump_json(exclude=unused),
        votes=retrieval.votes,
        embeds=retrieval.embeds,
        layers=retrieval.embedding_layers,
        classifier=retrieval.vote_by == "classifier",
        embedding=embedding,
        tuned=retrieval.learns,
        last=bool(retrieval.embedding_question),
    )


def _read_pool(path: Path, data: bytes | None, fields: object, learns: bool) -> list[dict[str, object]]:
    """The pool's papers: the primary annotator's current answers in a labelled file (a learning
    version's may be missing or empty). A value outside a field's set is refused with its line."""
    if data is None and not learns:
        raise PromptError(f"{path}: retrieval pool: no such file")
    try:
        answers = read_labelled(path, data or b"").answers()
    except InputError as exc:
        raise PromptError(f"retrieval pool: {exc}") from None
    allowed = {f["name"]: list(f.get("values", {})) for f in fields if isinstance(f, dict)} if isinstance(fields, list) else {}
    rows = []
    for n, row in answers:
        for name, values in allowed.items():
            if row.labels.get(name) not in values:
                raise PromptError(
                    f"{path}:{n}: {name}={row.labels.get(name)!r} is not one of {values}: correct or remove that line "
                    "(a value renamed in the version must be renamed in its labelled file too)"
                )
        if not row.abstract:
            raise PromptError(f"{path}:{n}: a pool paper needs its abstract")
        rows.append(Example(title=row.title, abstract=row.abstract, summary=row.summary or "", labels=row.labels, id=row.id).model_dump())
    return rows


def read_lock(directory: Path | None = None) -> dict[str, str]:
    """Released versions and their recorded hashes: in `directory`, else the packaged lock."""
    lock = (directory or packaged_dir()) / LOCK_NAME
    if not lock.is_file():
        return {}
    entries = {}
    for line in lock.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            version, sha = line.split()
            entries[version] = sha
    return entries


def diff_prompts(a: str, b: str, directory: Path | None = None) -> str:
    """A unified diff between the files of two prompt versions."""
    pa, pb = resolve_path(a, directory), resolve_path(b, directory)
    try:
        ta, tb = pa.read_text(), pb.read_text()
    except UnicodeDecodeError as exc:
        raise PromptError(f"not a UTF-8 prompt file: {exc}") from None
    return "".join(difflib.unified_diff(ta.splitlines(keepends=True), tb.splitlines(keepends=True), fromfile=pa.name, tofile=pb.name))
