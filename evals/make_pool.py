"""Build an example pool from the hand-labelled gold papers and their abstracts in the dump:
prompts/pools/seed-gold.jsonl is the pool fewshot-v2 retrieves its examples from.

Run from the project root: python evals/make_pool.py [OUT]. A released version's pool must not
change (its hash is in prompts/versions.lock): write a new file for a new version.
"""

import json
import sys
from pathlib import Path

from summariser.evaluation.gold import load_gold
from summariser.records import read_dump

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    gold = load_gold(ROOT / "evals" / "gold.jsonl").reference()  # the primary annotator's rows
    papers = read_dump(str(ROOT / "examples" / "papers-dump.txt")).papers
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "prompts" / "pools" / "seed-gold.jsonl"
    rows = [
        {"title": p.title, "abstract": p.abstract, "summary": gold[p.id].summary, "labels": gold[p.id].labels}
        for p in papers
        if p.id in gold and gold[p.id].summary
    ]
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    print(f"{out}: {len(rows)} examples; {len(gold) - len(rows)} gold papers left out (not in the dump, or no summary)")


if __name__ == "__main__":
    main()
