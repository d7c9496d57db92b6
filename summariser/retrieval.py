"""Choosing few-shot examples per paper: the pool's papers most similar to it, by TF-IDF.

A small model labels much like the papers it is shown, so showing it the most similar labelled
papers, rather than a fixed handful, is where most of its accuracy comes from. TF-IDF cosine
similarity over title and abstract needs no model download and takes well under a millisecond
per paper for a pool of a few hundred.
"""

from __future__ import annotations

from typing import Sequence

from .prompts import Example
from .records import Paper, paper_id


class ExampleIndex:
    """A pool of labelled examples, searchable by similarity to a paper."""

    def __init__(self, pool: Sequence[Example]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.pool = list(pool)
        self._ids = [paper_id(ex.title) for ex in self.pool]
        self._vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english")
        self._matrix = self._vectorizer.fit_transform([_text(ex.title, ex.abstract) for ex in self.pool])

    def nearest(self, paper: Paper, k: int) -> list[Example]:
        """The k pool examples most similar to paper, least similar first (the closest sits next to
        the paper in the prompt). The paper itself is never among them, so an eval cannot show a
        paper its own answer."""
        scores = (self._matrix @ self._vectorizer.transform([_text(paper.title, paper.abstract)]).T).toarray().ravel()
        own = {paper.id, paper_id(paper.title)}
        # Ties keep pool order, so the choice is the same on every run.
        ranked = sorted((i for i in range(len(self.pool)) if self._ids[i] not in own), key=lambda i: (-scores[i], i))
        return [self.pool[i] for i in reversed(ranked[:k])]


def _text(title: str, abstract: str) -> str:
    return f"{title}\n{abstract}"
