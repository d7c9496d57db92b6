"""Throughput benchmarks, run on demand (never in the test suite): `make bench` or
`.venv/bin/python benchmarks/bench.py [--only startup,cached,client,embedded,tokens,scale] [--json FILE]`.

Prints one Markdown table per section:
0. startup: `summariser --help`, and fully cached runs of the default version (the seed dump and
   10,000 synthetic papers) as whole processes; and what a remote run with its endpoint's default
   loads (benchmarks/startup.py);
1. cached: rows/s of a fully cached run of 10,000 synthetic papers (in-process, so no interpreter
   start-up), and the wall time of a fully cached `summariser run` of the seed dump (a fresh process);
2. client: requests/s against a loopback server that answers after a fixed delay, at several
   concurrencies, as a ratio to the ideal (concurrency / delay);
3. embedded: the seed dump from a cold cache on the embedded model, against the same prompts sent
   straight to llama_cpp.Llama in a loop (no server, no grammar: the raw limit of this machine);
4. tokens: prompt and completion tokens per paper for each shipped prompt version;
5. scale: disk per million cached answers, `batch prepare`/`collect` rows/s, several endpoints
   against one, the Batch API cost of 10 million abstracts (benchmarks/scale.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator

from summariser.base.types import Answer, Usage
from summariser.base.versions import EMBEDDED_SLOTS as SLOTS
from summariser.flow.cache import CachedAnswer, ResponseCache
from summariser.flow.output import RowWriter
from summariser.flow.pipeline import summarise
from summariser.prompting.render import render
from summariser.prompting.store import available_versions, load_prompt
from summariser.records import Paper, read_dump
from summariser.transport.client import ModelClient, connect

# The version the cached, client and embedded sections use: docs/performance.md's tables are its. Not the
# default (fewshot-v8), whose classifier would first embed the papers with the real model and put
# that into the client section's timings.
BENCH_VERSION = "fewshot-v1"
ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "papers-dump.txt"
SUMMARISER = Path(sys.executable).parent / "summariser"


# Every table printed, for --json: docs render them from the committed file (docs/render.py).
PRINTED: list[dict[str, object]] = []


def table(title: str, header: list[str], rows: list[list[object]]) -> None:
    PRINTED.append({"title": title, "header": header, "rows": [[c if isinstance(c, (int, float)) else str(c) for c in r] for r in rows]})
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(f"{c:,.2f}" if isinstance(c, float) else str(c) for c in row) + " |")
    sys.stdout.flush()


def synthetic_papers(n: int) -> list[Paper]:
    words = "graph sparse attention robust protein climate agent benchmark kernel privacy".split()
    return [
        Paper(
            id=f"s{i}",
            title=f"Synthetic paper {i} on {words[i % 10]} {words[(i * 7) % 10]}",
            abstract=" ".join(words[(i + j) % 10] for j in range(150)) + f" ({i}).",
        )
        for i in range(n)
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def delay_server(delay: float) -> Iterator[str]:
    """The loopback test server in its own process (so it does not compete for our GIL)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("delay_server.py")), str(port), str(delay)], stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait()


def bench_cached(tmp: Path) -> None:
    prompt = load_prompt(BENCH_VERSION)
    no_model = ModelClient(model="bench", base_url="http://127.0.0.1:9/v1", constrain="llama")
    papers = synthetic_papers(10_000)
    cache = ResponseCache(tmp / "cache-synthetic")
    labels = {f.name: next(iter(f.values)) for f in prompt.fields}
    for p in papers:  # fill the cache directly: only the reading side is measured
        key = render(prompt, p, no_model.model, no_model.constrain).cache_key()
        cache.set(key, CachedAnswer(answer=Answer(summary=f"About {p.title}.", labels=labels), usage=Usage(prompt_tokens=1)))
    out = tmp / "synthetic.jsonl"
    started = time.perf_counter()
    writer = RowWriter(str(out), [f.name for f in prompt.fields])
    n = 0
    for row in summarise(papers, prompt, no_model, cache):
        assert row.cached
        writer.write(row)
        n += 1
    writer.close()
    in_process = time.perf_counter() - started
    cache.close()

    # The seed dump through the CLI, as a user re-runs it: fill the cache from the loopback server,
    # stop the server, then time a whole second process (interpreter start-up included).
    env = dict(os.environ, SUMMARISER_CACHE_DIR=str(tmp / "cache-seed"))
    env.pop("OPENAI_API_KEY", None)
    cmd = [str(SUMMARISER), "run", str(SEED), "-o", str(tmp / "seed.jsonl")]
    cmd += ["--model", "bench", "--prompt", BENCH_VERSION]
    with delay_server(0.0) as url:
        subprocess.run([*cmd, "--base-url", url], env=env, check=True, capture_output=True)
    started = time.perf_counter()
    done = subprocess.run([*cmd, "--base-url", "http://127.0.0.1:9/v1"], env=env, capture_output=True, text=True)
    seed_wall = time.perf_counter() - started
    assert done.returncode == 0 and "(178 cached)" in done.stderr, done.stderr
    table(
        "Cached path",
        ["what", "rows", "seconds", "rows/s"],
        [
            ["fully cached run, in-process (read, validate, write JSONL)", n, in_process, n / in_process],
            ["fully cached `summariser run` of the seed dump, whole process", 178, seed_wall, 178 / seed_wall],
        ],
    )


def bench_client(delay: float = 0.1, seconds: float = 4.0) -> None:
    prompt = load_prompt(BENCH_VERSION)
    rows = []
    with delay_server(delay) as url:
        for concurrency in (1, 8, 32, 128):
            client = ModelClient(model="bench", base_url=url, constrain="mixed")
            ideal = concurrency / delay
            papers = synthetic_papers(max(int(ideal * seconds), 20))
            list(summarise(papers[:concurrency], prompt, client, None, concurrency=concurrency))  # open connections
            started = time.perf_counter()
            done = list(summarise(papers, prompt, client, None, concurrency=concurrency))
            elapsed = time.perf_counter() - started
            client.close()
            assert all(r.error is None for r in done)
            achieved = len(done) / elapsed
            rows.append([concurrency, len(done), ideal, achieved, achieved / ideal])
    table(
        f"Client efficiency (loopback server, {delay * 1000:.0f} ms per request)",
        ["concurrency", "requests", "ideal req/s", "achieved req/s", "ratio"],
        rows,
    )


def _raw_llama(prompts: list[str], params: dict[str, object]) -> tuple[float, int, int]:
    """The same prompts straight to llama_cpp.Llama: seconds, prompt tokens, completion tokens."""
    import llama_cpp

    from summariser.engine.server import CONTEXT_TOKENS
    from summariser.engine.weights import model_path

    threads = os.cpu_count() or 1
    llm = llama_cpp.Llama(
        model_path=str(model_path()), n_ctx=CONTEXT_TOKENS, n_threads=threads, n_threads_batch=threads, verbose=False
    )
    pt = ct = 0
    started = time.perf_counter()
    for text in prompts:
        # The server's defaults for what our requests leave unset (repeat_penalty 1.1).
        out = llm.create_completion(text, repeat_penalty=1.1, **params)  # type: ignore[arg-type]
        pt += out["usage"]["prompt_tokens"]
        ct += out["usage"]["completion_tokens"]
    elapsed = time.perf_counter() - started
    llm.close()
    return elapsed, pt, ct


def bench_embedded(tmp: Path, limit: int | None) -> None:
    prompt = load_prompt(BENCH_VERSION)
    papers = read_dump(SEED).papers[:limit]
    with closing(ResponseCache(tmp / "cache-embedded")) as cache:
        client = connect()
        started = time.perf_counter()  # includes starting the server and evaluating the shared prefix once
        rows = list(summarise(papers, prompt, client, cache, concurrency=SLOTS))
        ours = time.perf_counter() - started
        client.close()
    errors = sum(r.error is not None for r in rows)
    pt = sum(r.usage.prompt_tokens for r in rows)
    ct = sum(r.usage.completion_tokens for r in rows)
    prompts = [render(prompt, p, client.model, "none").prompt or "" for p in papers]
    params = prompt.params.model_dump(exclude_none=True)
    raw, raw_pt, raw_ct = _raw_llama(prompts, params)
    n = len(papers)
    table(
        f"Embedded model, {n} seed papers from a cold cache, prompt {prompt.version}",
        ["path", "seconds", "papers/s", "prompt tok/s", "completion tok/s", "completion tok/paper"],
        [
            [f"summariser: server, grammar, {SLOTS} in flight ({errors} errors)", ours, n / ours, pt / ours, ct / ours, ct / n],
            ["raw llama_cpp.Llama loop, no grammar", raw, n / raw, raw_pt / raw, raw_ct / raw, raw_ct / n],
            ["ratio summariser / raw", "", (n / ours) / (n / raw), (pt / ours) / (raw_pt / raw), (ct / ours) / (raw_ct / raw), ""],
        ],
    )


def bench_tokens(tmp: Path, limit: int) -> None:
    papers = read_dump(SEED).papers[:limit]
    rows = []
    with closing(ResponseCache(tmp / "cache-embedded")) as cache:
        client = connect()
        for version in available_versions():
            prompt = load_prompt(version)
            done = list(summarise(papers, prompt, client, cache, concurrency=SLOTS))
            ok = [r for r in done if r.error is None]
            rows.append(
                [
                    version,
                    prompt.api,
                    len(ok),
                    sum(r.usage.prompt_tokens for r in ok) / max(len(ok), 1),
                    sum(r.usage.completion_tokens for r in ok) / max(len(ok), 1),
                ]
            )
        client.close()
    table(
        f"Tokens per paper on the embedded model (first {limit} seed papers; re-asks included)",
        ["prompt version", "api", "ok rows", "prompt tokens", "completion tokens"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="startup,cached,client,embedded,tokens,scale", help="Comma-separated sections to run.")
    parser.add_argument("--papers", type=int, help="Seed papers for the embedded section (default: all 178).")
    parser.add_argument("--token-papers", type=int, default=40, help="Seed papers per prompt version for the tokens section.")
    parser.add_argument("--json", type=Path, help="Also write the tables here (benchmarks/results/*.json, rendered into docs/).")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(
        f"summariser benchmarks, {time.strftime('%Y-%m-%d')}: {os.cpu_count()} cores, {mem_gib:.0f} GiB, "
        f"Python {platform.python_version()}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="summariser-bench-"))
    try:
        if "startup" in sections:
            from startup import bench_startup  # benchmarks/startup.py

            with delay_server(0.0) as url:
                bench_startup(tmp, SEED, synthetic_papers, url, table)
        if "cached" in sections:
            bench_cached(tmp)
        if "client" in sections:
            bench_client()
        if "embedded" in sections:
            bench_embedded(tmp, args.papers)
        if "tokens" in sections:
            bench_tokens(tmp, args.token_papers)
        if "scale" in sections:
            from scale import bench_scale  # benchmarks/scale.py

            bench_scale(tmp, table)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        import json

        machine = f"{os.cpu_count()} cores, {mem_gib:.0f} GiB, Python {platform.python_version()}"
        args.json.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "machine": machine, "tables": PRINTED}, indent=1) + "\n")


if __name__ == "__main__":
    main()
