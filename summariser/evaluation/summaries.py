"""Summary quality: ROUGE against the reference summaries and faithfulness to the paper, per paper
and over papers with 95% bootstrap intervals, and the paired tests that compare two versions."""

from __future__ import annotations

import statistics
from typing import Sequence

import numpy as np
from pydantic import BaseModel

from .faithfulness import Faithfulness, faithfulness, unsupported
from .metrics import McNemar, bootstrap_mean, mcnemar, resampled_means

ROUGE = ("rouge1", "rouge2", "rougeL")


class PaperSummary(BaseModel):
    """One paper's summary scores."""

    # Best-reference ROUGE F-measure (0 for a missing summary); None: the paper has no reference.
    rouge1: float | None = None
    rouge2: float | None = None
    rougeL: float | None = None
    faithful: bool | None = None  # None: no summary, or no source to check it against
    unsupported: list[str] = []  # its numbers and names that the title and abstract do not have


class SummaryMetrics(BaseModel):
    """Summary quality against reference summaries, faithfulness to the paper, and summary shape."""

    n: int
    # ROUGE F-measure over the papers with at least one reference summary (n_references); None
    # when the gold file has none, rather than a score of 0 that would read as a bad summary.
    n_references: int | None = None  # absent in results written before it was counted
    rouge1: float | None
    rouge2: float | None
    rougeL: float | None
    # 95% percentile bootstrap intervals over those papers; absent in results written before them.
    rouge1_ci: tuple[float, float] | None = None
    rouge2_ci: tuple[float, float] | None = None
    rougeL_ci: tuple[float, float] | None = None
    one_line_share: float
    words_mean: float
    words_median: float
    words_min: int
    words_max: int
    faithfulness: Faithfulness | None = None  # None: measured without the papers' text (or before it was)


def score_summaries(preds: Sequence[str | None], refs: Sequence[Sequence[str]], sources: Sequence[str] | None = None) -> list[PaperSummary]:
    """Each paper's best-reference ROUGE-1/2/L F-measure and, given its title and abstract
    (faithfulness.source_text), the summary's unsupported numbers and names."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(ROUGE), use_stemmer=True)
    out = []
    for i, (pred, options) in enumerate(zip(preds, refs)):
        rouge: dict[str, float | None] = dict.fromkeys(ROUGE)
        if options:
            scores = [scorer.score(ref, pred) for ref in options] if pred else []
            rouge = {key: max((s[key].fmeasure for s in scores), default=0.0) for key in ROUGE}
        missing = unsupported(pred, sources[i]) if pred and sources is not None else None
        out.append(PaperSummary(**rouge, faithful=None if missing is None else not missing, unsupported=missing or []))
    return out


def summarise_scores(
    preds: Sequence[str | None], scores: Sequence[PaperSummary], ids: Sequence[str] | None = None, checked: bool = True, seed: int = 0
) -> SummaryMetrics:
    """Means over papers of per-paper scores (ROUGE over the papers with references, faithfulness
    over the summaries present when checked), each with its bootstrap interval, and word counts."""
    ids = list(ids) if ids is not None else [str(i) for i in range(len(preds))]
    rouge: dict[str, tuple[float, tuple[float, float]] | None] = {}
    for key in ROUGE:
        rouge[key] = bootstrap_mean([getattr(s, key) for s in scores if getattr(s, key) is not None], seed=seed)
    present = [p for p in preds if p]
    words = [len(p.split()) for p in present] or [0]
    missing = [s.unsupported if s.faithful is not None else None for s in scores]
    return SummaryMetrics(
        n=len(preds),
        n_references=sum(s.rouge1 is not None for s in scores),
        **{key: r[0] if r else None for key, r in rouge.items()},
        **{f"{key}_ci": r[1] if r else None for key, r in rouge.items()},
        one_line_share=sum("\n" not in p for p in present) / len(preds),
        words_mean=statistics.fmean(words),
        words_median=float(statistics.median(words)),
        words_min=min(words),
        words_max=max(words),
        faithfulness=faithfulness(ids, preds, missing, seed=seed) if checked else None,
    )


def summary_metrics(
    preds: Sequence[str | None], refs: Sequence[Sequence[str]], sources: Sequence[str] | None = None, ids: Sequence[str] | None = None
) -> SummaryMetrics:
    """Mean ROUGE-1/2/L F-measure over the papers that have references (best reference per paper;
    a missing summary scores 0; None without any reference), word counts, and with the papers'
    text (sources) the share of faithful summaries; ids name the unfaithful examples."""
    return summarise_scores(preds, score_summaries(preds, refs, sources), ids, checked=sources is not None)


class PairedDifference(BaseModel):
    """Version b minus version a on one per-paper score, over the papers both were scored on."""

    n: int
    mean_a: float
    mean_b: float
    difference: float  # mean_b - mean_a
    difference_ci: tuple[float, float]  # 95% percentile bootstrap over papers
    p_value: float  # two-sided, paired bootstrap (paired_bootstrap)


# The paired test for ROUGE is a paired bootstrap of the mean difference rather than the Wilcoxon
# signed-rank test: the reported metric is a mean, and the bootstrap tests that very mean and
# gives its difference an interval in ROUGE units (how big, not only whether), like the
# per-version intervals; it assumes no symmetric distribution of differences, and the many exact
# ties of ROUGE (identical summaries, missing ones at 0) need no special handling, where Wilcoxon
# drops zero differences and tests a location shift, not the mean. Its p-value cannot go below
# 1/(resamples + 1), and with a handful of papers it is too small (bootstrap intervals are too
# narrow on few papers): read a comparison on under ~20 papers with care.
def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_resamples: int = 1000, seed: int = 0) -> PairedDifference | None:
    """Mean difference b - a of paired per-paper scores, its 95% percentile bootstrap interval
    (papers resampled, fixed seed) and a two-sided p-value: the share of resampled mean
    differences, shifted to the null of no difference, at least as far from 0 as the observed
    one, (1 + count) / (resamples + 1). None without papers."""
    diffs = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if not len(diffs):
        return None
    d = float(diffs.mean())
    means = resampled_means(diffs, n_resamples, seed)
    low, high = np.percentile(means, [2.5, 97.5])
    # One paper says nothing about papers in general; 1e-12: a zero difference lands on the null exactly.
    p = 1.0 if len(diffs) < 2 else min(1.0, (1 + int(np.sum(np.abs(means - d) >= abs(d) - 1e-12))) / (n_resamples + 1))
    return PairedDifference(
        n=len(diffs), mean_a=float(np.mean(a)), mean_b=float(np.mean(b)), difference=d,
        difference_ci=(min(float(low), d), max(float(high), d)), p_value=p,
    )


class SummaryComparison(BaseModel):
    """Version b against version a on the summaries, paper by paper."""

    rouge1: PairedDifference | None  # None without reference summaries
    rouge2: PairedDifference | None
    n_faithfulness: int  # papers with a checked summary from both versions
    faithful_a: float | None  # shares over those papers
    faithful_b: float | None
    faithfulness: McNemar | None  # exact McNemar test on per-paper faithfulness; None without such papers


def compare_summaries(ids: Sequence[str], a: dict[str, PaperSummary], b: dict[str, PaperSummary], seed: int = 0) -> SummaryComparison:
    """Paired tests of version b against a over the papers (ids) both have scores for: a paired
    bootstrap of the mean ROUGE-1 and ROUGE-2 difference, McNemar on faithfulness."""
    both = [(a[i], b[i]) for i in ids if i in a and i in b]
    tests = {}
    for key in ("rouge1", "rouge2"):
        pairs = [(getattr(x, key), getattr(y, key)) for x, y in both if getattr(x, key) is not None and getattr(y, key) is not None]
        tests[key] = paired_bootstrap([p for p, _ in pairs], [q for _, q in pairs], seed=seed)
    checked = [(bool(x.faithful), bool(y.faithful)) for x, y in both if x.faithful is not None and y.faithful is not None]
    n = len(checked)
    return SummaryComparison(
        rouge1=tests["rouge1"],
        rouge2=tests["rouge2"],
        n_faithfulness=n,
        faithful_a=sum(x for x, _ in checked) / n if n else None,
        faithful_b=sum(y for _, y in checked) / n if n else None,
        faithfulness=mcnemar([x for x, _ in checked], [y for _, y in checked]) if n else None,
    )
