"""The vectors the label page ranks papers by: TF-IDF at once, the version's embeddings later.

TF-IDF of title and abstract, reduced to at most 64 dimensions, takes well under a second for
a few thousand papers, so ranking can start right away. A version whose classifier uses
embeddings gets them in the background (about 0.25 s a paper on the embedded model, nothing for
papers already in the embedding store), and the ranking switches to them when they are all there.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Callable, Sequence

from ..base.types import Embedder

if TYPE_CHECKING:
    import numpy as np

    from ..prompting.version import Retrieval
    from ..records import Paper

TFIDF_DIMENSIONS = 64


def tfidf_features(papers: Sequence["Paper"], dimensions: int = TFIDF_DIMENSIONS) -> "np.ndarray":
    """One row per paper: TF-IDF of its title and abstract, reduced with truncated SVD to at most
    `dimensions` (fewer for a dump too small to have that many)."""
    import numpy as np
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [f"{p.title}\n{p.abstract}" for p in papers]
    try:
        matrix = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(texts)
    except ValueError:  # no word at all (every word a stop word): nothing tells papers apart
        return np.zeros((len(texts), 1))
    k = min(dimensions, matrix.shape[0] - 1, matrix.shape[1] - 1)
    if k < 1:
        return np.asarray(matrix.todense())
    return TruncatedSVD(n_components=k, random_state=0).fit_transform(matrix)


class FeatureThread:
    """Computes features in the background and hands each set to `ready(features, name)`:
    TF-IDF first, then (with an embedder) the version's embeddings. A failure of the embeddings
    is said on stderr and the TF-IDF features stay."""

    def __init__(
        self,
        papers: Sequence["Paper"],
        ready: Callable[["np.ndarray", str], None],
        embedder: Embedder | None = None,
        retrieval: "Retrieval | None" = None,
    ) -> None:
        self.papers = list(papers)
        self.ready = ready
        self.embedder = embedder if retrieval is not None and retrieval.embeds else None
        self.retrieval = retrieval
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name="label-features", daemon=True)

    def start(self) -> "FeatureThread":
        """Start computing; returns at once."""
        self.thread.start()
        return self

    def _run(self) -> None:
        self.ready(tfidf_features(self.papers), "tf-idf")
        if self.embedder is None or self.retrieval is None:
            return
        try:
            from ..prompting.retrieval import embed_papers

            r = self.retrieval
            vectors = embed_papers(self.embedder, self.papers, r.embedding_words, r.embedding_layers, r.embedding_question)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the page on TF-IDF, said once
            self.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            print(f"summariser: warning: paper embeddings failed ({self.error}); choosing papers by TF-IDF", file=sys.stderr)
            return
        self.ready(vectors, "embeddings")
