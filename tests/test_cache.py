import stat

from summariser.flow.cache import CachedAnswer, ResponseCache
from summariser.prompting.store import load_prompt
from summariser.records import Paper
from summariser.prompting.render import render
from summariser.base.types import Answer, Usage

PROMPT = load_prompt("fewshot-v1")
PAPER = Paper(id="p1", title="A Title", abstract="An abstract.")


def key(prompt=PROMPT, paper=PAPER, model="m", constrain="llama"):
    return render(prompt, paper, model, constrain).cache_key()


def test_key_is_stable_for_an_identical_request():
    assert key() == key()


def test_key_changes_with_each_part_of_the_request():
    base = key()
    assert key(model="other") != base
    assert key(paper=PAPER.model_copy(update={"abstract": "Another abstract."})) != base
    assert key(paper=PAPER.model_copy(update={"title": "Another Title"})) != base
    assert key(constrain="none") != base
    assert key(prompt=PROMPT.model_copy(update={"request_sha256": "0" * 64})) != base
    hotter = PROMPT.model_copy(update={"params": PROMPT.params.model_copy(update={"temperature": 0.7})})
    assert key(prompt=hotter) != base
    # The id is a label for output, not part of what the model sees.
    assert key(paper=PAPER.model_copy(update={"id": "other"})) == base


def test_round_trip_and_clear(tmp_path):
    cache = ResponseCache(tmp_path / "c")
    entry = CachedAnswer(answer=Answer(summary="S.", labels={"topic": "language"}), usage=Usage(prompt_tokens=3))
    assert cache.get("k") is None
    cache.set("k", entry)
    assert cache.get("k") == entry
    assert len(cache) == 1
    assert cache.clear() == 1 and cache.get("k") is None


def test_cache_folder_is_private(tmp_path):
    cache = ResponseCache(tmp_path / "private")
    mode = stat.S_IMODE((tmp_path / "private").stat().st_mode)
    assert mode == 0o700
    cache.close()
