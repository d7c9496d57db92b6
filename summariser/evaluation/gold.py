"""The hand-labelled gold set: rows per (paper, annotator), loaded, checked and joined with a dump."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from ..base.errors import GoldError, InputError
from ..labelled import PRIMARY, read_labelled
from ..prompting.version import PromptVersion
from ..records import Paper, paper_id


class GoldRow(BaseModel):
    """One annotator's labels and reference summary for one paper."""

    id: str
    title: str = ""
    abstract: str = ""  # a labelled file carries it
    annotator: str
    labels: dict[str, str]
    summary: str | None = None
    note: str | None = None


@dataclass
class Gold:
    """Gold rows grouped by paper; the first annotator in the file is the primary reference."""

    rows: list[GoldRow]
    path: str
    relabelled: int = 0  # (paper, annotator) pairs answered more than once: the last answer counts

    @property
    def annotators(self) -> list[str]:
        """Annotators in order of first appearance."""
        return list(dict.fromkeys(r.annotator for r in self.rows))

    def by_paper(self) -> dict[str, dict[str, GoldRow]]:
        """paper id -> annotator -> row."""
        out: dict[str, dict[str, GoldRow]] = defaultdict(dict)
        for r in self.rows:
            out[r.id][r.annotator] = r
        return dict(out)

    def reference(self, annotator: str | None = None) -> dict[str, GoldRow]:
        """paper id -> the row of one annotator (the primary one by default)."""
        who = annotator or self.annotators[0]
        return {r.id: r for r in self.rows if r.annotator == who}


def load_gold(path: str | Path) -> Gold:
    """Read a gold file, or the labelled file `summariser label` writes (for each paper and
    annotator the last answer counts; skips and withdrawn answers are left out). Raises GoldError
    with file and line on anything malformed."""
    path = Path(path)
    if not path.is_file():
        raise GoldError(f"{path}: no such gold file")
    try:
        labelled = read_labelled(path)
    except InputError as exc:
        raise GoldError(str(exc)) from None
    rows = [
        GoldRow(id=r.id, title=r.title, abstract=r.abstract, annotator=r.annotator, labels=r.labels, summary=r.summary, note=r.note)
        for who in sorted(labelled.annotators, key=lambda a: a != PRIMARY)  # a1 first: the reference, as for a pool
        for _, r in labelled.answers(who)
    ]
    if not rows:
        raise GoldError(f"{path}: no gold rows")
    return Gold(rows=rows, path=str(path), relabelled=labelled.relabelled)


def papers_of(gold: Gold) -> list[Paper]:
    """The gold papers themselves, where the gold file carries their abstracts (a labelled file
    does): the eval then needs no dump."""
    seen: dict[str, Paper] = {}
    for r in gold.rows:
        if r.abstract and r.id not in seen:
            seen[r.id] = Paper(id=r.id, title=r.title, abstract=r.abstract)
    return list(seen.values())


def check_against_prompt(gold: Gold, prompt: PromptVersion) -> None:
    """Refuse gold labels outside the prompt version's allowed values (a new taxonomy needs its own gold)."""
    for f in prompt.fields:
        allowed = set(f.values)
        bad = sorted({r.labels[f.name] for r in gold.rows if f.name in r.labels} - allowed)
        if bad:
            raise GoldError(
                f"{gold.path}: {f.name} values {bad} are not allowed by prompt {prompt.version} "
                f"({', '.join(f.values)}); a prompt with another label set needs its own gold file"
            )
        if not any(f.name in r.labels for r in gold.rows):
            raise GoldError(f"{gold.path}: no gold labels for field {f.name!r} of prompt {prompt.version}")


def check_no_self_examples(gold: Gold, prompt: PromptVersion) -> None:
    """Refuse a prompt whose worked examples include a gold paper: it would be shown its own answer."""
    ids = set(gold.by_paper()) | {paper_id(r.title) for r in gold.rows if r.title}
    leaked = [ex.title for ex in prompt.examples if paper_id(ex.title) in ids]
    if leaked:
        raise GoldError(f"prompt {prompt.version} uses gold paper(s) as examples, which would inflate the eval: {leaked[0]!r}")


def join_papers(gold: Gold, papers: list[Paper]) -> list[Paper]:
    """The dump's papers that have gold rows, in dump order; refuse when none match."""
    ids = set(gold.by_paper())
    matched = [p for p in papers if p.id in ids]
    if not matched:
        raise GoldError(f"{gold.path}: none of its {len(ids)} papers is in the input dump (ids do not match)")
    return matched


def half_of(papers: list[Paper], half: str) -> list[Paper]:
    """The papers in one half ("tuning" or "report") of the seed gold's fixed split (evals/split.json)."""
    import json

    from ..base.data import packaged

    ids = set(json.loads(packaged("split.json").read_text(encoding="utf-8"))[half])
    chosen = [p for p in papers if p.id in ids]
    if not chosen:
        raise GoldError(f"none of these papers is in the {half} half of the seed gold's split (evals/split.json)")
    return chosen
