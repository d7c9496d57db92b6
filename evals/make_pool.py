"""Build prompts/pools/seed-gold.jsonl: the hand-labelled gold papers with their abstracts, the
example pool that fewshot-v2 retrieves its examples from.

Run from the project root: python evals/make_pool.py
"""

import json
from pathlib import Path

from summariser.gold import load_gold
from summariser.records import read_dump

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    gold = load_gold(ROOT / "evals" / "gold.jsonl").reference()  # the primary annotator's rows
    papers = read_dump(str(ROOT / "examples" / "papers-dump.txt")).papers
    out = ROOT / "prompts" / "pools" / "seed-gold.jsonl"
    with out.open("w", encoding="utf-8") as f:
        for p in papers:
            if p.id in gold and gold[p.id].summary:
                row = {"title": p.title, "abstract": p.abstract, "summary": gold[p.id].summary, "labels": gold[p.id].labels}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{out}: {sum(1 for _ in out.open())} examples")


if __name__ == "__main__":
    main()
