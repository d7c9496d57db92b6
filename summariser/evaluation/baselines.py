"""What an eval's numbers are measured against: answers that need no model at all.

A prompt version is worth something only if it beats these on the same papers: for a label
field, always answering the gold set's most frequent value (and, for each version with votes,
the votes alone); for summaries, the paper's title, or its abstract's first sentence,
used as the summary.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

from pydantic import BaseModel

from ..labels.votes import label_votes
from ..prompting.retrieval import ExampleIndex
from ..prompting.version import PromptVersion
from ..records import Paper
from .faithfulness import source_text
from .metrics import FieldMetrics, field_metrics
from .summaries import SummaryMetrics, summary_metrics

# A sentence ends at . ! or ? followed by a space and a capital letter or an opening quote or
# bracket; abbreviations followed by lower case or a number ("e.g. the", "Fig. 3") do not end one,
# nor do common ones followed by a capital ("e.g. BERT", "et al. Show", "U.S. Army").
_ABBREVIATIONS = r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bal\.)(?<!\bvs\.)(?<!\bcf\.)(?<!\bFig\.)(?<!\bEq\.)(?<!\bS\.)"
_SENTENCE_END = re.compile(r"(?<=[.!?])" + _ABBREVIATIONS + r"\s+(?=[A-Z\"'(\[])")


class MajorityBaseline(BaseModel):
    """Always answering one value: the gold set's most frequent for the field."""

    label: str
    metrics: FieldMetrics


class VoteBaseline(BaseModel):
    """Answering each paper with its neighbours' vote alone (votes.py), as a prompt version with
    votes would without the model: shows what the model adds to the retrieved labels."""

    prompt: str  # the version whose pool and vote_k were used
    vote_k: int
    by: str = "neighbours"  # or "classifier" (then vote_k is 0)
    fields: dict[str, FieldMetrics]


class Baselines(BaseModel):
    """Model-free answers scored like a prompt version."""

    fields: dict[str, MajorityBaseline]
    summaries: dict[str, SummaryMetrics]  # "title", "first sentence"
    votes: list[VoteBaseline] = []  # one per version that votes


def first_sentence(text: str) -> str:
    """The first sentence of an abstract (the whole text if it has one sentence)."""
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0]


def majority_baseline(gold: Sequence[str], values: Sequence[str]) -> MajorityBaseline:
    """Metrics of answering the most frequent gold value for every paper (ties: the earlier value)."""
    counts = Counter(gold)
    label = max(values, key=lambda v: (counts[v], -list(values).index(v)))
    return MajorityBaseline(label=label, metrics=field_metrics(gold, [label] * len(gold), values))


def summary_baselines(papers: Sequence[Paper], refs: Sequence[Sequence[str]]) -> dict[str, SummaryMetrics]:
    """ROUGE of the title, and of the abstract's first sentence, against the reference summaries,
    and their faithfulness (1 by construction: a check of the checker)."""
    sources, ids = [source_text(p.title, p.abstract) for p in papers], [p.id for p in papers]
    return {
        "title": summary_metrics([p.title for p in papers], refs, sources, ids),
        "first sentence": summary_metrics([first_sentence(p.abstract) for p in papers], refs, sources, ids),
    }


def vote_baseline(
    prompt: PromptVersion, index: ExampleIndex | None, papers: Sequence[Paper], gold: dict[str, dict[str, str]]
) -> VoteBaseline:
    """Metrics of labelling each paper with the value its neighbours' votes favour most (the
    paper itself never votes); index: over the version's pool; gold: paper id -> field -> value."""
    assert prompt.retrieval is not None
    votes = [label_votes(prompt, index, p) for p in papers]
    fields = {}
    for f in prompt.fields:
        pairs = [(gold[p.id][f.name], max(v[f.name], key=v[f.name].__getitem__)) for p, v in zip(papers, votes) if f.name in gold.get(p.id, {})]
        if pairs:
            fields[f.name] = field_metrics([t for t, _ in pairs], [y for _, y in pairs], list(f.values))
    return VoteBaseline(prompt=prompt.version, vote_k=prompt.retrieval.vote_k, by=prompt.retrieval.vote_by, fields=fields)
