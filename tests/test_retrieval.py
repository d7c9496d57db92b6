"""Retrieved few-shot examples: the most similar pool papers, never the paper itself, and the
pool is part of the prompt version's hash."""

import json
import shutil

import pytest

from summariser.prompting import store as prompts
from summariser.transport.client import ModelClient
from summariser.evaluation.evaluate import evaluate
from summariser.evaluation.gold import load_gold
from summariser.prompting.store import Example, PromptError, load_prompt
from summariser.records import Paper, read_dump
from summariser.prompting.render import render, retrieved_examples
from summariser.prompting.retrieval import ExampleIndex

from .conftest import GOOD, ROOT, SEED_DUMP, fake_client, shipped_source
from .fake_server import FakeServer, Reply

LABELS = {"topic": "language", "contribution": "method"}
POOL = [
    Example(title="Protein folding with graph networks", abstract="We predict protein structure from sequence.", summary="s", labels=LABELS),
    Example(title="Speech recognition for low resource languages", abstract="Acoustic models for rare languages.", summary="s", labels=LABELS),
    Example(title="Galaxy classification from telescope images", abstract="Telescope surveys of galaxy morphology.", summary="s", labels=LABELS),
    Example(title="Protein language models", abstract="Language models trained on protein sequence data.", summary="s", labels=LABELS),
]


def test_nearest_examples_are_the_most_similar_closest_last():
    index = ExampleIndex(POOL)
    paper = Paper(id="x", title="Graph networks for proteins", abstract="We learn to predict the folded structure of enzymes from amino acid sequence data.")
    chosen = index.nearest(paper, 2)
    assert [ex.title for ex in chosen] == ["Protein language models", "Protein folding with graph networks"]


def test_a_paper_is_never_its_own_example_under_another_id_title_or_abstract():
    index = ExampleIndex(POOL)
    galaxy = POOL[2]
    for paper in (
        Paper(id="custom-id", title="GALAXY classification from telescope images!", abstract="Unrelated words here."),  # title
        Paper(id="p1", title="Galaxy classification from telescope images (Extended Version)", abstract=galaxy.abstract),  # abstract
        Paper(id="p2", title="Galaxy clаssification from telescope images", abstract="Telescope surveys of galaxy morphology, revised."),  # Cyrillic а; near-identical text
    ):
        chosen = index.nearest(paper, 3)
        assert len(chosen) == 3 and galaxy not in chosen, paper.title


def test_example_abstracts_are_cut_to_the_versions_length_and_chat_prompts_get_them_too(tmp_path):
    src = shipped_source("chat-v1")
    path = tmp_path / "chat-r.toml"
    (tmp_path / "pools").mkdir()
    shutil.copy(prompts.packaged_dir() / "pools" / "seed-gold.jsonl", tmp_path / "pools" / "seed-gold.jsonl")
    path.write_text(src + '\n[retrieval]\npool = "pools/seed-gold.jsonl"\nk = 2\nexample_words = 5\n')
    prompt = load_prompt(str(path))
    paper = read_dump(str(SEED_DUMP)).papers[0]
    [first, second] = retrieved_examples(prompt, paper, ExampleIndex.for_version(prompt))
    assert len(first.abstract.split()) == 6 and first.abstract.endswith(" ...")
    messages = render(prompt, paper, "m", "schema").messages
    # system, then each example as a user turn and the assistant's answer, then the paper
    assert len(messages) == 1 + 2 * (len(prompt.examples) + 2) + 1
    assert messages[-3]["content"].startswith(f"Title: {second.title}\nAbstract: {second.abstract}")


def test_the_pool_is_part_of_the_prompt_hash(tmp_path):
    shutil.copy(prompts.packaged_dir() / "fewshot-v2.toml", tmp_path / "mine.toml")
    (tmp_path / "pools").mkdir()
    pool = tmp_path / "pools" / "seed-gold.jsonl"
    shutil.copy(prompts.packaged_dir() / "pools" / "seed-gold.jsonl", pool)
    before = load_prompt(str(tmp_path / "mine.toml")).sha256
    rows = pool.read_text().splitlines()
    first = json.loads(rows[0])
    first["summary"] += " Edited."
    pool.write_text("\n".join([json.dumps(first)] + rows[1:]) + "\n")
    assert load_prompt(str(tmp_path / "mine.toml")).sha256 != before


def test_each_paper_gets_its_own_examples_in_its_request():
    prompt = load_prompt("fewshot-v2")
    papers = read_dump(str(SEED_DUMP)).papers[:2]
    requests = [render(prompt, p, "m", "llama").prompt for p in papers]
    chosen = [retrieved_examples(prompt, p, ExampleIndex.for_version(prompt)) for p in papers]
    for examples, text in zip(chosen, requests):
        assert len(examples) == prompt.retrieval.k
        # fewshot-v2 shows a retrieved example's title, summary and labels, after the fixed examples.
        assert all(f"Title: {ex.title}\nSummary: {ex.summary}\nTopic: {ex.labels['topic']}\n" in text for ex in examples)
        assert text.index(f"Title: {examples[0].title}") > text.index(f"Title: {prompt.examples[-1].title}")
    assert [ex.title for ex in chosen[0]] != [ex.title for ex in chosen[1]]


def test_eval_never_shows_a_paper_its_own_gold_answer(tmp_path):
    """The pool is the gold set, so each paper's own labelled row must be left out of its prompt."""
    gold = load_gold(ROOT / "evals" / "gold.jsonl")
    papers = read_dump(str(SEED_DUMP)).papers[:12]
    own = {p.id: gold.reference()[p.id].summary for p in papers}
    prompt = load_prompt("fewshot-v2")
    with FakeServer([Reply(text=GOOD)]) as srv:
        evaluate(gold, papers, [prompt], fake_client(srv.url), concurrency=4)
        sent = list(srv.requests)
    assert len(sent) == len(papers)
    for body in sent:
        pid = next(p.id for p in papers if f"Title: {p.title}\nAbstract: {p.abstract}\nSummary:" in body["prompt"])
        title = next(p.title for p in papers if p.id == pid)
        assert body["prompt"].count(f"Title: {title}\n") == 1  # only as the paper asked about
        assert own[pid] not in body["prompt"]
        # ...while the fixed examples and 4 other papers' labels are there.
        assert body["prompt"].count("\nTopic: ") == len(prompt.examples) + prompt.retrieval.k


def test_without_example_summaries_retrieved_papers_show_title_and_labels_only():
    """fewshot-v4 shows its neighbours' labels but none of their summaries, which the model copied."""
    prompt = load_prompt("fewshot-v4")
    assert prompt.retrieval is not None and not prompt.retrieval.example_summaries
    paper = read_dump(str(SEED_DUMP)).papers[0]
    examples = retrieved_examples(prompt, paper, ExampleIndex.for_version(prompt))
    text = render(prompt, paper, "m", "llama").prompt
    assert len(examples) == prompt.retrieval.k
    for ex in examples:
        assert f"Title: {ex.title}\nTopic: {ex.labels['topic']}\nContribution: {ex.labels['contribution']}\n\n" in text
        assert ex.summary not in text
    # The fixed worked examples keep their summaries; the paper's own "Summary:" ends the prompt.
    assert text.count("Summary:") == len(prompt.examples) + 1
    assert all(ex.summary in text for ex in prompt.examples)


def test_without_example_summaries_a_shown_abstract_is_still_followed_by_labels_only(tmp_path):
    (tmp_path / "pools").mkdir()
    shutil.copy(prompts.packaged_dir() / "pools" / "seed-gold.jsonl", tmp_path / "pools" / "seed-gold.jsonl")
    src = shipped_source("fewshot-v4").replace("example_words = 0\n", "example_words = 5\n")
    (tmp_path / "mine.toml").write_text(src.replace('version = "fewshot-v4"', 'version = "mine"'))
    prompt = load_prompt(str(tmp_path / "mine.toml"))
    paper = read_dump(str(SEED_DUMP)).papers[0]
    text = render(prompt, paper, "m", "llama").prompt
    for ex in retrieved_examples(prompt, paper, ExampleIndex.for_version(prompt)):
        assert f"Title: {ex.title}\nAbstract: {ex.abstract}\nTopic: {ex.labels['topic']}\n" in text
    assert text.count("Summary:") == len(prompt.examples) + 1


def test_example_summaries_leaves_older_hashes_alone_and_is_refused_where_examples_are_whole_answers(tmp_path):
    # At its default the setting is not part of the hash: fewshot-v3 still has its released hash.
    assert load_prompt("fewshot-v3").sha256 == prompts.read_lock()["fewshot-v3"]
    (tmp_path / "pools").mkdir()
    shutil.copy(prompts.packaged_dir() / "pools" / "seed-gold.jsonl", tmp_path / "pools" / "seed-gold.jsonl")
    retrieval = '\n[retrieval]\npool = "pools/seed-gold.jsonl"\nk = 2\nexample_summaries = false\n'
    chat = shipped_source("chat-v1")
    json_completion = shipped_source("fewshot-v1").replace('format = "lines"', 'format = "json"')
    assert 'format = "json"' in json_completion
    for name, src in (("chat", chat), ("json", json_completion)):
        (tmp_path / f"{name}.toml").write_text(src + retrieval)
        with pytest.raises(PromptError, match="example_summaries = false needs api = 'completion'"):
            load_prompt(str(tmp_path / f"{name}.toml"))
