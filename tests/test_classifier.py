"""Votes from a logistic regression over the pool's embeddings (classifier.py)."""

import numpy as np
import pytest

from .conftest import shipped_source
from summariser.base import versions
from summariser.base.types import Answer
from summariser.labels import classifier
from summariser.labels.decide import Labeller
from summariser.labels.votes import label_votes
from summariser.prompting import store as prompts
from summariser.prompting.retrieval import ExampleIndex, embedding_text
from summariser.prompting.store import PromptError, load_prompt
from summariser.prompting.version import Example
from summariser.records import Paper

# Title -> (topic, contribution, embedding). Health papers lie along the first axis, science
# papers along the second; the only theory paper sits apart on the third.
POOL = {
    "Tumour masks for brain scans": ("health", "dataset-benchmark", [1.0, 0.1, 0.0]),
    "A network that finds tumours": ("health", "method", [0.9, 0.0, 0.1]),
    "Segmenting retinas": ("health", "method", [1.0, 0.0, 0.0]),
    "Orbits of binary stars": ("science", "method", [0.0, 1.0, 0.1]),
    "Simulating galaxy mergers": ("science", "empirical-study", [0.1, 0.9, 0.0]),
    "A bound on stellar resonance": ("science", "theory", [0.0, 0.3, 1.0]),
}
# A paper whose words are those of the health papers but whose embedding is a science paper's.
STARS_IN_SCANS = Paper(id="x", title="Finding tumours in brain scans", abstract="We find tumours in brain scans.")
FAKE = {STARS_IN_SCANS.title: [0.05, 1.0, 0.0]}


def fake_embed(texts, layers=0):
    table = {title: vector for title, (_, _, vector) in POOL.items()} | FAKE
    return np.array([next(v for t, v in table.items() if text.startswith(t + ".")) for text in texts])


class FakeEmbedder:
    """Vectors from the table above; remembers the texts it was asked for."""

    def __init__(self):
        self.seen = []

    def embed(self, texts, layers=0, last=False):
        self.seen.extend(texts)
        return fake_embed(texts)


def index_of(prompt, embedder=None):
    return ExampleIndex.for_version(prompt, embedder or FakeEmbedder())


def votes_of(prompt, paper, embedder=None):
    return label_votes(prompt, index_of(prompt, embedder), paper)


def classifier_prompt(tmp_path, extra="", weight=1.0, words=0, k=1, top=""):
    src = shipped_source("fewshot-v2").replace('version = "fewshot-v2"', f'{top}version = "clf"')
    src = src.replace("k = 4\n", f"k = {k}\nvote_by = 'classifier'\nvote_weight = {weight}\nembedding_words = {words}\n{extra}")
    (tmp_path / "pools").mkdir(exist_ok=True)
    pool = [
        Example(title=t, abstract=f"About {t.lower()}.", summary="s", labels={"topic": topic, "contribution": contribution})
        for t, (topic, contribution, _) in POOL.items()
    ]
    (tmp_path / "pools" / "seed-gold.jsonl").write_text("\n".join(ex.model_dump_json() for ex in pool) + "\n")
    (tmp_path / "clf.toml").write_text(src)
    return load_prompt(str(tmp_path / "clf.toml"))


def test_the_classifier_follows_the_embeddings_not_the_words(tmp_path):
    prompt = classifier_prompt(tmp_path)
    [(by_words, _)] = index_of(prompt).neighbours(STARS_IN_SCANS, 1)
    assert by_words.labels["topic"] == "health"  # the words point the other way
    votes = votes_of(prompt, STARS_IN_SCANS)
    topic = votes["topic"]
    assert sum(topic.values()) == pytest.approx(1.0)
    assert max(topic, key=topic.get) == "science" and topic["science"] > 0.5
    # Values no pool paper has get the smoothing alone.
    floor = classifier.SMOOTHING / (1 + classifier.SMOOTHING * len(topic))
    assert topic["language"] == pytest.approx(floor) and topic["health"] > floor


def test_a_pool_paper_is_left_out_of_the_fit_that_labels_it(tmp_path):
    prompt = classifier_prompt(tmp_path)
    title = "A bound on stellar resonance"  # the pool's only theory paper
    own = votes_of(prompt, Paper(id="any", title=title, abstract=f"About {title.lower()}."))["contribution"]
    floor = classifier.SMOOTHING / (1 + classifier.SMOOTHING * len(own))
    # Fitted without it, no example of theory is left: theory gets the smoothing alone.
    assert own["theory"] == pytest.approx(floor)
    # A new paper that the embeddings put in the same place is labelled theory by the full fit.
    FAKE["New bounds on resonance"] = POOL[title][2]
    try:
        other = votes_of(prompt, Paper(id="new", title="New bounds on resonance", abstract="Other words."))["contribution"]
    finally:
        del FAKE["New bounds on resonance"]
    assert max(other, key=other.get) == "theory"


def test_papers_outside_the_pool_share_one_fit_per_field(tmp_path, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    fits = []
    real_fit = LogisticRegression.fit
    monkeypatch.setattr(LogisticRegression, "fit", lambda self, X, y: fits.append(len(y)) or real_fit(self, X, y))
    prompt = classifier_prompt(tmp_path)
    index = index_of(prompt)
    for _ in range(3):
        label_votes(prompt, index, STARS_IN_SCANS)
    assert fits == [len(POOL), len(POOL)]  # topic and contribution, on the whole pool, once
    label_votes(prompt, index, Paper(id="p", title="Segmenting retinas", abstract="About segmenting retinas."))
    assert fits[2:] == [len(POOL) - 1, len(POOL) - 1]


def test_decide_lets_the_classifier_settle_an_unsure_label(tmp_path):
    prompt = classifier_prompt(tmp_path)
    answer = Answer(summary="s", labels={"topic": "health", "contribution": "method"}, confidence={"topic": 0.5, "contribution": 0.9})
    topic = dict.fromkeys(prompt.field("topic").values, 0.0) | {"health": 0.5, "science": 0.45, "language": 0.05}
    decided = Labeller(prompt, index_of(prompt)).vote(answer, {"topic": topic, "contribution": None}, STARS_IN_SCANS)
    assert decided.labels["topic"] == "science" and 0.5 < decided.confidence["topic"] < 1
    assert decided.labels["contribution"] == "method" and decided.confidence["contribution"] == 0.9


def test_the_eval_shows_the_votes_alone_of_every_voting_version(tmp_path):
    import json

    from summariser.evaluation.evaluate import EvalReport, baselines
    from summariser.evaluation.gold import load_gold
    from summariser.evaluation.report import field_rows

    by_classifier = classifier_prompt(tmp_path)
    src = (tmp_path / "clf.toml").read_text().replace("vote_by = 'classifier'", "vote_k = 2").replace('"clf"', '"nb"')
    (tmp_path / "nb.toml").write_text(src)
    by_neighbours = load_prompt(str(tmp_path / "nb.toml"))
    row = {"id": "x", "title": STARS_IN_SCANS.title, "annotator": "a1", "labels": {"topic": "science", "contribution": "method"}, "summary": "s"}
    (tmp_path / "gold.jsonl").write_text(json.dumps(row) + "\n")
    prompts_ = [by_neighbours, by_classifier]
    base = baselines(load_gold(tmp_path / "gold.jsonl"), [STARS_IN_SCANS], prompts_, [index_of(p) for p in prompts_])
    # The classifier follows the embeddings (science); TF-IDF neighbours follow the words (health).
    assert [(v.by, v.fields["topic"].accuracy) for v in base.votes] == [("neighbours", 0.0), ("classifier", 1.0)]
    report = EvalReport.model_construct(versions=[], baselines=base)
    assert [label for label, _ in field_rows(report, "topic")] == [
        "baseline: always science", "baseline: votes of 2 neighbours (nb)", "baseline: classifier alone (clf)"
    ]


def test_the_whole_abstract_is_embedded_with_embedding_words_0(tmp_path):
    embedder = FakeEmbedder()
    long = Paper(id="x", title=STARS_IN_SCANS.title, abstract=" ".join(["word"] * 300))
    votes_of(classifier_prompt(tmp_path), long, embedder)
    assert embedder.seen[-1] == f"{long.title}. {long.abstract}"
    assert embedding_text("T", long.abstract) == "T. " + " ".join(["word"] * versions.EMBEDDING_WORDS)


def test_the_classifier_is_part_of_the_hash_and_excludes_neighbours(tmp_path, monkeypatch):
    before = classifier_prompt(tmp_path).sha256
    assert classifier_prompt(tmp_path, weight=2.0).sha256 != before
    assert classifier_prompt(tmp_path, words=50).sha256 != before
    monkeypatch.setattr(versions, "CLASSIFIER_VERSION", "changed")
    assert classifier_prompt(tmp_path).sha256 != before
    with pytest.raises(PromptError, match="vote_by = 'classifier' needs vote_k = 0"):
        classifier_prompt(tmp_path, extra="vote_k = 2\n")
    assert index_of(classifier_prompt(tmp_path)).embedding_words == 0


def test_a_paper_that_matches_the_whole_pool_gets_no_opinion(tmp_path, monkeypatch):
    prompt = classifier_prompt(tmp_path)
    index = index_of(prompt)
    monkeypatch.setattr(index, "allowed", lambda paper: np.zeros(len(index.pool), dtype=bool))
    topic = label_votes(prompt, index, STARS_IN_SCANS)["topic"]
    assert topic == pytest.approx(dict.fromkeys(topic, 1 / len(topic)))


class FakeEngine(FakeEmbedder):
    """Stands in for the embedded model's engine in this process only: worker processes must find
    every vector in the store the parent filled (a real model there would embed these words near
    the health papers, or fail to load)."""


def unsure_answer() -> dict:
    """A completion whose topic is health by a hair over science, with its alternatives."""
    import math

    from .fake_server import completion_with_alternatives

    pieces = [" A", " study", ".", "\n", "Topic", ":", " health", "\n", "Contribution", ":", " method"]
    return completion_with_alternatives(pieces, {6: {" health": math.log(0.5), " science": math.log(0.45), " language": math.log(0.05)}})


@pytest.mark.processes
def test_worker_processes_decide_with_the_vectors_the_parent_stored(tmp_path):
    from summariser.flow.cache import ResponseCache
    from summariser.flow.embedding_store import EmbeddingStore
    from summariser.flow.pipeline import summarise
    from summariser.flow.workers import PROCESS_THRESHOLD, processes_for

    from .conftest import fake_client
    from .fake_server import FakeServer, Reply

    items = [Paper(id=f"p{i}", title=f"{STARS_IN_SCANS.title} {i}", abstract=STARS_IN_SCANS.abstract) for i in range(40)]
    for p in items:
        FAKE[p.title] = FAKE[STARS_IN_SCANS.title]
    cache = ResponseCache(tmp_path / "c")
    prompt = classifier_prompt(tmp_path)
    index = ExampleIndex.for_version(prompt, EmbeddingStore.beside(cache.directory, FakeEngine()))
    try:
        with FakeServer([Reply(body=unsure_answer())]) as srv:
            client = fake_client(srv.url)
            assert processes_for(2 * PROCESS_THRESHOLD, client) >= 1
            rows = list(summarise(items, prompt, client, cache, concurrency=2 * PROCESS_THRESHOLD, index=index))
    finally:
        for p in items:
            del FAKE[p.title]
    assert [r.error for r in rows] == [None] * 40
    assert {r.labels["topic"] for r in rows} == {"science"}  # the classifier overruled the model
    assert (tmp_path / "c" / "embeddings").is_dir()


def completion_prompt(prompt, paper, embedder=None):
    from summariser.prompting.render import Renderer

    return Renderer(prompt, "m", "none", index_of(prompt, embedder)).completion_prompt(paper)


def test_with_k_0_the_prompt_shows_no_pool_paper_and_the_classifier_still_votes(tmp_path):
    prompt = classifier_prompt(tmp_path, extra="", k=0)
    text = completion_prompt(prompt, STARS_IN_SCANS)
    assert not any(title in text for title in POOL)
    shown = completion_prompt(classifier_prompt(tmp_path), STARS_IN_SCANS)
    assert sum(title in shown for title in POOL) == 1  # with k = 1, one
    topic = votes_of(prompt, STARS_IN_SCANS)["topic"]
    assert max(topic, key=topic.get) == "science"


def test_abstract_words_cuts_the_paper_in_the_prompt_but_not_what_the_classifier_reads(tmp_path):
    from summariser.prompting.render import Renderer

    embedder = FakeEmbedder()
    words = [f"w{i}" for i in range(40)]
    paper = Paper(id="x", title=STARS_IN_SCANS.title, abstract=" ".join(words))
    prompt = classifier_prompt(tmp_path, top="abstract_words = 10\n")
    text = completion_prompt(prompt, paper)
    assert "Abstract: " + " ".join(words[:10]) + " ...\n" in text and "w10" not in text
    src = (tmp_path / "clf.toml").read_text().replace('api = "completion"', 'api = "chat"').replace('format = "lines"', 'format = "json"')
    (tmp_path / "chat.toml").write_text(src.replace("example_summaries = false\n", ""))
    chat = load_prompt(str(tmp_path / "chat.toml"))
    assert "w10" not in Renderer(chat, "m", "none", index_of(chat)).chat_messages(paper)[-1]["content"]
    votes_of(prompt, paper, embedder)
    assert embedder.seen[-1] == f"{paper.title}. {paper.abstract}"  # embedding_words = 0: the whole abstract
    assert " ".join(words) in completion_prompt(classifier_prompt(tmp_path), paper)  # 0 (default): all of it


def test_embedding_layers_is_part_of_the_hash_and_needs_embedding_votes(tmp_path, monkeypatch):
    plain = classifier_prompt(tmp_path)
    layered = classifier_prompt(tmp_path, extra="embedding_layers = 13\n")
    layered_src = (tmp_path / "clf.toml").read_text()
    assert index_of(layered).embedding_layers == 13
    # The same files again, with the layer embeddings' version changed: only the layered hash moves.
    real = versions.embedding_version
    monkeypatch.setattr(versions, "embedding_version", lambda layers=0, last=False: real(layers, last) + ("-changed" if layers else ""))
    assert load_prompt(str(tmp_path / "clf.toml")).sha256 != layered.sha256
    (tmp_path / "clf.toml").write_text((tmp_path / "clf.toml").read_text().replace("embedding_layers = 13\n", ""))
    assert load_prompt(str(tmp_path / "clf.toml")).sha256 == plain.sha256
    (tmp_path / "nb.toml").write_text(layered_src.replace("vote_by = 'classifier'", "vote_k = 2"))
    with pytest.raises(PromptError, match="embedding_layers needs votes that use embeddings"):
        load_prompt(str(tmp_path / "nb.toml"))
    unlayered = layered_src.replace("embedding_layers = 13\n", "")
    (tmp_path / "none.toml").write_text(unlayered.replace("vote_by = 'classifier'", "").replace("k = 1\n", "k = 0\n"))
    with pytest.raises(PromptError, match="k = 0 shows no examples, so it needs votes"):
        load_prompt(str(tmp_path / "none.toml"))
