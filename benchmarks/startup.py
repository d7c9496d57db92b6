"""Start-up and fully cached runs, as a user meets them: whole `summariser` processes, interpreter
start-up included (the `startup` section of bench.py)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from summariser.base.types import Answer, Usage
from summariser.base.versions import DEFAULT_VERSION, EMBEDDED_MODEL
from summariser.flow.cache import CachedAnswer, ResponseCache
from summariser.prompting.render import Renderer
from summariser.prompting.store import load_prompt
from summariser.records import Paper, read_dump

SUMMARISER = Path(sys.executable).parent / "summariser"
# What a process loaded, printed by a run wrapped in it.
LOADED = """
import json, sys
from summariser.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    heavy = sorted({m.split(".")[0] for m in sys.modules} & {"openai", "sklearn", "llama_cpp", "summariser.engine"})
    engine = any(m.startswith("summariser.engine.") for m in sys.modules)
    print(json.dumps({"status": exc.code, "heavy": heavy, "engine_modules": engine}), file=sys.stderr)
"""


def _median_wall(cmd: list[str], env: dict[str, str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _fill(cache_dir: Path, papers: list[Paper]) -> None:
    """Answers for the embedded model's default version, written straight into a cache."""
    prompt = load_prompt(DEFAULT_VERSION)
    renderer = Renderer(prompt, EMBEDDED_MODEL, "llama")
    labels = {f.name: next(iter(f.values)) for f in prompt.fields}
    cache = ResponseCache(cache_dir)
    for p in papers:
        answer = Answer(summary=f"About {p.title}.", labels=labels, confidence=dict.fromkeys(labels, 0.9))
        cache.set(renderer.request(p).cache_key(), CachedAnswer(answer=answer, usage=Usage(prompt_tokens=1)))
    cache.close()


def bench_startup(tmp: Path, seed: Path, synthetic: Callable[[int], list[Paper]], remote_url: str, table: Callable[..., None]) -> None:
    env = dict(os.environ, SUMMARISER_CACHE_DIR=str(tmp / "cache-startup"))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(name, None)
    help_wall = _median_wall([str(SUMMARISER), "--help"], env)
    _fill(tmp / "cache-startup", read_dump(str(seed)).papers)
    seed_wall = _median_wall([str(SUMMARISER), "run", str(seed), "-o", str(tmp / "seed.jsonl")], env)
    papers = synthetic(10_000)
    dump = tmp / "synthetic.jsonl"
    dump.write_text("".join(json.dumps({"id": p.id, "title": p.title, "abstract": p.abstract}) + "\n" for p in papers))
    _fill(tmp / "cache-startup", papers)
    big_wall = _median_wall([str(SUMMARISER), "run", str(dump), "-o", str(tmp / "synthetic-out.jsonl")], env, runs=3)
    remote = subprocess.run(
        [sys.executable, "-c", LOADED, "run", str(seed), "--limit", "20", "--base-url", remote_url, "--model", "bench", "-o", str(tmp / "remote.jsonl")],
        env=dict(env, SUMMARISER_CACHE_DIR=str(tmp / "cache-remote")), capture_output=True, text=True,
    )
    loaded = json.loads(remote.stderr.strip().splitlines()[-1])
    table(
        "Start-up and fully cached runs (whole processes, median wall time)",
        ["what", "rows", "seconds", "rows/s"],
        [
            ["`summariser --help`", "", help_wall, ""],
            [f"fully cached `summariser run` of the seed dump ({DEFAULT_VERSION}, embedded model)", 178, seed_wall, 178 / seed_wall],
            [f"fully cached `summariser run` of 10,000 synthetic papers ({DEFAULT_VERSION})", 10_000, big_wall, 10_000 / big_wall],
        ],
    )
    print(
        f"\nA remote run with that endpoint's default (20 seed papers, loopback endpoint): exit {loaded['status']}, "
        f"heavy packages loaded: {', '.join(loaded['heavy']) or 'none'}; engine modules loaded: {'yes' if loaded['engine_modules'] else 'no'} "
        "(no local model)."
    )
