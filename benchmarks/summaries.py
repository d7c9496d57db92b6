"""Ways to take a one-line summary from the abstract, scored on the TUNING half of the seed gold set
(evals/split.json) only: how fewshot-v9's summary (summary = "abstract") was chosen. No model runs;
a few seconds. The report half is measured by `summariser eval --split report` instead.

    .venv/bin/python benchmarks/summaries.py [--json benchmarks/results/DATE-summaries.json]

Writes a table of ROUGE-1/2/L (best reference, F-measure, stemmed) and faithfulness per variant,
rendered into docs/summaries.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
from pathlib import Path
from typing import Callable

from summariser.evaluation.faithfulness import source_text
from summariser.evaluation.gold import half_of, load_gold
from summariser.evaluation.summaries import summary_metrics
from summariser.prompting import extract
from summariser.records import Paper, read_dump

ROOT = Path(__file__).resolve().parent.parent
# The first sentence with a contribution cue, without looking at the title.
_CUE_ONLY = re.compile(r"\b(we|this paper|this work|our)\b.{0,40}\b(propose|introduce|present|develop|show|find|study)", re.I)


def _first_cue(p: Paper) -> str:
    found = extract.sentences(p.abstract)
    return next((s for s in found if _CUE_ONLY.search(s)), found[0] if found else p.title)


def _picked(p: Paper) -> str:
    return extract.drop_subject(extract.contribution_sentence(p.title, p.abstract))


def _then_next(p: Paper) -> str:
    found, chosen = extract.sentences(p.abstract), extract.contribution_sentence(p.title, p.abstract)
    after = found[found.index(chosen) + 1] if chosen in found and found.index(chosen) + 1 < len(found) else ""
    return extract.cut_words(f"{extract.drop_subject(chosen)} {extract.drop_subject(after)}".strip(), 35)


VARIANTS: dict[str, Callable[[Paper], str]] = {
    "the title": lambda p: p.title,
    "the abstract's first sentence, 35 words": lambda p: extract.cut_words(extract.sentences(p.abstract)[0], 35),
    "the first sentence with a contribution cue, 35 words": lambda p: extract.cut_words(_first_cue(p), 35),
    "+ ranked by cue and the title's words": lambda p: extract.cut_words(extract.contribution_sentence(p.title, p.abstract), 35),
    "+ its subject dropped (what the model reads)": lambda p: extract.prompt_summary(p.title, p.abstract, 35),
    "+ the same cut at 25 words": lambda p: extract.prompt_summary(p.title, p.abstract, 25),
    "+ the same and the next sentence, 35 words": _then_next,
    "+ after the title where it names under half of it (fewshot-v9)": lambda p: extract.extract_summary(p.title, p.abstract, 35),
    "+ always after the title": lambda p: extract.cut_words(f"{p.title}: {_picked(p)}", 35),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="Also write the table here (rendered into docs/summaries.md).")
    args = parser.parse_args()
    gold = load_gold(str(ROOT / "evals" / "gold.jsonl")).by_paper()
    papers = half_of(read_dump(str(ROOT / "examples" / "papers-dump.txt")).papers, "tuning")
    refs = [[g.summary for g in gold[p.id].values() if g.summary] for p in papers]
    sources, ids = [source_text(p.title, p.abstract) for p in papers], [p.id for p in papers]
    rows = []
    for name, make in VARIANTS.items():
        preds = [make(p) for p in papers]
        m = summary_metrics(preds, refs, sources, ids)
        share = m.faithfulness.share if m.faithfulness else None
        rows.append([name, m.rouge1, m.rouge2, m.rougeL, share, m.words_mean])
    header = ["summary taken as", "ROUGE-1", "ROUGE-2", "ROUGE-L", "faithful", "words (mean)"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(f"{c:.3f}" if isinstance(c, float) else str(c) for c in row) + " |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        title = f"Summaries taken from the abstract, tuning half of the seed gold set ({len(papers)} papers)"
        result = {"date": datetime.date.today().isoformat(), "machine": "no model", "tables": [{"title": title, "header": header, "rows": rows}]}
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
