"""The pipeline end to end against recorded answers of the embedded model (llama-cpp-python server).

Re-record with: SUMMARISER_RECORD=1 pytest tests/test_pipeline_cassettes.py
"""

import pytest

from summariser.flow.cache import ResponseCache
from summariser.flow.pipeline import summarise
from summariser.prompting.store import load_prompt
from summariser.records import read_dump

from .conftest import RECORDING, SEED_DUMP, recorder

PAPERS = read_dump(str(SEED_DUMP)).papers[:3]


@pytest.mark.parametrize("version", ["fewshot-v1", "chat-v1"])
def test_recorded_run_gives_valid_rows_then_cache_hits(version, model_client, tmp_path):
    prompt = load_prompt(version)
    cache = ResponseCache(tmp_path / "cache")
    with recorder.use_cassette(f"pipeline-{version}.yaml") as cassette:
        rows = list(summarise(PAPERS, prompt, model_client, cache))
        assert cassette.play_count == (0 if RECORDING else len(PAPERS))
    assert [r.id for r in rows] == [p.id for p in PAPERS]
    for row in rows:
        assert row.error is None, row.error
        assert row.summary and "\n" not in row.summary and len(row.summary.split()) <= 35
        for field in prompt.fields:
            assert row.labels[field.name] in field.values
        assert row.prompt == version and row.prompt_sha256 == prompt.sha256
        assert row.usage.prompt_tokens > 0 and row.usage.completion_tokens > 0
        assert not row.cached
    # Same run again: every answer from the cache, no request at all (the recorder would refuse one).
    with recorder.use_cassette(f"pipeline-{version}.yaml", allow_playback_repeats=False) as cassette:
        again = list(summarise(PAPERS, prompt, model_client, cache))
        assert cassette.play_count == 0
    assert all(r.cached for r in again)
    assert [(r.summary, r.labels) for r in again] == [(r.summary, r.labels) for r in rows]
