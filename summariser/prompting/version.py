"""A prompt version as read from its TOML file: instructions, label fields, worked examples,
generation settings, the answer's shape, an optional retrieval pool, and catalogue metadata."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from ..base.versions import EMBEDDING_WORDS

Requirement = Literal["completions", "logprobs", "local-embeddings"]
Status = Literal["recommended", "superseded", "experimental", "draft"]
EndpointKind = Literal["embedded", "completion", "chat"]


class LabelField(BaseModel):
    """A label field and its allowed values, each with a definition (in precedence order)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    values: dict[str, str] = Field(min_length=2)


class Example(BaseModel):
    """A worked example shown to the model, or a labelled paper of a version's pool (whose
    reference summary may be missing: labelling one is optional)."""

    title: str
    abstract: str
    summary: str = ""
    labels: dict[str, str]
    id: str = ""  # a pool paper's id in its labelled file (the dump's own id, where it had one)


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
    # Who writes the summary: the model, or "abstract": the abstract's contribution sentence
    # (prompting/extract.py), written into the prompt so the model only gives the labels.
    summary: Literal["model", "abstract"] = "model"
    summary_max_words: int = 35
    # With a grammar, the longest "word" of the summary: without a limit a small model can glue
    # words together to stay under summary_max_words and run out of tokens instead.
    summary_word_max_chars: int | None = Field(default=None, ge=1)


class Retrieval(BaseModel):
    """Few-shot examples chosen per paper from a pool of labelled papers (see prompting/retrieval.py)."""

    pool: str  # a JSONL file of examples (title, abstract, summary, labels), relative to the prompt file
    # Examples shown per paper; 0 shows none (the pool then only gives the votes).
    k: int = Field(default=4, ge=0, le=16)
    # Example abstracts are cut to this many words (0: left out), to keep prompts short: retrieved
    # examples differ per paper, so every token of them is evaluated for every paper.
    example_words: int = Field(default=80, ge=0)
    # Neighbour votes (see labels/votes.py): the labels of the `vote_k` most similar pool papers, weighted
    # by similarity, are combined with the model's probabilities for each value (0: no votes).
    # `vote_weight` is the exponent of the votes' share in that product: 0 ignores them.
    vote_k: int = Field(default=0, ge=0, le=100)
    # "auto": the weight and the classifier's regularisation are chosen per field by
    # cross-validation on the pool (labels/tuning.py), for a pool that is the user's own labels.
    vote_weight: Annotated[float, Field(ge=0)] | Literal["auto"] = 1.0
    # Whether retrieved examples show their summaries. A small model copies whole phrases from the
    # summaries of similar papers into its own; false shows title and labels only, which still
    # tells the model how such papers are labelled (completion versions with line answers only).
    example_summaries: bool = True
    # How the voting neighbours are found: TF-IDF like the shown examples, or the embedded model's
    # embeddings (flow/embedding_store.py, engine/embedder.py), which find papers on the same subject in other words.
    vote_similarity: Literal["tfidf", "embedding"] = "tfidf"
    # What gives the votes: the vote_k nearest neighbours, or a classifier (labels/classifier.py) that a
    # logistic regression fits on the whole pool's embeddings (needs vote_k = 0: no neighbours).
    vote_by: Literal["neighbours", "classifier"] = "neighbours"
    # Words of each abstract embedded after the title (0: all of them); see prompting/retrieval.py, embedding_text.
    embedding_words: int = Field(default=EMBEDDING_WORDS, ge=0)
    # Which embedding (0: llama.cpp's pooled final hidden states; N: the mean
    # hidden states after the model's first N layers, engine/layers.py, standardised over
    # the pool).
    embedding_layers: int = Field(default=0, ge=0)
    # An unfinished sentence asked after each paper's text ("The research area of this paper
    # is"): the hidden state of its last token after embedding_layers layers, where the model
    # gathers what would come next, is kept beside their mean (engine/layers.py). On the seed
    # papers it raised the classifier's agreement on topic and on a second taxonomy, not on
    # contribution types (docs/labelling.md). Empty: the mean alone.
    embedding_question: str = ""

    @property
    def votes(self) -> bool:
        """Whether labels are decided with votes (labels/votes.py) at all."""
        return bool(self.vote_k) or self.vote_by == "classifier"

    @property
    def learns(self) -> bool:
        """Whether how labels are decided is learnt from the pool (vote_weight = "auto")."""
        return self.vote_weight == "auto"

    @property
    def embeds(self) -> bool:
        """Whether the votes need the embedded model's embeddings."""
        return self.vote_by == "classifier" or (bool(self.vote_k) and self.vote_similarity == "embedding")


class Meta(BaseModel):
    """Catalogue facts about a version, in the [meta] table at the end of its file. They are not
    part of the version's hash (store.file_sha256): marking a version superseded does not make
    its cached answers unusable."""

    status: Status = "experimental"
    # What the endpoint must offer; checked against the version's settings when it is loaded.
    requires: list[Requirement] | None = None
    # The endpoint kinds this version is the recommended choice for.
    recommended_for: list[EndpointKind] = []


def requirements(prompt: "PromptVersion") -> list[Requirement]:
    """What a version needs from the endpoint and the machine, from its settings."""
    needs: list[Requirement] = []
    if prompt.api == "completion":
        needs.append("completions")
    if prompt.params.logprobs:
        needs.append("logprobs")
    if prompt.retrieval is not None and prompt.retrieval.embeds:
        needs.append("local-embeddings")
    return needs


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
    meta: Meta = Meta()
    sha256: str = ""  # of the file's bytes above [meta] (and the pool's, with retrieval), filled in by load_prompt
    # What requests are keyed by: sha256, but without the pool where no request shows it (a
    # learning version's labelled file grows; its cached answers stay usable).
    request_sha256: str = ""
    pool: list[Example] = []  # the retrieval pool, read by load_prompt
    draft: bool = False  # not released (in no versions.lock with this hash), set by load_prompt
    # Per field, (C, weight) chosen by cross-validation on the pool, for a version that learns.
    tuned: dict[str, tuple[float, float]] = {}

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
        if self.retrieval and self.retrieval.embedding_question and not self.retrieval.embedding_layers:
            raise ValueError("retrieval.embedding_question needs embedding_layers (it is read from a layer's hidden states)")
        if self.retrieval and self.retrieval.learns and self.retrieval.vote_by != "classifier":
            raise ValueError("retrieval.vote_weight = 'auto' needs vote_by = 'classifier'")
        if any(not ex.summary for ex in self.examples):
            raise ValueError("every worked example needs a summary")
        if self.retrieval and self.retrieval.k and self.retrieval.example_summaries and any(not ex.summary for ex in self.pool):
            raise ValueError("pool papers are shown with their summaries (k > 0): every one needs a summary")
        if self.output.summary == "abstract" and not lines_completion:
            raise ValueError("output.summary = 'abstract' needs api = 'completion' and output format 'lines'")
        if self.output.summary == "abstract" and self.retrieval and self.retrieval.k and self.retrieval.example_summaries:
            # Retrieved examples would show their hand-written summaries, unlike the paper's.
            raise ValueError("output.summary = 'abstract' shows retrieved examples without summaries: set retrieval.example_summaries = false")
        if self.retrieval and not self.retrieval.example_summaries and not lines_completion:
            raise ValueError("retrieval.example_summaries = false needs api = 'completion' and output format 'lines'")
        declared = self.meta.requires
        if declared is not None and sorted(declared) != sorted(requirements(self)):
            raise ValueError(f"meta.requires is {declared} but the version's settings need {requirements(self)}")
        if self.meta.recommended_for and self.meta.status != "recommended":
            raise ValueError("meta.recommended_for needs status = 'recommended'")
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

    @property
    def learns(self) -> bool:
        """Whether its labels are decided as learnt from its pool (retrieval.vote_weight = "auto")."""
        return self.retrieval is not None and self.retrieval.learns

    def field(self, name: str) -> LabelField:
        """The label field called name."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)
