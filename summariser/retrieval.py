"""Choosing few-shot examples per paper: the pool's papers most similar to it, by TF-IDF.

A small model labels much like the papers it is shown, so showing it the most similar labelled
papers, rather than a fixed handful, is where most of its accuracy comes from. TF-IDF cosine
similarity over title and abstract needs no model download and takes about a millisecond per
paper for a pool of a few hundred.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Sequence

import numpy as np

from .prompts import Example, PromptVersion
from .records import Paper, paper_id

# Bump when the choice of examples changes (text used, weighting, tie-break): it is part of the
# hash of every prompt version with retrieval, so their cached answers are not reused.
RETRIEVAL_VERSION = "tfidf-1"
# A pool paper this similar to the paper asked about is taken to be the same paper (a copy under
# another title or with an edited abstract) and never shown: the seed pool's most similar pair of
# different papers scores 0.31.
SAME_PAPER_SIMILARITY = 0.8


class ExampleIndex:
    """A pool of labelled examples, searchable by similarity to a paper."""

    def __init__(self, pool: Sequence[Example]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.pool = list(pool)
        self._keys = [_identity(ex.title, ex.abstract) for ex in self.pool]
        self._vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english")
        self._matrix = self._vectorizer.fit_transform([_text(ex.title, ex.abstract) for ex in self.pool])

    def neighbours(self, paper: Paper, k: int) -> list[tuple[Example, float]]:
        """The k pool examples most similar to paper, most similar first, with their cosine
        similarity. The paper itself is never among them (same title, same abstract, or
        near-identical text), so an eval cannot show a paper its own answer."""
        scores = (self._matrix @ self._vectorizer.transform([_text(paper.title, paper.abstract)]).T).toarray().ravel()
        own = _identity(paper.title, paper.abstract) | {paper.id}
        allowed = np.array([not (keys & own) for keys in self._keys]) & (scores < SAME_PAPER_SIMILARITY)
        candidates = np.flatnonzero(allowed)
        # Most similar first; ties keep pool order, so the choice is the same on every run.
        ranked = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
        return [(self.pool[i], float(scores[i])) for i in ranked]

    def nearest(self, paper: Paper, k: int) -> list[Example]:
        """The k most similar pool examples (see neighbours), least similar first: the closest
        sits next to the paper in the prompt."""
        return [ex for ex, _ in reversed(self.neighbours(paper, k))]


def pool_index(prompt: PromptVersion) -> ExampleIndex:
    """The index over a prompt version's pool, built on first use (the version must have one)."""
    index: ExampleIndex = prompt.derived("index", lambda p: ExampleIndex(p.pool))
    return index


def _text(title: str, abstract: str) -> str:
    return f"{title}\n{abstract}"


def _identity(title: str, abstract: str) -> set[str]:
    """Keys under which two records are the same paper: the usual id of its title, its title with
    Unicode look-alikes folded, and its abstract's words."""
    folded = " ".join(re.sub(r"[^\w\s]", " ", unicodedata.normalize("NFKC", title).casefold()).split())
    words = " ".join(re.sub(r"[^\w\s]", " ", abstract.casefold()).split())
    return {paper_id(title), "t:" + folded, "a:" + hashlib.sha256(words.encode()).hexdigest()}
