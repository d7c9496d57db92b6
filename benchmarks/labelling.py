"""Simulated labelling sessions: how agreement grows with the number of papers labelled, in the
order the label page proposes against random orders, on the embedded model.

For a learning version whose labelled file is a hand-labelled gold set of the seed papers, the
gold plays the annotator: labelling session after session, the next paper is the one
labels.proposals.Proposer ranks first given the labels so far (as the page does after each
answer), or the next of a random order. After n labels, the version's settings are chosen and
its classifier fitted on those n alone (labels.crossval.labels_from), and Cohen's kappa is
measured on every other paper, against the gold. The embeddings are standardised over the n
labelled papers alone, as a run's are over its pool. The model's own probabilities come from its
cached answers (a first run asks the model about every paper: about 4 minutes on 2 cores).

    .venv/bin/python benchmarks/labelling.py [VERSION_FILE ...] [--json OUT]

Default: the seed's second taxonomy, with the classifier reading the mean hidden states alone
(evals/modality/modality-v1.toml) and with them the state after a draft's embedding question
(modality-v2), then the seed's own taxonomy both ways (evals/seed-auto.toml, seed-auto-q.toml):
the committed evals/results/labelling/simulated-*.json, about 15 minutes on 2 cores. The proposer
was designed on the seed gold's topic field (`evals/gold.jsonl`, version fewshot-v8's taxonomy);
the modality taxonomy, labelled later, was not looked at while designing it. The question was
chosen among four looking at all three fields (docs/labelling.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import deque
from pathlib import Path

import numpy as np

from summariser.base.versions import EMBEDDED_MODEL
from summariser.flow.cache import ResponseCache
from summariser.flow.calls import VersionRun
from summariser.flow.learning import field_data, pool_papers
from summariser.flow.pipeline import _close_store, _rows, embed_uncached, version_index
from summariser.labels.crossval import curve
from summariser.labels.proposals import Proposer
from summariser.labels.tuning import kappa
from summariser.prompting.store import load_prompt
from summariser.transport.client import connect

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10, 20, 30, 40, 50, 60)
RANDOM_ORDERS = 10
SESSIONS = 5  # proposed-order sessions, each from another first paper


def proposed_order(proposer: Proposer, field: str, y: list[str], n: int, first: int | None = None) -> list[int]:
    """The papers in the order the page would propose them, the gold answering each. first: a
    paper the annotator labels before following the proposals (another session's start)."""
    labelled: dict[str, dict[str, str]] = {}
    order = []
    for _ in range(n):
        pid = proposer.ids[first] if first is not None and not order else proposer.rank(labelled, n=1)[0]
        i = proposer.row[pid]
        labelled[pid] = {field: y[i]}
        order.append(i)
    return order


def simulate(version_file: str) -> dict[str, object]:
    """Learning curves (proposed and random orders) for every field of a learning version."""
    prompt = load_prompt(version_file)
    client = connect()
    cache = ResponseCache()
    run = VersionRun.make(prompt, client, cache, version_index(prompt, cache))
    try:
        papers = pool_papers(prompt)
        embed_uncached(papers, run)
        deque(_rows(papers, run, 4), maxlen=0)  # the model's answers, cached
        found = [run.cached_answer(p) for p in papers]
        assert run.labeller.index is not None
        raw, spread = run.labeller.index.raw_pool(), bool(run.labeller.index.embedding_layers)
    finally:
        _close_store(run)
        client.close()
        cache.close()
    out: dict[str, object] = {}
    for f, values, y, model in field_data(prompt, found):
        proposer = Proposer([f], [p.id for p in papers], raw)
        rng = np.random.default_rng(0)
        # Session 0 follows the proposals from the start; the others start at a random paper.
        starts = [None, *rng.choice(len(y), SESSIONS - 1, replace=False).tolist()]
        proposed = np.array([curve(proposed_order(proposer, f.name, y, max(SIZES), s), SIZES, raw, y, values, model, spread) for s in starts])
        randoms = np.array([curve(rng.permutation(len(y)), SIZES, raw, y, values, model, spread) for _ in range(RANDOM_ORDERS)])
        alone = np.asarray(values)[model.argmax(axis=1)].tolist() if model is not None else None
        out[f.name] = {
            "sizes": list(SIZES),
            "proposed": proposed[0].tolist(),
            "proposed_mean": proposed.mean(axis=0).tolist(),
            "proposed_low": proposed.min(axis=0).tolist(),
            "proposed_high": proposed.max(axis=0).tolist(),
            "random_mean": randoms.mean(axis=0).tolist(),
            "random_low": randoms.min(axis=0).tolist(),
            "random_high": randoms.max(axis=0).tolist(),
            "model_alone": kappa(y, alone) if alone else None,
            "papers": len(y),
            "counts": {v: y.count(v) for v in values},
        }
    return {"version": prompt.version, "sha256": prompt.sha256, "model": EMBEDDED_MODEL, "date": dt.date.today().isoformat(), "fields": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = [ROOT / "evals" / "modality" / "modality-v1.toml", ROOT / "evals" / "modality" / "modality-v2.toml",
                ROOT / "evals" / "seed-auto.toml", ROOT / "evals" / "seed-auto-q.toml"]
    parser.add_argument("versions", nargs="*", default=[str(p) for p in defaults])
    parser.add_argument("--json", type=Path, help="write the curves here (evals/results/labelling-*.json)")
    args = parser.parse_args()
    results = [simulate(v) for v in args.versions]
    for r in results:
        for name, c in r["fields"].items():  # type: ignore[union-attr]
            print(f"\n### {r['version']}: {name} ({c['papers']} papers; model alone kappa {c['model_alone']})\n")
            print(f"| labelled | proposed order, {SESSIONS} sessions: mean (min-max) | random orders, {RANDOM_ORDERS}: mean (min-max) |")
            print("|---|---|---|")
            for i, n in enumerate(c["sizes"]):
                print(f"| {n} | {c['proposed_mean'][i]:.3f} ({c['proposed_low'][i]:.3f}-{c['proposed_high'][i]:.3f}) "
                      f"| {c['random_mean'][i]:.3f} ({c['random_low'][i]:.3f}-{c['random_high'][i]:.3f}) |")
    if args.json:
        args.json.write_text(json.dumps(results if len(results) > 1 else results[0], indent=1) + "\n")
        print(f"\nwrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
