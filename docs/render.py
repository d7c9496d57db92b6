#!/usr/bin/env python3
"""Render the committed eval results into the docs, so that no eval number is typed by hand.

A result is the JSON that `summariser eval --json` writes (the EvalReport model in
summariser/evaluation/evaluate.py), committed as evals/results/<date>-<what>.json; one file may
hold several prompt versions. In every docs/*.md, the text between

    <!-- evals:begin -->            a table of every prompt version that has a result
    <!-- evals:begin fewshot-v8 --> a table of the named versions only (several may be named)
    <!-- evals:end -->

is replaced by a table with one row per version, from the newest result that holds it (by the
report's `date`, then by file name), followed by that version's votes-alone baseline where the
same result has one. The full table ends with the model-free baselines of the newest result. A
version without a result gets "No committed results yet". A row whose prompt hash is not the one
in prompts/versions.lock says so.

Between `<!-- bench:begin TITLE -->` and `<!-- bench:end -->` goes the benchmark table whose
title starts with TITLE, from the newest benchmarks/results/*.json (`benchmarks/bench.py --json`).
Between `<!-- labelling:begin -->` and `<!-- labelling:end -->` go the labelling results of
evals/results/labelling/: simulated labelling sessions (benchmarks/labelling.py) and learning
versions' cross-validated evals. Between `<!-- summaries:begin FILE -->` and
`<!-- summaries:end -->` goes the summary table of the eval result FILE (a path from the project
folder): each version and baseline with its intervals, and each version against the titles.

    python docs/render.py           # rewrite the docs in place
    python docs/render.py --check   # exit 1 if a doc would change (CI), 0 if none would

Exit status 2: a result file cannot be read. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(?P<begin><!-- evals:begin(?P<names>[^>]*?)-->)(?P<body>.*?)(?P<end><!-- evals:end -->)", re.S)
Json = dict[str, Any]
BENCH = re.compile(r"(?P<begin><!-- bench:begin (?P<title>[^>]*?) -->)(?P<body>.*?)(?P<end><!-- bench:end -->)", re.S)
LABELLING = re.compile(r"(?P<begin><!-- labelling:begin -->)(?P<body>.*?)(?P<end><!-- labelling:end -->)", re.S)
SUMMARIES = re.compile(r"(?P<begin><!-- summaries:begin (?P<file>[^>]*?) -->)(?P<body>.*?)(?P<end><!-- summaries:end -->)", re.S)
REQUIRED = ("prompt", "fields", "summary", "cost")  # what a table row reads of each version


class RenderError(Exception):
    """A result file that cannot be used; the message names it."""


@dataclass(frozen=True)
class Result:
    """One prompt version's results, and the report and file they come from."""

    path: Path
    report: Json
    version: Json

    @property
    def newness(self) -> tuple[str, str]:
        return (str(self.report.get("date", "")), self.path.name)


def load_results(directory: Path) -> dict[str, Result]:
    """The newest result of each prompt version in the directory's *.json files."""
    newest: dict[str, Result] = {}
    for path in sorted(directory.glob("*.json")):  # not labelling/: its own tables (labelling_tables)
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            versions = report["versions"]
            for version in versions:
                absent = [key for key in REQUIRED if key not in version]
                if absent:
                    raise KeyError(f"a version has no {', '.join(absent)}")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RenderError(f"{path}: not a `summariser eval --json` result ({type(exc).__name__}: {exc})") from None
        for version in versions:
            result = Result(path, report, version)
            old = newest.get(version["prompt"])
            if old is None or result.newness > old.newness:
                newest[version["prompt"]] = result
    return newest


def read_lock(path: Path) -> dict[str, str]:
    """Released versions and their hashes (empty without a lock file)."""
    if not path.is_file():
        return {}
    pairs = (line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#"))
    return {p[0]: p[1] for p in pairs if len(p) == 2}


def natural(name: str) -> list[Any]:
    """Sort key putting fewshot-v10 after fewshot-v9."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _num(value: Any) -> str:
    return "" if value is None else f"{value:.3f}"


def _field_cells(fields: list[str], metrics: Json) -> list[str]:
    cells: list[str] = []
    for name in fields:
        m = metrics.get(name)
        if m is None:
            cells += ["", "", ""]
            continue
        ci = m.get("kappa_ci")
        kappa = _num(m["kappa"]) + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
        cells += [kappa, _num(m["accuracy"]), _num(m["macro_f1"])]
    return cells


def _rouge(summary: Json | None) -> str:
    if not summary:
        return ""
    if summary["rouge1"] is None:
        return "no reference summaries"
    return f"{summary['rouge1']:.3f} / {summary['rouge2']:.3f} / {summary['rougeL']:.3f}"


def _cost(cost: Json) -> str:
    text = f"{cost['prompt_tokens_per_paper']:.0f} + {cost['completion_tokens_per_paper']:.1f}"
    errors = cost.get("errors", 0)
    return text + (f"; {errors} rows with an error" if errors else "")


def _run(result: Result, doc_dir: Path) -> str:
    report = result.report
    link = _link(result.path, doc_dir)
    return f"{report.get('date', '?')}, {report.get('model', '?')}, {report.get('n_papers', '?')} papers, [{result.path.name}]({link})"


def _version_cell(name: str, result: Result, lock: dict[str, str]) -> str:
    sha = str(result.version.get("prompt_sha256", ""))
    if not lock:
        return f"`{name}`"
    if name not in lock:
        return f"`{name}` (draft)"
    if sha != lock[name]:
        return f"`{name}` (hash {sha[:12]}, not the released one)"
    return f"`{name}`"


def table(results: dict[str, Result], names: list[str], lock: dict[str, str], doc_dir: Path) -> str:
    """The Markdown that goes between the markers: names, or every version with a result."""
    wanted = names or sorted(results, key=natural)
    shown = [n for n in wanted if n in results]
    missing = [n for n in wanted if n not in results]
    if not shown:
        return "No committed results yet" + (f" for {', '.join(f'`{n}`' for n in missing)}" if missing else "") + "."
    fields: list[str] = []
    for n in shown:
        fields += [f for f in results[n].version["fields"] if f not in fields]
    head = ["version", *(f"{f} {what}" for f in fields for what in ("kappa [95% CI]", "accuracy", "macro-F1"))]
    head += ["summary ROUGE-1 / 2 / L", "tokens per paper (prompt + completion)", "run"]
    rows: list[list[str]] = []
    for n in shown:
        r = results[n]
        v = r.version
        rows.append([_version_cell(n, r, lock), *_field_cells(fields, v["fields"]), _rouge(v["summary"]), _cost(v["cost"]), _run(r, doc_dir)])
        for vote in r.report.get("baselines", {}).get("votes", []):
            if vote.get("prompt") == n:
                what = "classifier" if vote.get("by") == "classifier" else f"{vote.get('vote_k')} neighbours' votes"
                rows.append([f"baseline: `{n}`'s {what} alone (same run)", *_field_cells(fields, vote["fields"]), "", "", ""])
    if not names:
        newest = max((results[n] for n in shown), key=lambda r: r.newness)
        base = newest.report.get("baselines", {})
        majority = base.get("fields", {})
        if majority:
            said = ", ".join(f"{f} `{b['label']}`" for f, b in majority.items())
            metrics = {f: b["metrics"] for f, b in majority.items()}
            rows.append([f"baseline: always the commonest value ({said})", *_field_cells(fields, metrics), "", "", _run(newest, doc_dir)])
        for what, summary in base.get("summaries", {}).items():
            rows.append([f"baseline: the {what} as the summary", *([""] * (3 * len(fields))), _rouge(summary), "", _run(newest, doc_dir)])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if missing:
        lines += ["", "No committed results yet for " + ", ".join(f"`{n}`" for n in missing) + "."]
    return "\n".join(lines)


def _spread(c: Json, key: str, i: int) -> str:
    return f"{c[key + '_mean'][i]:.3f} ({c[key + '_low'][i]:.3f}-{c[key + '_high'][i]:.3f})"


def labelling_tables(directory: Path, doc_dir: Path) -> str:
    """The labelling results (evals/results/labelling/): the newest simulated sessions
    (benchmarks/labelling.py), then each learning version's cross-validated eval."""
    sims = sorted(directory.glob("simulated-*.json"))
    evals = sorted(directory.glob("eval-*.json"))
    if not sims and not evals:
        return "No committed results yet."
    out: list[str] = []
    if sims:
        link = _link(sims[-1], doc_dir)
        for run in json.loads(sims[-1].read_text(encoding="utf-8")):
            for name, c in run["fields"].items():
                out += [f"**`{run['version']}`, {name}** ({c['papers']} papers; the model alone: kappa {c['model_alone']:.3f}; "
                        f"{run['date']}, [{sims[-1].name}]({link})):", "",
                        "| labelled | proposed order: first session | proposed order: mean (lowest-highest) | random order: mean (lowest-highest) |",
                        "|---|---|---|---|"]
                out += [f"| {n} | {c['proposed'][i]:.3f} | {_spread(c, 'proposed', i)} | {_spread(c, 'random', i)} |" for i, n in enumerate(c["sizes"])]
                out.append("")
    for path in evals:
        report = json.loads(path.read_text(encoding="utf-8"))
        link = _link(path, doc_dir)
        for v in report["versions"]:
            for name, m in v["fields"].items():
                ci = m.get("kappa_ci")
                human = (report.get("human") or {}).get(name)
                curve = ", ".join(f"{p['labelled']}: {p['kappa']:.3f}" for p in ((v.get("learning") or {}).get("curves") or {}).get(name, []))
                out.append(f"- `{v['prompt']}`, {name}: 5-fold cross-validated kappa {m['kappa']:.3f}"
                           + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "") + f" on {m['n']} papers"
                           + (f"; annotators' agreement {human['value']:.3f} (n={human['n']})" if human else "")
                           + (f"; after n random labels: {curve}" if curve else "") + f" ([{path.name}]({link}))")
    return "\n".join(out).rstrip()


def _ci_cell(value: float | None, ci: list[float] | None) -> str:
    return "-" if value is None else f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def summaries_table(path: Path, doc_dir: Path) -> str:
    """The summaries of one eval result: ROUGE and faithfulness with their 95% intervals for each
    version and the model-free baselines, then each version minus the title, paper by paper."""
    if not path.is_file():
        return f"No committed result {path.name} yet."
    report = json.loads(path.read_text(encoding="utf-8"))
    link = _link(path, doc_dir)
    rows = [(f"`{v['prompt']}`", v["summary"]) for v in report["versions"]]
    rows += [(f"baseline: {name}", m) for name, m in report["baselines"]["summaries"].items()]
    out = [f"*{report['n_papers']} papers, {report['date']}, {report['model']}, [{path.name}]({link}):*", "",
           "| summaries | ROUGE-1 | ROUGE-2 | ROUGE-L | faithful | words (mean) |", "|---|---|---|---|---|---|"]
    for label, m in rows:
        f = m.get("faithfulness") or {}
        cells = [_ci_cell(m[k], m.get(k + "_ci")) for k in ("rouge1", "rouge2", "rougeL")]
        out.append(f"| {label} | " + " | ".join(cells) + f" | {_ci_cell(f.get('share'), f.get('share_ci'))} | {m['words_mean']:.1f} |")
    out.append("")
    for v in report["versions"]:
        c = v.get("summary_vs_title") or {}
        tests = [f"{name} {t['difference']:+.3f} [{t['difference_ci'][0]:+.3f}, {t['difference_ci'][1]:+.3f}] (p = {t['p_value']:.3f})"
                 for name, t in (("ROUGE-1", c.get("rouge1")), ("ROUGE-2", c.get("rouge2"))) if t]
        if tests:
            out.append(f"- `{v['prompt']}` minus the title, paper by paper (paired bootstrap): " + "; ".join(tests))
    return "\n".join(out).rstrip()


def bench_table(directory: Path, title: str, doc_dir: Path) -> str:
    """The table whose title starts with `title`, from the newest benchmark result that has it
    (`benchmarks/bench.py --json`, committed as benchmarks/results/<date>-*.json)."""
    for path in sorted(directory.glob("*.json"), reverse=True):
        result = json.loads(path.read_text(encoding="utf-8"))
        for t in result["tables"]:
            if t["title"].startswith(title):
                link = _link(path, doc_dir)
                cells = [[f"{c:,.2f}" if isinstance(c, float) else str(c) for c in row] for row in t["rows"]]
                lines = [f"*{t['title']}* ({result['date']}, {result['machine']}, [{path.name}]({link})):", "",
                         "| " + " | ".join(t["header"]) + " |", "|" + "---|" * len(t["header"])]
                return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
    return f"No committed benchmark result has a table {title!r} yet."


def _link(path: Path, doc_dir: Path) -> str:
    """A Markdown link target to path from a doc in doc_dir."""
    return Path(os.path.relpath(path, doc_dir)).as_posix()


def _fill(pattern: re.Pattern[str], text: str, body: Any) -> str:
    """Every block of pattern in text, its body replaced by body(match)."""
    return pattern.sub(lambda m: f"{m.group('begin')}\n{body(m)}\n{m.group('end')}", text)


def render(text: str, results: dict[str, Result], lock: dict[str, str], doc_dir: Path, root: Path | None = None) -> str:
    """The doc's text with every marked block filled in."""
    text = _fill(BLOCK, text, lambda m: table(results, m.group("names").split(), lock, doc_dir))
    if root is not None:
        bench, labelling = root / "benchmarks" / "results", root / "evals" / "results" / "labelling"
        text = _fill(BENCH, text, lambda m: bench_table(bench, m.group("title"), doc_dir))
        text = _fill(LABELLING, text, lambda m: labelling_tables(labelling, doc_dir))
        text = _fill(SUMMARIES, text, lambda m: summaries_table(root / m.group("file"), doc_dir))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a doc would change")
    parser.add_argument("--root", type=Path, default=ROOT, help="the project folder (docs/, evals/results/, prompts/)")
    args = parser.parse_args(argv)
    root: Path = args.root
    try:
        results = load_results(root / "evals" / "results")
    except RenderError as exc:
        print(f"render.py: {exc}", file=sys.stderr)
        return 2
    lock = read_lock(root / "prompts" / "versions.lock")
    stale = []
    for doc in sorted((root / "docs").glob("*.md")):
        text = doc.read_text(encoding="utf-8")
        new = render(text, results, lock, doc.parent, root)
        if new != text:
            stale.append(doc)
            if not args.check:
                doc.write_text(new, encoding="utf-8")
    verb = "would change" if args.check else "rendered"
    for doc in stale:
        print(f"{doc.relative_to(root) if doc.is_relative_to(root) else doc}: {verb}", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
