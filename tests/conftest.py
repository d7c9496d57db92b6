"""Shared fixtures: cassette replay (or recording against the embedded model), paths, small dumps.

Cassettes are replayed by default and a request with no recording fails the test. To record
them again against the embedded model (docs/architecture.md, Tests):
SUMMARISER_RECORD=1 pytest tests/test_pipeline_cassettes.py tests/test_injection.py tests/test_eval.py tests/test_cli.py
(delete cassettes/seed-embeddings-fewshot-v8.npz first to record the default's vectors again).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
import vcr

from summariser.base.versions import EMBEDDED_MODEL as MODEL_NAME
from summariser.flow.embedding_store import EmbeddingStore
from summariser.transport.client import ModelClient
from summariser.transport.retry import NO_WAIT

ROOT = Path(__file__).resolve().parent.parent
CASSETTES = ROOT / "cassettes"
SEED_DUMP = ROOT / "examples" / "papers-dump.txt"
# The command-line tests talk to fake endpoints. The default version (fewshot-v9) labels with a
# classifier on embeddings the real embedded model computes first (about 45 s for its pool), so
# they name a version without one; the default itself runs in tests/test_embedded.py.
FAKE_ENDPOINT_PROMPT = ["--prompt", "fewshot-v4"]
RECORDING = os.environ.get("SUMMARISER_RECORD") == "1"
# Sent as the API key while recording, so the secrets test can prove it never reaches a cassette.
RECORDING_KEY = "sk-recording-0123456789abcdef0123"
# Headers that can carry a credential; never written to a cassette.
SECRET_HEADERS = ["authorization", "api-key", "x-api-key", "openai-organization", "openai-project", "cookie", "set-cookie"]

recorder = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="all" if RECORDING else "none",
    # The embedded server's port changes every run, so host and port are not matched.
    match_on=["method", "path", "body"],
    filter_headers=SECRET_HEADERS,
    decode_compressed_response=True,
    # The embedded server's readiness probe is not part of what a test replays.
    before_record_request=lambda request: None if request.path.endswith("/models") else request,
)


@pytest.fixture
def model_client() -> Iterator[ModelClient]:
    """The embedded model when recording; otherwise a client whose requests only cassettes answer."""
    if RECORDING:
        from summariser.base.engine_api import load_engine

        engine = load_engine()
        client = ModelClient(MODEL_NAME, engine.base_url, RECORDING_KEY, "llama", on_close=engine.close, embedded=True)
    else:
        client = ModelClient(model=MODEL_NAME, base_url="http://127.0.0.1:9/v1", constrain="llama")
    yield client
    client.close()


class NoEngine:
    """Stands in for the embedded model's engine in every test not marked `embedded`: such a test
    must not load the real model (slow, and absent without the [embedded] extra)."""

    model, slots = MODEL_NAME, 4

    def base_url(self) -> str:
        raise AssertionError("this test would start the real embedded model: mark it embedded, or use a cassette")

    def close(self) -> None:
        pass

    def embed(self, texts, layers=0, last=False):
        raise AssertionError(f"this test would embed {len(texts)} text(s) with the real model: put recorded vectors in its store")


@pytest.fixture(autouse=True)
def _no_real_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    exempt = request.node.get_closest_marker("embedded") or request.node.get_closest_marker("without_llama_cpp")
    if not RECORDING and not exempt:
        monkeypatch.setattr("summariser.base.engine_api.load_engine", NoEngine)  # the one way in


@pytest.fixture(autouse=True)
def _no_endpoint_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's endpoint, key or cache."""
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "SUMMARISER_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUMMARISER_CACHE_DIR", str(tmp_path / "cache"))


# A valid answer in fewshot-v1's line format.
GOOD = " A parser that reads sentences.\nTopic: language\nContribution: method"


def cli(*args: str, input: str | None = None):
    """Invoke the command line in this process, with retries that do not wait (fake endpoints)."""
    from click.testing import CliRunner

    from summariser.cli import main

    return CliRunner().invoke(main, list(args), input=input, obj=NO_WAIT)


def fake_client(url: str, **kw) -> ModelClient:
    """A client of a fake endpoint, retrying without waiting."""
    return ModelClient(model=kw.pop("model", "fake"), base_url=url, policy=NO_WAIT, **kw)


@pytest.fixture(scope="session")
def embedding_store(tmp_path_factory: pytest.TempPathFactory) -> EmbeddingStore:
    """Paper embeddings computed by tests, kept apart from the user's cache folder."""
    return EmbeddingStore(tmp_path_factory.mktemp("embeddings"))


def shipped_source(version: str) -> str:
    """A shipped version's file without its [meta] table, to derive test versions from (their
    changed settings would otherwise contradict the declared requirements)."""
    from summariser.prompting.store import packaged_dir

    return (packaged_dir() / f"{version}.toml").read_text().split("\n[meta]\n")[0] + "\n"


# The default version's classifier embeds papers with the embedded model in this process, not
# over HTTP, so its part of a recording is a file of vectors beside the cassettes: the seed
# dump's papers as the default (fewshot-v9, as fewshot-v8) embeds them (13 layers, 150 words). Recorded with SUMMARISER_RECORD=1.
SEED_EMBEDDINGS = CASSETTES / "seed-embeddings-fewshot-v8.npz"


class RecordedEmbeddings:
    """An engine whose embed() answers from SEED_EMBEDDINGS; a text not in it fails the test
    (it would need the real model)."""

    def __init__(self) -> None:
        import numpy as np

        data = np.load(SEED_EMBEDDINGS)
        self.vectors = dict(zip(data["keys"].tolist(), data["vectors"]))

    def embed(self, texts, layers=0, last=False):
        import hashlib

        import numpy as np

        from summariser.base.versions import embedding_version

        keys = [hashlib.sha256(f"{embedding_version(layers)}\n{t}".encode()).hexdigest() for t in texts]
        missing = [t[:60] for k, t in zip(keys, texts) if k not in self.vectors]
        assert not missing, f"no recorded embedding for {missing}"
        return np.vstack([self.vectors[k] for k in keys])


def record_seed_embeddings() -> None:
    """Embed the seed dump's papers as the default version does, with the real model, into SEED_EMBEDDINGS."""
    import hashlib

    import numpy as np

    from summariser.base.engine_api import load_engine
    from summariser.base.versions import embedding_version
    from summariser.prompting.retrieval import embedding_text
    from summariser.prompting.store import DEFAULT_VERSION, load_prompt
    from summariser.records import read_dump

    retrieval = load_prompt(DEFAULT_VERSION).retrieval
    texts = [embedding_text(p.title, p.abstract, retrieval.embedding_words) for p in read_dump(str(SEED_DUMP)).papers]
    vectors = load_engine().embed(texts, retrieval.embedding_layers)
    keys = [hashlib.sha256(f"{embedding_version(retrieval.embedding_layers)}\n{t}".encode()).hexdigest() for t in texts]
    np.savez_compressed(SEED_EMBEDDINGS, keys=np.array(keys), vectors=vectors.astype(np.float32))


@pytest.fixture
def seed_embeddings() -> Iterator[None]:
    """The seed papers' embeddings for the default version, in this test's cache folder, so a run
    of the default on seed papers needs no real model (recorded first when recording)."""
    from summariser.flow.storage import default_cache_dir
    from summariser.flow.embedding_store import EmbeddingStore
    from summariser.prompting.retrieval import embedding_text
    from summariser.prompting.store import DEFAULT_VERSION, load_prompt
    from summariser.records import read_dump

    if RECORDING and not SEED_EMBEDDINGS.exists():
        record_seed_embeddings()
    retrieval = load_prompt(DEFAULT_VERSION).retrieval
    texts = [embedding_text(p.title, p.abstract, retrieval.embedding_words) for p in read_dump(str(SEED_DUMP)).papers]
    store = EmbeddingStore.beside(default_cache_dir(), RecordedEmbeddings())
    store.embed(texts, retrieval.embedding_layers)
    store.close()
    yield
