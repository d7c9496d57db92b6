"""Prompt versions: one TOML file each under prompts/, immutable once released (see versions.lock)."""

from __future__ import annotations

import difflib
import hashlib
import os
import threading
import tomllib
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, Field, PrivateAttr, ValidationError, model_validator

DEFAULT_VERSION = "fewshot-v8"
# Words of each abstract that are embedded after the title, unless a version's [retrieval] sets
# embedding_words: about 150 tokens, near half a second per paper on 2 cores.
EMBEDDING_WORDS = 100
LOCK_NAME = "versions.lock"


class PromptError(Exception):
    """A prompt version is unknown or its file is invalid; the message is for the user."""


class LabelField(BaseModel):
    """A label field and its allowed values, each with a definition (in precedence order)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    values: dict[str, str] = Field(min_length=2)


class Example(BaseModel):
    """A worked example shown to the model."""

    title: str
    abstract: str
    summary: str
    labels: dict[str, str]


class GenerationParams(BaseModel):
    """Sampling settings sent with every call."""

    temperature: float = 0.0
    max_tokens: int = 160
    top_p: float | None = None
    stop: list[str] = []
    seed: int | None = None
    # Token log-probabilities, for label confidence: 1 the chosen token's, N >= 2 also the N most
    # likely alternatives at each place (OpenAI's completions allow 5, its chat API 20).
    logprobs: int | None = Field(default=None, ge=0, le=20)


class OutputSpec(BaseModel):
    """What a valid answer looks like: its wire format and the summary's limits."""

    format: Literal["lines", "json"]
    summary_max_words: int = 35
    # With a grammar, the longest "word" of the summary: without a limit a small model can glue
    # words together to stay under summary_max_words and run out of tokens instead.
    summary_word_max_chars: int | None = Field(default=None, ge=1)


class Retrieval(BaseModel):
    """Few-shot examples chosen per paper from a pool of labelled papers (see retrieval.py)."""

    pool: str  # a JSONL file of examples (title, abstract, summary, labels), relative to the prompt file
    # Examples shown per paper; 0 shows none (the pool then only gives the votes).
    k: int = Field(default=4, ge=0, le=16)
    # Example abstracts are cut to this many words (0: left out), to keep prompts short: retrieved
    # examples differ per paper, so every token of them is evaluated for every paper.
    example_words: int = Field(default=80, ge=0)
    # Neighbour votes (see votes.py): the labels of the `vote_k` most similar pool papers, weighted
    # by similarity, are combined with the model's probabilities for each value (0: no votes).
    # `vote_weight` is the exponent of the votes' share in that product: 0 ignores them.
    vote_k: int = Field(default=0, ge=0, le=100)
    vote_weight: float = Field(default=1.0, ge=0)
    # Whether retrieved examples show their summaries. A small model copies whole phrases from the
    # summaries of similar papers into its own; false shows title and labels only, which still
    # tells the model how such papers are labelled (completion versions with line answers only).
    example_summaries: bool = True
    # How the voting neighbours are found: TF-IDF like the shown examples, or the embedded model's
    # embeddings (embeddings.py), which find papers on the same subject in other words.
    vote_similarity: Literal["tfidf", "embedding"] = "tfidf"
    # What gives the votes: the vote_k nearest neighbours, or a classifier (classifier.py) that a
    # logistic regression fits on the whole pool's embeddings (needs vote_k = 0: no neighbours).
    vote_by: Literal["neighbours", "classifier"] = "neighbours"
    # Words of each abstract embedded after the title (0: all of them); see embeddings.py.
    embedding_words: int = Field(default=EMBEDDING_WORDS, ge=0)
    # Which embedding (0: llama.cpp's pooled final hidden states, embeddings.py; N: the mean
    # hidden states after the model's first N layers, layer_embeddings.py, standardised over
    # the pool).
    embedding_layers: int = Field(default=0, ge=0)

    @property
    def votes(self) -> bool:
        """Whether labels are decided with votes (votes.py) at all."""
        return bool(self.vote_k) or self.vote_by == "classifier"

    @property
    def embeds(self) -> bool:
        """Whether the votes need the embedded model's embeddings."""
        return self.vote_by == "classifier" or (bool(self.vote_k) and self.vote_similarity == "embedding")


class PromptVersion(BaseModel):
    """One prompt version as read from its file."""

    version: str
    description: str
    api: Literal["completion", "chat"]
    instructions: str
    fields: list[LabelField] = Field(min_length=1)
    examples: list[Example] = []
    # The paper's abstract in the prompt is cut to this many words (0: all of it). Every word of
    # it is evaluated for every paper; the votes' embeddings read their own (embedding_words).
    abstract_words: int = Field(default=0, ge=0)
    params: GenerationParams = GenerationParams()
    output: OutputSpec
    retrieval: Retrieval | None = None
    sha256: str = ""  # of the file's bytes (and the pool's, with retrieval), filled in by load_prompt
    pool: list[Example] = []  # the retrieval pool, read by load_prompt
    # Values derived from the version and identical for every paper, built once (see derived).
    _derived: dict[str, object] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _examples_use_allowed_values(self) -> "PromptVersion":
        if self.pool and self.retrieval is None:
            raise ValueError("a pool is only used with [retrieval]")
        lines_completion = (self.api, self.output.format) == ("completion", "lines")
        if self.retrieval and self.retrieval.vote_similarity != "tfidf" and not self.retrieval.vote_k:
            raise ValueError("retrieval.vote_similarity needs vote_k > 0 (it only finds the voting neighbours)")
        if self.retrieval and self.retrieval.vote_by == "classifier" and self.retrieval.vote_k:
            raise ValueError("retrieval.vote_by = 'classifier' needs vote_k = 0 (the classifier uses the whole pool)")
        if self.retrieval and not self.retrieval.k and not self.retrieval.votes:
            raise ValueError("retrieval.k = 0 shows no examples, so it needs votes (vote_k or vote_by = 'classifier')")
        if self.retrieval and self.retrieval.embedding_layers and not self.retrieval.embeds:
            raise ValueError("retrieval.embedding_layers needs votes that use embeddings (vote_by = 'classifier' or vote_similarity = 'embedding')")
        if self.retrieval and not self.retrieval.example_summaries and not lines_completion:
            raise ValueError("retrieval.example_summaries = false needs api = 'completion' and output format 'lines'")
        names = [f.name for f in self.fields]
        if "summary" in names or len(set(names)) != len(names):
            raise ValueError(f"field names must be unique and not 'summary': {names}")
        for where, examples in (("example", self.examples), ("pool example", self.pool)):
            for i, ex in enumerate(examples, start=1):
                for f in self.fields:
                    value = ex.labels.get(f.name)
                    if value not in f.values:
                        raise ValueError(f"{where} {i}: {f.name}={value!r} is not one of {list(f.values)}")
        return self

    def field(self, name: str) -> LabelField:
        """The label field called name."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def derived(self, name: str, build: Callable[["PromptVersion"], Any]) -> Any:
        """A value computed from this version alone (the static prompt prefix, the grammar, the
        retrieval index), built on first use. Worker threads ask at once on the first papers:
        it is built once."""
        with _DERIVING:
            if name not in self._derived:
                self._derived[name] = build(self)
        return self._derived[name]


_DERIVING = threading.Lock()


def prompts_dir() -> Path:
    """Where prompt versions live: $SUMMARISER_PROMPTS, else the project's prompts/ folder."""
    env = os.environ.get("SUMMARISER_PROMPTS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "prompts"


def file_sha256(path: Path) -> str:
    """The content hash that identifies a prompt version."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def available_versions(directory: Path | None = None) -> list[str]:
    """Names of the prompt versions in the prompts folder, sorted."""
    directory = directory or prompts_dir()
    return sorted(p.stem for p in directory.glob("*.toml"))


def resolve_path(version: str, directory: Path | None = None) -> Path:
    """A version name, or a path to a .toml file of the user's own."""
    if version.endswith(".toml") and Path(version).is_file():
        return Path(version)
    path = (directory or prompts_dir()) / f"{version}.toml"
    if not path.is_file():
        known = ", ".join(available_versions(directory)) or "none"
        raise PromptError(f"unknown prompt version {version!r} (known: {known})")
    return path


def load_prompt(version: str = DEFAULT_VERSION, directory: Path | None = None) -> PromptVersion:
    """Load and validate a prompt version by name or path."""
    path = resolve_path(version, directory)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PromptError(f"{path}: invalid TOML: {exc}") from None
    sha = file_sha256(path)
    pool_path = None
    if isinstance(data.get("retrieval"), dict) and "pool" in data["retrieval"]:
        pool_path = path.parent / data["retrieval"]["pool"]
        data["pool"] = _read_pool(pool_path)
    try:
        prompt = PromptVersion.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PromptError(f"{path}: {where}: {first['msg']}") from None
    if prompt.version != path.stem and directory is None and path.parent == prompts_dir():
        raise PromptError(f"{path}: version {prompt.version!r} does not match the file name")
    most = max(prompt.retrieval.k, prompt.retrieval.vote_k) if prompt.retrieval else 0
    if prompt.retrieval and len(prompt.pool) <= most:
        raise PromptError(f"{pool_path}: the pool needs more than {most} examples (k, vote_k)")
    if prompt.retrieval and pool_path is not None:
        # The pool, the retrieval settings (defaults included) and the way examples are chosen are
        # part of the version: changing any of them changes the hash, as editing the file would.
        from .retrieval import RETRIEVAL_VERSION

        # Settings added after fewshot-v2 are left out while unused or at their default, so older
        # versions keep their hash (and their cached answers).
        retrieval = prompt.retrieval
        unused = {"vote_k", "vote_weight"} if not retrieval.votes else set()
        unused |= {"vote_k"} if retrieval.vote_by == "classifier" else set()
        unused |= {"example_summaries"} if retrieval.example_summaries else set()
        unused |= {"vote_similarity"} if retrieval.vote_similarity == "tfidf" else set()
        unused |= {"vote_by"} if retrieval.vote_by == "neighbours" else set()
        unused |= {"embedding_words"} if retrieval.embedding_words == EMBEDDING_WORDS or not retrieval.embeds else set()
        unused |= {"embedding_layers"} if not retrieval.embedding_layers or not retrieval.embeds else set()
        settings = retrieval.model_dump_json(exclude=unused)
        parts = [sha, file_sha256(pool_path), settings, RETRIEVAL_VERSION]
        if retrieval.votes:
            from .votes import VOTES_VERSION

            parts.append(VOTES_VERSION)
        if retrieval.embeds:
            from .embeddings import embedding_version

            parts.append(embedding_version(retrieval.embedding_layers))
        if retrieval.vote_by == "classifier":
            from .classifier import CLASSIFIER_VERSION

            parts.append(CLASSIFIER_VERSION)
        sha = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    prompt.sha256 = sha
    return prompt


def _read_pool(path: Path) -> list[dict[str, object]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise PromptError(f"{path}: retrieval pool: {exc.strerror}") from None
    rows = []
    for n, line in enumerate(lines, start=1):
        if line.strip():
            try:
                rows.append(Example.model_validate_json(line).model_dump())
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "row"
                raise PromptError(f"{path}:{n}: {where}: {first['msg']}") from None
    return rows


def read_lock(directory: Path | None = None) -> dict[str, str]:
    """Released versions and their recorded hashes."""
    lock = (directory or prompts_dir()) / LOCK_NAME
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
        pa.read_text(), pb.read_text()
    except UnicodeDecodeError as exc:
        raise PromptError(f"not a UTF-8 prompt file: {exc}") from None
    return "".join(
        difflib.unified_diff(
            pa.read_text().splitlines(keepends=True),
            pb.read_text().splitlines(keepends=True),
            fromfile=pa.name,
            tofile=pb.name,
        )
    )
