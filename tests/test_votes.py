"""Label distributions from the alternatives an endpoint lists, and neighbour votes combined with them."""

import math

import numpy as np
import pytest

from .conftest import shipped_source
from summariser.prompting import store as prompts
from summariser.base import versions
from summariser.base.errors import EmbeddedModelError
from summariser.base.types import Answer, TokenLogprob
from summariser.flow.embedding_store import EmbeddingStore
from summariser.labels.confidence import label_confidence, label_distributions
from summariser.labels.decide import Labeller
from summariser.labels.votes import SMOOTHING, combine, neighbour_votes
from summariser.prompting.retrieval import ExampleIndex
from summariser.prompting.store import PromptError, load_prompt
from summariser.prompting.version import Example
from summariser.records import Paper
from summariser.transport.logprobs import logprobs_from as _logprobs

PROMPT = load_prompt("fewshot-v1")
TEXT = " A parser.\nTopic: language\nContribution: method"
PIECES = [" A", " parser", ".", "\n", "Topic", ":", " language", "\n", "Contribution", ":", " method"]
LABELS = {"topic": "language", "contribution": "method"}


def tokens(tops):
    """TEXT's tokens, with the alternatives given per token index (probabilities, not logs)."""
    offsets = [sum(len(p) for p in PIECES[:i]) for i in range(len(PIECES))]
    out = []
    for i, o in enumerate(offsets):
        top = {t: math.log(p) for t, p in tops[i].items()} if i in tops else None
        chosen = top[PIECES[i]] if top and PIECES[i] in top else 0.0
        out.append(TokenLogprob(o, chosen, top))
    return out


def test_the_listed_alternatives_give_each_value_its_share():
    toks = tokens({6: {" language": 0.5, " society": 0.2, " ml": 0.1, " l": 0.1}, 10: {" method": 0.6, " empirical": 0.3}})
    dist = label_distributions(TEXT, toks, PROMPT, LABELS)
    # " l" fits only language; " ml" only ml-methods; the 0.1 the list leaves out is shared by the
    # five values it does not mention.
    assert dist["topic"]["language"] == pytest.approx(0.6)
    assert dist["topic"]["society"] == pytest.approx(0.2)
    assert dist["topic"]["ml-methods"] == pytest.approx(0.1)
    assert dist["topic"]["health"] == pytest.approx(0.02) and sum(dist["topic"].values()) == pytest.approx(1.0)
    assert dist["contribution"]["method"] == pytest.approx(0.6) and dist["contribution"]["theory"] == pytest.approx(0.02)
    conf = label_confidence(TEXT, toks, PROMPT, LABELS)
    assert conf == {"topic": pytest.approx(0.6), "contribution": pytest.approx(0.6)}


def test_a_fragment_that_starts_several_values_counts_for_none():
    toks = tokens({6: {" language": 0.4, " s": 0.5, " science": 0.1}})  # " s": science or society
    dist = label_distributions(TEXT, toks, PROMPT, LABELS)["topic"]
    assert dist["language"] == pytest.approx(0.8) and dist["science"] == pytest.approx(0.2) and dist["society"] == 0.0


def test_the_chosen_value_weighs_the_tokens_it_was_written_with():
    # science written as " s" + "cience": its weight is their product, plus " science" listed apart.
    text = " A parser.\nTopic: science\nContribution: method"
    pieces = [" A parser.", "\n", "Topic", ":", " s", "cience", "\n", "Contribution", ":", " method"]
    offsets = [sum(len(p) for p in pieces[:i]) for i in range(len(pieces))]
    logprobs = [0.0] * len(pieces)
    logprobs[4], logprobs[5] = math.log(0.5), math.log(0.8)
    toks = [TokenLogprob(o, lp) for o, lp in zip(offsets, logprobs)]
    toks[4] = TokenLogprob(offsets[4], math.log(0.5), {" s": math.log(0.5), " language": math.log(0.4), " science": math.log(0.1)})
    dist = label_distributions(text, toks, PROMPT, {"topic": "science", "contribution": "method"})["topic"]
    assert dist["science"] == pytest.approx((0.4 + 0.1) / 0.9) and dist["language"] == pytest.approx(0.4 / 0.9)


def test_alternatives_that_name_no_other_value_are_no_distribution():
    # " s" starts science and society: nothing is said about any value but language, so the
    # confidence is the product (0.3), not a certain 1.0 the neighbours could never move.
    toks = tokens({6: {" language": 0.3, " s": 0.7}})
    assert label_distributions(TEXT, toks, PROMPT, LABELS)["topic"] is None
    assert label_confidence(TEXT, toks, PROMPT, LABELS)["topic"] == pytest.approx(0.3)


def test_one_listed_token_is_no_distribution():
    # logprobs = 1 lists the chosen token only: the confidence stays the product, not a certain 1.0.
    toks = tokens({6: {" language": 0.3}, 10: {" method": 0.9}})
    assert label_distributions(TEXT, toks, PROMPT, LABELS) == {"topic": None, "contribution": None}
    assert label_confidence(TEXT, toks, PROMPT, LABELS) == {"topic": pytest.approx(0.3), "contribution": pytest.approx(0.9)}


def test_without_alternatives_there_is_no_distribution_and_confidence_is_the_product():
    toks = tokens({})
    toks[6] = TokenLogprob(toks[6].offset, math.log(0.3))
    assert label_distributions(TEXT, toks, PROMPT, LABELS) == {"topic": None, "contribution": None}
    assert label_confidence(TEXT, toks, PROMPT, LABELS)["topic"] == pytest.approx(0.3)


def test_the_client_reads_alternatives_in_both_openai_shapes():
    completion = {
        "tokens": ["Topic", ":", " health"], "text_offset": [100, 105, 106], "token_logprobs": [-0.1, 0.0, -0.5],
        "top_logprobs": [{"Topic": -0.1}, None, {" health": -0.5, " science": -1.5}],
    }
    parsed = _logprobs(completion)
    assert [t.offset for t in parsed] == [0, 5, 6]
    assert parsed[1].top is None and parsed[2].top == {" health": -0.5, " science": -1.5}
    chat = {"content": [{"token": "a", "logprob": -1.0, "top_logprobs": [{"token": "a", "logprob": -1.0}, {"token": "b", "logprob": -2.0}]}]}
    assert _logprobs(chat)[0].top == {"a": -1.0, "b": -2.0}
    # Two tokens spelling the same text add up; a short list leaves the last tokens without any.
    twice = {"content": [{"token": "a", "logprob": math.log(0.3), "top_logprobs": [{"token": "a", "logprob": math.log(0.3)}, {"token": "a", "logprob": math.log(0.2)}]}]}
    assert _logprobs(twice)[0].top == {"a": pytest.approx(math.log(0.5))}
    short = dict(completion, top_logprobs=[{"Topic": -0.1}])
    assert [t.top for t in _logprobs(short)] == [{"Topic": -0.1}, None, None]


def test_chat_versions_ask_for_alternatives_apart():
    from summariser.prompting.render import render

    chat = load_prompt("chat-v1").model_copy(deep=True)
    chat.params.logprobs = 5
    params = render(chat, Paper(id="x", title="T", abstract="A"), "m", "schema").params
    assert params["logprobs"] is True and params["top_logprobs"] == 5


POOL_LABELS = [("health", "dataset-benchmark"), ("health", "method"), ("science", "theory")]
POOL = [
    Example(title="Tumour segmentation in brain scans", abstract="A dataset of brain scans with tumour masks.", summary="s", labels=dict(zip(("topic", "contribution"), POOL_LABELS[0]))),
    Example(title="Brain scan tumour detection network", abstract="A network that finds tumours in brain scans.", summary="s", labels=dict(zip(("topic", "contribution"), POOL_LABELS[1]))),
    Example(title="Orbits of binary stars", abstract="Proofs about orbital resonance of binary stars.", summary="s", labels=dict(zip(("topic", "contribution"), POOL_LABELS[2]))),
]


def voting_prompt(tmp_path, vote_k=2, weight=1.0, similarity="tfidf"):
    path = tmp_path / "vote.toml"
    src = shipped_source("fewshot-v2").replace('version = "fewshot-v2"', 'version = "vote"')
    src = src.replace("k = 4\n", f"k = 1\nvote_k = {vote_k}\nvote_weight = {weight}\nvote_similarity = '{similarity}'\n")
    (tmp_path / "pools").mkdir(exist_ok=True)
    (tmp_path / "pools" / "seed-gold.jsonl").write_text("\n".join(ex.model_dump_json() for ex in POOL) + "\n")
    path.write_text(src)
    return load_prompt(str(path))


class FakeEmbedder:
    """Vectors from fake_embed (below); counts the texts it embeds."""

    def __init__(self):
        self.texts = []

    def embed(self, texts, layers=0, last=False):
        self.texts.extend(texts)
        return fake_embed(texts)


def votes_of(prompt, paper):
    return neighbour_votes(prompt, ExampleIndex.for_version(prompt, FakeEmbedder()), paper)


def test_votes_are_the_nearest_papers_labels_weighted_by_similarity(tmp_path):
    prompt = voting_prompt(tmp_path)
    paper = Paper(id="x", title="Finding tumours in brain scans", abstract="We detect tumours in brain scans.")
    votes = votes_of(prompt, paper)
    topic = votes["topic"]
    assert sum(topic.values()) == pytest.approx(1.0)
    # Both neighbours are health papers; science (the third paper) is not among the 2 nearest.
    assert topic["health"] > 0.5 and topic["science"] == pytest.approx(topic["language"]) == pytest.approx(min(topic.values()))
    assert votes["contribution"]["dataset-benchmark"] > votes["contribution"]["theory"]


def test_a_paper_never_votes_for_itself(tmp_path):
    prompt = voting_prompt(tmp_path, vote_k=2)
    star = POOL[2]
    # The same paper under its title, with an abstract that shares no word with the pool's copy.
    votes = votes_of(prompt, Paper(id="any", title=star.title, abstract="Tumour detection in scans."))
    # The star paper is left out, so the two health papers vote and theory gets only smoothing.
    assert votes["contribution"]["theory"] == pytest.approx(votes["contribution"]["position"])


def test_combining_weights_the_models_distribution_by_the_votes():
    model = {"a": 0.6, "b": 0.4}
    assert combine(model, {"a": 0.5, "b": 0.5}, 1.0) == pytest.approx(model)  # even votes change nothing
    assert combine(model, {"a": 0.2, "b": 0.8}, 1.0) == pytest.approx({"a": 0.12 / 0.44, "b": 0.32 / 0.44})
    assert combine(model, {"a": 0.2, "b": 0.8}, 0.0) == pytest.approx(model)  # weight 0 ignores votes


def test_decide_overrules_an_unsure_model_when_the_neighbours_agree(tmp_path):
    prompt = voting_prompt(tmp_path)
    paper = Paper(id="x", title="Finding tumours in brain scans", abstract="We detect tumours in brain scans.")
    answer = Answer(summary="s", labels={"topic": "science", "contribution": "method"}, confidence={"topic": 0.5, "contribution": 0.9})
    topic = dict.fromkeys(prompt.field("topic").values, 0.0) | {"science": 0.5, "health": 0.45, "language": 0.05}
    labeller = Labeller(prompt, ExampleIndex.for_version(prompt))
    decided = labeller.vote(answer, {"topic": topic, "contribution": None}, paper)
    assert decided.labels["topic"] == "health" and 0.5 < decided.confidence["topic"] < 1
    # A field without a distribution keeps the model's label and confidence.
    assert decided.labels["contribution"] == "method" and decided.confidence["contribution"] == 0.9
    sure = topic | {"science": 0.95, "health": 0.0, "language": 0.05}
    assert labeller.vote(answer, {"topic": sure, "contribution": None}, paper).labels["topic"] == "science"


def test_votes_are_part_of_the_hash_and_need_a_big_enough_pool(tmp_path, monkeypatch):
    assert voting_prompt(tmp_path, vote_k=2).sha256 != voting_prompt(tmp_path, vote_k=1).sha256
    before = voting_prompt(tmp_path).sha256
    monkeypatch.setattr(versions, "VOTES_VERSION", "votes-changed")  # the way labels are decided
    assert voting_prompt(tmp_path).sha256 != before
    assert voting_prompt(tmp_path, weight=1.0).sha256 != voting_prompt(tmp_path, weight=2.0).sha256
    with pytest.raises(PromptError, match="pool needs more than 3"):
        voting_prompt(tmp_path, vote_k=3)


def test_the_vote_baseline_labels_each_paper_with_its_neighbours_favourite(tmp_path):
    from summariser.evaluation.baselines import vote_baseline

    prompt = voting_prompt(tmp_path)
    papers = [
        Paper(id="brain", title="Finding tumours in brain scans", abstract="We detect tumours in brain scans."),
        Paper(id="stars", title="Stars", abstract="Binary orbits found by a detection network."),
        Paper(id="scan2", title="Brain tumour masks", abstract="Tumour masks for brain scans."),
    ]
    gold = {"brain": {"topic": "health"}, "stars": {"topic": "science"}, "scan2": {"topic": "science"}}  # scan2's gold disagrees
    base = vote_baseline(prompt, ExampleIndex.for_version(prompt), papers, gold)
    assert base.vote_k == 2 and set(base.fields) == {"topic"}
    assert base.fields["topic"].accuracy == pytest.approx(2 / 3)


def fake_embed(texts, layers=0):
    """Embeddings that put the paper "Finding tumours..." next to the binary-stars paper (POOL[2]), which
    shares no word with them: votes by embedding must follow these, not the words."""
    def one(text):
        if "Orbits" in text or "Finding" in text:
            return [1.0, 0.0, 0.0]
        return [0.0, 1.0, 0.0] if "segmentation" in text else [0.0, 0.0, 1.0]
    return np.array([one(t) for t in texts])


def test_votes_by_embedding_follow_the_embeddings_not_the_words(tmp_path):
    paper = Paper(id="x", title="Finding tumours in brain scans", abstract="We detect tumours in brain scans.")
    by_words = votes_of(voting_prompt(tmp_path, vote_k=1), paper)["topic"]
    by_meaning = votes_of(voting_prompt(tmp_path, vote_k=1, similarity="embedding"), paper)["topic"]
    assert max(by_words, key=by_words.get) == "health"
    assert max(by_meaning, key=by_meaning.get) == "science"


def test_votes_by_embedding_never_count_the_paper_itself(tmp_path):
    star = POOL[2]
    # Its own embedding would be the closest of all (science would win). Left out, the two health
    # papers remain, both on the far side of the pool's mean (negative similarity): they add
    # nothing rather than count against health, so every value keeps only its smoothing.
    votes = votes_of(voting_prompt(tmp_path, similarity="embedding"), Paper(id="any", title=star.title, abstract=star.abstract))
    assert votes["topic"]["science"] == pytest.approx(votes["topic"]["health"]) == pytest.approx(1 / len(votes["topic"]))


def test_vote_similarity_is_part_of_the_hash_and_needs_votes(tmp_path, monkeypatch):
    by_words = voting_prompt(tmp_path).sha256
    by_meaning = voting_prompt(tmp_path, similarity="embedding").sha256
    assert by_words != by_meaning
    monkeypatch.setattr(versions, "EMBEDDING_VERSION", "embedding-changed")
    assert voting_prompt(tmp_path, similarity="embedding").sha256 != by_meaning
    assert voting_prompt(tmp_path).sha256 == by_words  # TF-IDF votes do not depend on it
    with pytest.raises(PromptError, match="vote_similarity needs vote_k"):
        voting_prompt(tmp_path, vote_k=0, similarity="embedding")


def test_a_run_embeds_the_pool_and_the_uncached_papers_once_before_any_call(tmp_path):
    from summariser.flow.cache import ResponseCache
    from summariser.flow.pipeline import summarise, version_index

    from .conftest import GOOD, fake_client
    from .fake_server import FakeServer, Reply

    events = []

    class RecordingEngine:
        def embed(self, texts, layers=0, last=False):
            events.extend(("embed", t.split(".")[0]) for t in texts)
            return np.array([[1.0 + len(t) % 3, 1.0, float(sum(map(ord, t)) % 7)] for t in texts])

    prompt = voting_prompt(tmp_path, similarity="embedding")
    papers = [Paper(id=f"p{i}", title=f"Paper {i}", abstract=f"Abstract {i}.") for i in range(4)]
    cache = ResponseCache(tmp_path / "cache")
    assert version_index(prompt, cache).embedder.directory == tmp_path / "cache" / "embeddings"  # beside the answers
    assert version_index(prompt, None).embedder.directory is None  # --no-cache keeps nothing on disk

    def respond(body):
        events.append(("call",))
        return Reply(text=GOOD)

    def run(some):
        index = ExampleIndex.for_version(prompt, EmbeddingStore.beside(cache.directory, RecordingEngine()))
        return list(summarise(some, prompt, client, cache, concurrency=2, index=index))

    with FakeServer(responder=respond) as srv:
        client = fake_client(srv.url)
        rows = run(papers[:3])
        pool_titles = sorted(ex.title for ex in POOL)
        # One pass over the pool and the three papers, before the first call.
        assert sorted(t for _, t in events[: len(POOL) + 3]) == sorted(pool_titles + ["Paper 0", "Paper 1", "Paper 2"])
        assert [e[0] for e in events[len(POOL) + 3 :]] == ["call"] * 3
        events.clear()
        rows += run(papers)
        # Only the paper the cache has no answer for is embedded again (the pool comes from the store).
        assert events == [("embed", "Paper 3"), ("call",)]
        events.clear()
        rows += run(papers)
    assert events == []  # a fully cached run neither embeds nor calls
    assert len(rows) == 11 and all(r.error is None for r in rows)


@pytest.mark.without_llama_cpp
def test_without_llama_cpp_embedding_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails as if not installed
    with pytest.raises(EmbeddedModelError, match=r"pip install 'summariser\[embedded\]'"):
        EmbeddingStore().embed(["A text never embedded before in this test run."])


def test_embeddings_are_kept_in_a_folder_only_the_user_can_read_and_survive_a_reopen(tmp_path):
    class FakeEngine:
        calls = 0

        def embed(self, texts, layers=0, last=False):
            FakeEngine.calls += len(texts)
            return np.array([[3.0, 4.0]] * len(texts))

    folder = tmp_path / "new-cache" / "embeddings"
    store = EmbeddingStore(folder, FakeEngine())
    assert store.embed(["a text"]).tolist() == [[3.0, 4.0]]
    assert (folder.stat().st_mode & 0o777) == (folder.parent.stat().st_mode & 0o777) == 0o700
    store.close()
    again = EmbeddingStore(folder, FakeEngine())  # opened again, as by the next run
    assert again.embed(["a text"]).tolist() == [[3.0, 4.0]] and FakeEngine.calls == 1


@pytest.mark.parametrize("similarity, expected", [("tfidf", "health"), ("embedding", "science")])
def test_a_run_decides_an_unsure_label_with_the_neighbours_its_similarity_finds(tmp_path, similarity, expected):
    from summariser.flow.cache import ResponseCache
    from summariser.flow.pipeline import summarise

    from .conftest import fake_client
    from .fake_server import FakeServer, Reply, completion_with_alternatives

    # The model is unsure between science and health; the one neighbour decides.
    pieces = [" A", " study", ".", "\n", "Topic", ":", " science", "\n", "Contribution", ":", " method"]
    tops = {6: {" science": math.log(0.5), " health": math.log(0.45), " language": math.log(0.05)}, 10: {" method": math.log(0.9), " theory": math.log(0.1)}}
    body = completion_with_alternatives(pieces, tops)
    paper = Paper(id="x", title="Finding tumours in brain scans", abstract="We detect tumours in brain scans.")
    prompt = voting_prompt(tmp_path, vote_k=1, similarity=similarity)
    index = ExampleIndex.for_version(prompt, FakeEmbedder())
    with FakeServer([Reply(body=body)]) as srv:
        [row] = summarise([paper], prompt, fake_client(srv.url), ResponseCache(tmp_path / "c"), index=index)
    assert row.error is None and row.labels["topic"] == expected
    assert 0.5 < row.confidence["topic"] < 1


def test_llama_cpp_errors_reach_the_terminal_but_its_warnings_do_not(capsys):
    pytest.importorskip("llama_cpp")  # summariser[embedded]
    from summariser.engine.weights import errors_only_log

    log = errors_only_log()
    log(3, b"model default pooling_type is [-1]\n", None)  # GGML_LOG_LEVEL_WARN
    log(5, b"...continued\n", None)
    log(4, b"failed to load model\n", None)  # GGML_LOG_LEVEL_ERROR
    log(5, b"...because\n", None)
    assert capsys.readouterr().err == "failed to load model\n...because\n"
