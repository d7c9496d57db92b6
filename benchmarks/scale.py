"""Numbers for docs/scale.md, measured here: `make bench` (section `scale`) or
`.venv/bin/python benchmarks/bench.py --only scale`.

- disk per million cached answers: ResponseCache filled with 20,000 answers shaped like real ones
  (a 20-word summary, two labels with confidences, token counts), the folder's size scaled up;
  also for a learning version's answers, which keep the model's distribution over each value;
- `batch prepare` and `batch collect` rows per second on 100,000 synthetic papers against the
  loopback Files/Batches fake (tests/fake_batch_api.py);
- a run's throughput against three loopback endpoints at once against one (50 ms per answer).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable

from summariser.base.types import Answer, Usage
from summariser.flow.cache import CachedAnswer, ResponseCache

Table = Callable[[str, list[str], list[list[object]]], None]
ANSWERS = 20_000


def _answer(i: int, learning: bool) -> CachedAnswer:
    words = " ".join(f"word{(i * 7 + j) % 997}" for j in range(20))
    answer = Answer(summary=f"Proposes {words}.", labels={"topic": "language", "contribution": "method"},
                    confidence={"topic": 0.81234, "contribution": 0.65432})
    dists = None
    if learning:  # eight and seven values, as the seed taxonomy's fields
        dists = {"topic": {f"value{k}": 0.125 for k in range(8)}, "contribution": {f"value{k}": 1 / 7 for k in range(7)}}
    return CachedAnswer(answer=answer, usage=Usage(prompt_tokens=1184, completion_tokens=35), distributions=dists)


def disk_per_million(table: Table) -> None:
    """Megabytes a million cached answers take, from 20,000 written."""
    rows = []
    for learning in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            cache = ResponseCache(Path(tmp))
            started = time.perf_counter()
            for i in range(ANSWERS):
                cache.set(f"{i:064x}", _answer(i, learning))
            seconds = time.perf_counter() - started
            cache.close()
            size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
        what = "a learning version's answers (with distributions)" if learning else "answers"
        rows.append([what, ANSWERS, size / 1e6, size / ANSWERS * 1e6 / 1e9, ANSWERS / seconds])
    rows.append(_embeddings_row())
    table("Disk per million cached answers", ["what", "entries written", "MB on disk", "GB per million", "writes/s"], rows)


def _embeddings_row() -> list[object]:
    """The same for paper embeddings (640 dimensions, as the embedded model's layer embeddings)."""
    import numpy as np

    from summariser.flow.embedding_store import EmbeddingStore

    class Vectors:
        def embed(self, texts: list[str], layers: int = 0, last: bool = False) -> np.ndarray:
            return np.random.default_rng(len(texts)).standard_normal((len(texts), 640)).astype(np.float32)

    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddingStore(Path(tmp) / "embeddings", Vectors())  # type: ignore[arg-type]
        started = time.perf_counter()
        for start in range(0, ANSWERS, 1000):
            store.embed([f"paper {i}" for i in range(start, start + 1000)], 13)
        seconds = time.perf_counter() - started
        store.close()
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    return ["paper embeddings (640 floats each)", ANSWERS, size / 1e6, size / ANSWERS * 1e6 / 1e9, ANSWERS / seconds]


# Batch API prices in US$ per million tokens (input, output): half the standard price, as listed
# on 2026-07-05 (apicalculators.com/blog/openai-batch-api-cost-2026, quoting OpenAI's pricing).
BATCH_PRICES = {"gpt-4o-mini": (0.075, 0.30), "gpt-4o": (1.25, 5.00)}
PRICES_DATE = "2026-07-05"
ABSTRACTS = 10_000_000


def chat_tokens(tmp: Path, papers: int = 40) -> tuple[float, float]:
    """chat-v1's prompt and completion tokens per paper, counted by the embedded model on the
    first seed papers (an OpenAI model's tokenizer counts English text about the same)."""
    from summariser.flow.pipeline import summarise
    from summariser.prompting.store import load_prompt
    from summariser.records import read_dump
    from summariser.transport.client import connect

    seed = read_dump(str(Path(__file__).resolve().parent.parent / "examples" / "papers-dump.txt")).papers[:papers]
    cache = ResponseCache(tmp / "cache-scale")
    client = connect()
    try:
        ok = [r for r in summarise(seed, load_prompt("chat-v1"), client, cache, concurrency=4) if r.error is None]
    finally:
        client.close()
        cache.close()
    n = max(len(ok), 1)
    return sum(r.usage.prompt_tokens for r in ok) / n, sum(r.usage.completion_tokens for r in ok) / n


def cost_of_ten_million(tmp: Path, table: Table) -> None:
    """What 10 million abstracts cost through the Batch API with chat-v1 (OpenAI's models are
    chat models), at the prices above."""
    prompt_tokens, completion_tokens = chat_tokens(tmp)
    rows = []
    for model, (price_in, price_out) in BATCH_PRICES.items():
        per_paper = (prompt_tokens * price_in + completion_tokens * price_out) / 1e6
        rows.append([model, f"{price_in} / {price_out}", prompt_tokens, completion_tokens, per_paper * ABSTRACTS])
    table(f"Batch API cost of 10 million abstracts with chat-v1 (prices of {PRICES_DATE})",
          ["model", "US$ per 1M tokens in / out", "prompt tokens per paper", "completion tokens per paper", "US$ for 10M"], rows)


BATCH_PAPERS = 100_000


def batch_files(tmp: Path, table: Table) -> None:
    """`batch prepare` and `batch collect` rows/s on 100,000 synthetic papers, as whole commands,
    against the loopback Files/Batches fake (which answers every request at once)."""
    import json
    import os
    import subprocess
    import sys

    sys_path_tests()
    from tests.fake_batch_api import FakeBatchAPI

    dump = tmp / "batch-dump.jsonl"
    with open(dump, "w") as out:
        for i in range(BATCH_PAPERS):
            abstract = f"We study problem {i} in graph learning and show that method {i % 13} improves accuracy on benchmark {i % 7}."
            out.write(json.dumps({"id": f"p{i}", "title": f"Paper number {i}: learning on graphs", "abstract": abstract}) + "\n")
    env = {**os.environ, "SUMMARISER_CACHE_DIR": str(tmp / "batch-cache"), "OPENAI_API_KEY": "bench"}
    exe = [sys.executable, "-m", "summariser", "batch"]
    rows = []
    with FakeBatchAPI(tmp / "batch-api") as api:
        endpoint = ["--prompt", "fewshot-v1", "--model", "fake", "--base-url", api.url]
        started = time.perf_counter()
        subprocess.run([*exe, "prepare", str(dump), "-o", str(tmp / "batch-files"), *endpoint], env=env, check=True, capture_output=True)
        rows.append(["prepare (render, hash, write request files)", BATCH_PAPERS, time.perf_counter() - started])
        subprocess.run([*exe, "submit", str(tmp / "batch-files")], env=env, check=True, capture_output=True)
        for batch_id in list(api.batches):
            api.finish(batch_id)
        started = time.perf_counter()
        subprocess.run([*exe, "collect"], env=env, check=True, capture_output=True)
        rows.append(["collect (download, validate, decide, cache)", BATCH_PAPERS, time.perf_counter() - started])
    table(f"Batch files: {BATCH_PAPERS:,} synthetic papers, whole commands (fewshot-v1)",
          ["step", "papers", "seconds", "papers/s"], [[what, n, secs, n / secs] for what, n, secs in rows])


def several_endpoints(tmp: Path, table: Table) -> None:
    """A run's requests/s against one loopback endpoint and against three, 50 ms per answer."""
    from summariser.flow.pipeline import summarise
    from summariser.prompting.store import load_prompt
    from summariser.records import Paper
    from summariser.transport.client import connect
    from summariser.transport.retry import NO_WAIT

    sys_path_tests()
    from tests.fake_server import FakeServer, Reply

    answer = {"choices": [{"index": 0, "text": " A study.\nTopic: language\nContribution: method", "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 1, "completion_tokens": 1}}
    papers = [Paper(id=f"p{i}", title=f"Paper {i}", abstract=f"We study problem {i} and report result {i}.") for i in range(2000)]
    prompt = load_prompt("fewshot-v1")
    rows = []
    for count, concurrency in ((1, 8), (3, 24)):
        servers = [FakeServer(responder=lambda body: Reply(body=answer, delay=0.05)) for _ in range(count)]
        for srv in servers:
            srv.__enter__()
        try:
            client = connect(base_url=[srv.url for srv in servers] if count > 1 else servers[0].url, model="fake", policy=NO_WAIT)
            started = time.perf_counter()
            done = list(summarise(papers, prompt, client, None, concurrency=concurrency))
            seconds = time.perf_counter() - started
            client.close()
        finally:
            for srv in servers:
                srv.__exit__(None, None, None)
        ideal = concurrency / 0.05
        rows.append([count, concurrency, len(done), seconds, len(done) / seconds, ideal, len(done) / seconds / ideal])
    table("Several endpoints: 2,000 papers, 50 ms per answer",
          ["endpoints", "in flight", "papers", "seconds", "requests/s", "ideal requests/s", "ratio"], rows)


def sys_path_tests() -> None:
    """The tests' fakes (loopback servers) are importable from the benchmarks."""
    import sys

    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)


def bench_scale(tmp: Path, table: Table) -> None:
    """Every measurement of this module."""
    disk_per_million(table)
    batch_files(tmp, table)
    several_endpoints(tmp, table)
    cost_of_ten_million(tmp, table)
