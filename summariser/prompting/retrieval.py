"""Choosing few-shot examples per paper: the pool's papers most similar to it, by TF-IDF (or,
for neighbour votes, by embeddings from the Embedder passed in: flow/embedding_store.py).

A small model labels much like the papers it is shown, so showing it the most similar labelled
papers, rather than a fixed handful, is where most of its accuracy comes from. TF-IDF cosine
similarity over title and abstract needs no model download and takes about a millisecond per
paper for a pool of a few hundred.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import threading
from typing import Any, Literal, Sequence

import numpy as np

from ..base.types import Embedder
from ..base.versions import EMBEDDING_WORDS
from ..records import Paper, paper_id
from .version import Example, PromptVersion

# A pool paper this similar to the paper asked about is taken to be the same paper (a copy under
# another title or with an edited abstract) and never shown: the seed pool's most similar pair of
# different papers scores 0.31.
SAME_PAPER_SIMILARITY = 0.8
# What precedes a paper's text when a version asks an embedding_question after it.
QUESTION_FRAME = "Title and abstract of a research paper:\n"


class ExampleIndex:
    """A pool of labelled examples, searchable by similarity to a paper."""

    def __init__(
        self, pool: Sequence[Example], embedder: Embedder | None = None, embedding_words: int = EMBEDDING_WORDS, embedding_layers: int = 0,
        embedding_question: str = "",
    ) -> None:
        self.pool = list(pool)
        self.embedder = embedder  # needed only by versions whose votes use embeddings
        # What the layers above keep per index (the classifier's fits), under its lock: answers
        # are decided on several threads at once.
        self.memo: dict[str, Any] = {}
        self.memo_lock = threading.Lock()
        self.embedding_words = embedding_words  # of each abstract, for embeddings (0: all)
        self.embedding_layers = embedding_layers  # which embedding (base.versions.embedding_version)
        self.embedding_question = embedding_question  # asked after each text, read at its last token
        self._keys = [_identity(ex.title, ex.abstract) for ex in self.pool]
        # The TF-IDF model of the pool, fitted on first use: a run whose answers are all cached
        # never searches the pool, and need not import scikit-learn.
        self._tfidf: tuple[Any, Any] | None = None
        self._tfidf_lock = threading.Lock()
        # The pool's embeddings standardised (centred; with embedding_layers, each dimension also
        # divided by its spread) and made unit length, with the mean and spread; on first use.
        self._embedded: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def neighbours(self, paper: Paper, k: int, by: Literal["tfidf", "embedding"] = "tfidf") -> list[tuple[Example, float]]:
        """The k pool examples most similar to paper, most similar first, with their cosine
        similarity (of TF-IDF vectors, or of embeddings). The paper itself is never among them
        (same title, same abstract, or near-identical text), so an eval cannot show a paper its
        own answer."""
        tfidf = self._tfidf_scores(paper)
        scores = self._embedding_scores(paper) if by == "embedding" else tfidf
        candidates = np.flatnonzero(self.allowed(paper, tfidf))
        # Most similar first; ties keep pool order, so the choice is the same on every run.
        ranked = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
        return [(self.pool[i], float(scores[i])) for i in ranked]

    def allowed(self, paper: Paper, tfidf: np.ndarray | None = None) -> np.ndarray:
        """Which pool examples may stand in for other papers when this one is asked about: all
        but the paper itself (same title, same abstract, or near-identical text)."""
        if tfidf is None:
            tfidf = self._tfidf_scores(paper)
        own = _identity(paper.title, paper.abstract) | {paper.id}
        return np.array([not (keys & own) for keys in self._keys]) & (tfidf < SAME_PAPER_SIMILARITY)

    def embedded_pool(self) -> np.ndarray:
        """The pool's embeddings, one row per example, standardised and unit length."""
        return self._pool_embeddings()[0]

    @classmethod
    def for_version(cls, prompt: PromptVersion, embedder: Embedder | None = None) -> "ExampleIndex | None":
        """The index over a version's pool; None for a version without one."""
        if prompt.retrieval is None:
            return None
        r = prompt.retrieval
        return cls(prompt.pool, embedder, r.embedding_words, r.embedding_layers, r.embedding_question)

    def embedded(self, paper: Paper) -> np.ndarray:
        """The paper's embedding as one row, standardised and scaled as the pool's rows are."""
        _, mean, spread = self._pool_embeddings()
        return _unit((self._embed([paper]) - mean) / spread)

    def raw_pool(self) -> np.ndarray:
        """The pool's embeddings as the embedder gives them (not standardised): what a measure
        that fits on part of the pool standardises over that part, as a run would over its pool."""
        return self._embed(self.pool)

    def _embed(self, papers: Sequence[Paper | Example]) -> np.ndarray:
        if self.embedder is None:
            raise ValueError("this index was made without an embedder, and its version's votes use embeddings")
        return embed_papers(self.embedder, papers, self.embedding_words, self.embedding_layers, self.embedding_question)

    def nearest(self, paper: Paper, k: int) -> list[Example]:
        """The k most similar pool examples (see neighbours), least similar first: the closest
        sits next to the paper in the prompt."""
        return [ex for ex, _ in reversed(self.neighbours(paper, k))]

    def embed_ahead(self, papers: Sequence[Paper] = ()) -> None:
        """Embed the pool and these papers now, in one pass (stored for later calls): while the
        model answers, embedding would compete with it for the same cores."""
        rows = self._embed([*self.pool, *papers])[: len(self.pool)]
        if self._embedded is None:
            # Centred on the pool's mean: every text shares a large common direction in the
            # model's hidden states, which would otherwise make all papers look alike. A middle
            # layer's dimensions also differ in scale by orders of magnitude (a few carry values
            # in the thousands), so each is divided by its spread over the pool.
            mean = rows.mean(axis=0)
            spread = np.maximum(rows.std(axis=0), 1e-6) if self.embedding_layers else np.ones_like(mean)
            self._embedded = _unit((rows - mean) / spread), mean, spread

    def _pool_embeddings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._embedded is None:
            self.embed_ahead()
        assert self._embedded is not None
        return self._embedded

    def _embedding_scores(self, paper: Paper) -> np.ndarray:
        return (self.embedded_pool() @ self.embedded(paper).T).ravel()

    def _tfidf_scores(self, paper: Paper) -> np.ndarray:
        with self._tfidf_lock:
            if self._tfidf is None:
                from sklearn.feature_extraction.text import TfidfVectorizer

                vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english")
                self._tfidf = vectorizer, vectorizer.fit_transform([_text(ex.title, ex.abstract) for ex in self.pool])
        vectorizer, matrix = self._tfidf
        return (matrix @ vectorizer.transform([_text(paper.title, paper.abstract)]).T).toarray().ravel()


def embedding_text(title: str, abstract: str, words: int = EMBEDDING_WORDS, question: str = "") -> str:
    """What is embedded for a paper: its title and the first `words` words of its abstract (0:
    all of it). With a question (a version's embedding_question), they are framed as a paper
    followed by that unfinished sentence, whose last token's hidden state is read beside the mean
    (engine/layers.py)."""
    kept = abstract.split()[:words] if words else abstract.split()
    text = f"{title}. {' '.join(kept)}"
    return f"{QUESTION_FRAME}{text}\n{question}" if question else text


def embed_papers(embedder: Embedder, papers: Sequence[Paper | Example], words: int, layers: int, question: str) -> np.ndarray:
    """The papers' vectors as a version's classifier reads them (its embedding_words,
    embedding_layers and embedding_question), one row per paper, not standardised."""
    texts = [embedding_text(p.title, p.abstract, words, question) for p in papers]
    return embedder.embed(texts, layers, last=bool(question))


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def _text(title: str, abstract: str) -> str:
    return f"{title}\n{abstract}"


def _identity(title: str, abstract: str) -> set[str]:
    """Keys under which two records are the same paper: the usual id of its title, its title with
    Unicode look-alikes folded, and its abstract's words."""
    folded = " ".join(re.sub(r"[^\w\s]", " ", unicodedata.normalize("NFKC", title).casefold()).split())
    words = " ".join(re.sub(r"[^\w\s]", " ", abstract.casefold()).split())
    return {paper_id(title), "t:" + folded, "a:" + hashlib.sha256(words.encode()).hexdigest()}
