"""What an eval's numbers are measured against: answers that need no model at all.

A prompt version is worth something only if it beats these on the same papers: for a label
field, always answering the gold set's most frequent value; for summaries, the paper's title,
or its abstract's first sentence, used as the summary.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

from pydantic import BaseModel

from .metrics import FieldMetrics, SummaryMetrics, field_metrics, summary_metrics
from .records import Paper

# A sentence ends at . ! or ? followed by a space and a capital letter or an opening quote or
# bracket; abbreviations followed by lower case or a number ("e.g. the", "Fig. 3") do not end one,
# nor do common ones followed by a capital ("e.g. BERT", "et al. Show", "U.S. Army").
_ABBREVIATIONS = r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bal\.)(?<!\bvs\.)(?<!\bcf\.)(?<!\bFig\.)(?<!\bEq\.)(?<!\bS\.)"
_SENTENCE_END = re.compile(r"(?<=[.!?])" + _ABBREVIATIONS + r"\s+(?=[A-Z\"'(\[])")


class MajorityBaseline(BaseModel):
    """Always answering one value: the gold set's most frequent for the field."""

    label: str
    metrics: FieldMetrics


class Baselines(BaseModel):
    """Model-free answers scored like a prompt version."""

    fields: dict[str, MajorityBaseline]
    summaries: dict[str, SummaryMetrics]  # "title", "first sentence"


def first_sentence(text: str) -> str:
    """The first sentence of an abstract (the whole text if it has one sentence)."""
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0]


def majority_baseline(gold: Sequence[str], values: Sequence[str]) -> MajorityBaseline:
    """Metrics of answering the most frequent gold value for every paper (ties: the earlier value)."""
    counts = Counter(gold)
    label = max(values, key=lambda v: (counts[v], -list(values).index(v)))
    return MajorityBaseline(label=label, metrics=field_metrics(gold, [label] * len(gold), values))


def summary_baselines(papers: Sequence[Paper], refs: Sequence[Sequence[str]]) -> dict[str, SummaryMetrics]:
    """ROUGE of the title, and of the abstract's first sentence, against the reference summaries."""
    return {
        "title": summary_metrics([p.title for p in papers], refs),
        "first sentence": summary_metrics([first_sentence(p.abstract) for p in papers], refs),
    }
