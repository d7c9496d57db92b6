"""Split the seed gold set into a tuning half and a report half, once: evals/split.json.

Settings are chosen on the tuning half and numbers reported on the report half
(`summariser eval --split tuning|report`). The split is by the sha256 of each paper's id, so it
depends on nothing but the ids; it is committed and never redrawn. Run from the project root:
python evals/make_split.py
"""

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ids = sorted({json.loads(line)["id"] for line in (ROOT / "evals" / "gold.jsonl").read_text().splitlines() if line.strip()})
    ranked = sorted(ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())
    half = len(ranked) // 2
    split = {
        "rule": "the seed gold's paper ids ordered by sha256(id); the first half tunes, the rest reports",
        "tuning": sorted(ranked[:half]),
        "report": sorted(ranked[half:]),
    }
    (ROOT / "evals" / "split.json").write_text(json.dumps(split, indent=1) + "\n")
    print(f"evals/split.json: {half} tuning, {len(ranked) - half} report")


if __name__ == "__main__":
    main()
