"""Which paper to label next (summariser/labels/proposals.py), on synthetic embeddings whose
clusters are known from their construction."""

from __future__ import annotations

import numpy as np
import pytest

from summariser.labels.proposals import MIN_LABELS_TO_FIT, Proposer
from summariser.labels.tuning import standardised as standardise
from summariser.prompting.version import LabelField

TOPIC = LabelField(name="topic", values={"x": "", "y": "", "z": ""})
KIND = LabelField(name="kind", values={"method": "", "theory": ""})


def clustered(k: int, per: int = 12, dims: int = 8, seed: int = 0) -> tuple[list[str], np.ndarray, list[int]]:
    """per papers around each of k far-apart centres: ids, features, and each paper's cluster."""
    rng = np.random.default_rng(seed)
    cluster = [c for c in range(k) for _ in range(per)]
    x = 10.0 * np.eye(dims)[cluster] + rng.normal(0, 0.5, (len(cluster), dims))
    ids = [f"c{c}-{i}" for i, c in enumerate(cluster)]
    return ids, x, cluster


def of(ids: list[str], cluster: list[int]) -> dict[str, int]:
    return dict(zip(ids, cluster))


def test_the_first_proposals_without_labels_cover_every_cluster():
    for k in (2, 3, 4):
        ids, x, cluster = clustered(k, seed=k)
        proposer = Proposer([TOPIC], ids, x)

        first = proposer.rank({}, n=k)

        assert len(first) == k
        assert {of(ids, cluster)[pid] for pid in first} == set(range(k)), k


def test_an_outlier_is_not_proposed_first():
    ids, x, cluster = clustered(3)
    outlier = np.zeros(x.shape[1])
    outlier[-1] = 100.0  # along a direction no other paper has
    proposer = Proposer([TOPIC], ids + ["odd"], np.vstack([x, outlier]))

    assert proposer.typicality[-1] == pytest.approx(0.0)  # the least typical of all
    assert proposer.rank({}, n=1) != ["odd"]
    assert proposer.rank({}, n=3)[0] != "odd"


def test_rank_leaves_out_labelled_and_excluded_papers():
    ids, x, _ = clustered(3, per=5)
    proposer = Proposer([TOPIC], ids, x)
    labelled = {ids[0]: {"topic": "x"}, ids[6]: {"topic": "y"}}
    exclude = {ids[1], ids[12]}
    left = set(ids) - set(labelled) - exclude

    some = proposer.rank(labelled, exclude, n=4)
    everything = proposer.rank(labelled, exclude, n=100)

    assert len(some) == 4 and set(some) <= left
    assert len(everything) == len(left) and set(everything) == left  # each once, no more
    assert everything[:4] == some  # a longer batch starts with the shorter one
    assert proposer.rank({pid: {"topic": "x"} for pid in ids}, n=5) == []
    assert proposer.rank({}, exclude=set(ids), n=5) == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_labels_from_two_clusters_send_the_next_question_to_the_third(seed):
    ids, x, cluster = clustered(3, seed=seed)
    where = of(ids, cluster)
    labelled = {pid: {"topic": "x"} for pid in [p for p in ids if where[p] == 0][:3]}
    labelled |= {pid: {"topic": "y"} for pid in [p for p in ids if where[p] == 1][:3]}
    assert len(labelled) >= MIN_LABELS_TO_FIT  # the classifier is fitted: uncertainty counts

    batch = Proposer([TOPIC], ids, x).rank(labelled, n=3)

    # The unlabelled cluster's paper comes before more papers of the clusters already labelled.
    assert where[batch[0]] == 2
    assert not set(batch) & set(labelled)


def test_probabilities_and_suggestion_wait_for_enough_labels_of_two_values():
    ids, x, cluster = clustered(2)
    where = of(ids, cluster)
    zeros = [p for p in ids if where[p] == 0]
    ones = [p for p in ids if where[p] == 1]
    proposer = Proposer([TOPIC, KIND], ids, x)

    one_value = {pid: {"topic": "x"} for pid in zeros[:MIN_LABELS_TO_FIT + 2]}
    too_few = {pid: {"topic": "x"} for pid in zeros[: MIN_LABELS_TO_FIT - 2]} | {ones[0]: {"topic": "y"}}
    assert proposer.probabilities(one_value, TOPIC) is None
    assert proposer.probabilities(too_few, TOPIC) is None
    assert proposer.suggestion(one_value, ones[5]) == {}
    assert proposer.suggestion(too_few, ones[5]) == {}


def test_suggestion_gives_each_fitted_fields_values_summing_to_one():
    ids, x, cluster = clustered(2)
    where = of(ids, cluster)
    zeros = [p for p in ids if where[p] == 0]
    ones = [p for p in ids if where[p] == 1]
    # Enough topic labels (two values), and kind labels for one value only.
    labelled = {pid: {"topic": "x", "kind": "method"} for pid in zeros[:2]}
    labelled |= {pid: {"topic": "y", "kind": "method"} for pid in ones[:2]}
    assert len(labelled) == MIN_LABELS_TO_FIT

    proposer = Proposer([TOPIC, KIND], ids, x)
    suggested = proposer.suggestion(labelled, ones[7])

    assert set(suggested) == {"topic"}  # kind has one value only: it cannot be fitted
    assert set(suggested["topic"]) == {"x", "y", "z"}
    assert sum(suggested["topic"].values()) == pytest.approx(1.0)
    assert suggested["topic"]["z"] == 0.0  # never labelled
    assert suggested["topic"]["y"] > suggested["topic"]["x"]  # a paper of the "y" cluster

    proba = proposer.probabilities(labelled, TOPIC)
    assert proba is not None and proba.shape == (len(ids), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_suggestion_for_a_labelled_paper_leaves_its_own_label_out():
    ids, x, cluster = clustered(2)
    where = of(ids, cluster)
    zeros = [p for p in ids if where[p] == 0]
    ones = [p for p in ids if where[p] == 1]
    # Without the paper's own label only three remain: too few to fit.
    labelled = {zeros[0]: {"topic": "x"}, zeros[1]: {"topic": "x"}, ones[0]: {"topic": "y"}, ones[1]: {"topic": "y"}}
    proposer = Proposer([TOPIC], ids, x)
    assert proposer.suggestion(labelled, ones[1]) == {}
    assert set(proposer.suggestion(labelled, ones[2])) == {"topic"}


def test_ids_and_feature_rows_must_match():
    with pytest.raises(ValueError, match="3 ids but 2 feature rows"):
        Proposer([TOPIC], ["a", "b", "c"], np.zeros((2, 4)))


def test_standardise_centres_scales_and_normalises():
    rng = np.random.default_rng(0)
    raw = rng.normal(5.0, [1.0, 100.0, 0.01], size=(50, 3))
    x = standardise(raw)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0)
    # Before the rows are made unit length every dimension has mean 0 and spread 1, so no
    # dimension dominates: the rows' direction is that of the z-scores.
    z = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    np.testing.assert_allclose(x, z / np.linalg.norm(z, axis=1, keepdims=True), atol=1e-6)
