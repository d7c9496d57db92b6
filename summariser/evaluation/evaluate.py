"""The eval harness: run prompt versions over the gold papers and measure agreement with the gold set."""

from __future__ import annotations

import datetime as dt
from typing import Iterable

from pydantic import BaseModel

from ..base.engine_api import Engine
from ..base.errors import GoldError
from ..base.types import Row
from ..flow.cache import ResponseCache
from ..flow.embedding_store import EmbeddingStore
from ..flow.storage import default_cache_dir
from ..flow.calls import VersionRun
from ..flow.pipeline import Track, embed_uncached, summarise, version_index
from ..prompting.retrieval import ExampleIndex
from ..prompting.version import PromptVersion
from ..records import Paper
from ..transport.client import ModelClient
from .crossfit import Learning, held_out_rows
from .baselines import Baselines, majority_baseline, summary_baselines, vote_baseline
from .faithfulness import source_text
from .gold import Gold, check_against_prompt, check_no_self_examples, join_papers
from .metrics import (
    Agreement,
    ConfidenceMetrics,
    FieldMetrics,
    McNemar,
    confidence_metrics,
    field_metrics,
    human_agreement,
    mcnemar,
)
from .summaries import PaperSummary, SummaryComparison, SummaryMetrics, compare_summaries, score_summaries, summarise_scores


class Cost(BaseModel):
    """Tokens per paper (what the answers cost, cached or not) and how many calls the cache saved."""

    prompt_tokens_per_paper: float
    completion_tokens_per_paper: float
    cached: int
    errors: int


class VersionResult(BaseModel):
    """One prompt version's results over the gold papers."""

    prompt: str
    prompt_sha256: str
    model: str
    fields: dict[str, FieldMetrics]
    confidence: dict[str, ConfidenceMetrics | None]  # None: no row had a confidence for the field
    summary: SummaryMetrics
    cost: Cost
    predictions: dict[str, dict[str, str | None]]  # paper id -> field -> label
    summaries: dict[str, str | None]
    summary_scores: dict[str, PaperSummary] = {}  # paper id -> its ROUGE and faithfulness (absent in older results)
    # Paired tests of the summaries against the papers' titles as summaries (absent in older results).
    summary_vs_title: SummaryComparison | None = None
    learning: Learning | None = None  # a learning version's cross-validation on its labelled papers


class FieldComparison(BaseModel):
    """Version b against version a on one field."""

    accuracy_a: float
    accuracy_b: float
    kappa_a: float
    kappa_b: float
    macro_f1_a: float
    macro_f1_b: float
    test: McNemar


class Change(BaseModel):
    """A paper whose label differs between two versions."""

    id: str
    title: str
    field: str
    a: str | None
    b: str | None
    gold: str


class Comparison(BaseModel):
    """Two versions side by side, with a paired significance test per field."""

    a: str
    b: str
    fields: dict[str, FieldComparison]
    rouge1_a: float | None  # None without reference summaries
    rouge1_b: float | None
    changed: list[Change]
    summary: SummaryComparison | None = None  # paired tests on per-paper summary scores (absent in older results)


class EvalReport(BaseModel):
    """Everything `summariser eval` measured."""

    date: str
    model: str
    gold: str
    annotators: list[str]
    n_papers: int
    gold_distribution: dict[str, dict[str, int]]
    human: dict[str, Agreement | None]
    baselines: Baselines
    versions: list[VersionResult]
    comparisons: list[Comparison]


def _version_result(
    prompt: PromptVersion, rows: list[Row], gold: Gold, model: str, sources: dict[str, str], titles: dict[str, PaperSummary]
) -> VersionResult:
    """titles: each paper's title scored as its summary (the same for every version)."""
    ref = gold.reference()
    by_paper = gold.by_paper()
    fields = {}
    confidence = {}
    for f in prompt.fields:
        labelled = [r for r in rows if r.id in ref and f.name in ref[r.id].labels]
        if not labelled:
            raise GoldError(f"{gold.path}: annotator {gold.annotators[0]} labels none of these papers' {f.name}")
        truth = [ref[r.id].labels[f.name] for r in labelled]
        fields[f.name] = field_metrics(truth, [r.labels.get(f.name) for r in labelled], list(f.values))
        confidence[f.name] = confidence_metrics(
            [r.labels.get(f.name) == t for r, t in zip(labelled, truth)], [r.confidence.get(f.name) for r in labelled]
        )
    refs = [[g.summary for g in by_paper[r.id].values() if g.summary] for r in rows]
    preds = [r.summary for r in rows]
    scores = score_summaries(preds, refs, [sources[r.id] for r in rows])
    ids = [r.id for r in rows]
    n = len(rows)
    return VersionResult(
        prompt=prompt.version,
        prompt_sha256=prompt.sha256,
        model=model,
        fields=fields,
        confidence=confidence,
        summary=summarise_scores(preds, scores, ids),
        cost=Cost(
            prompt_tokens_per_paper=sum(r.usage.prompt_tokens for r in rows) / n,
            completion_tokens_per_paper=sum(r.usage.completion_tokens for r in rows) / n,
            cached=sum(r.cached for r in rows),
            errors=sum(r.error is not None for r in rows),
        ),
        predictions={r.id: dict(r.labels) for r in rows},
        summaries={r.id: r.summary for r in rows},
        summary_scores=dict(zip(ids, scores)),
        summary_vs_title=compare_summaries(ids, titles, dict(zip(ids, scores))),
    )


def compare(a: VersionResult, b: VersionResult, gold: Gold, papers: list[Paper]) -> Comparison:
    """Side-by-side metrics, McNemar's test on per-paper correctness, paired tests on per-paper
    summary scores, and the papers whose labels changed."""
    ref = gold.reference()
    titles = {p.id: p.title for p in papers}
    fields: dict[str, FieldComparison] = {}
    changed: list[Change] = []
    for name in a.fields.keys() & b.fields.keys():
        ids = [i for i in a.predictions if i in ref and name in ref[i].labels]
        truth = [ref[i].labels[name] for i in ids]
        fa, fb = a.fields[name], b.fields[name]
        fields[name] = FieldComparison(
            accuracy_a=fa.accuracy,
            accuracy_b=fb.accuracy,
            kappa_a=fa.kappa,
            kappa_b=fb.kappa,
            macro_f1_a=fa.macro_f1,
            macro_f1_b=fb.macro_f1,
            test=mcnemar(
                [a.predictions[i].get(name) == t for i, t in zip(ids, truth)],
                [b.predictions[i].get(name) == t for i, t in zip(ids, truth)],
            ),
        )
        for i, t in zip(ids, truth):
            la, lb = a.predictions[i].get(name), b.predictions[i].get(name)
            if la != lb:
                changed.append(Change(id=i, title=titles.get(i, ""), field=name, a=la, b=lb, gold=t))
    return Comparison(
        a=a.prompt, b=b.prompt, fields=dict(sorted(fields.items())), rouge1_a=a.summary.rouge1, rouge1_b=b.summary.rouge1, changed=changed,
        summary=compare_summaries(list(a.summaries), a.summary_scores, b.summary_scores) if a.summary_scores and b.summary_scores else None,
    )


def baselines(gold: Gold, papers: list[Paper], prompts: list[PromptVersion], indexes: list[ExampleIndex | None]) -> Baselines:
    """The model-free baselines on the same papers the versions were measured on (label fields
    as the first version's; the votes alone of every version that votes)."""
    prompt = prompts[0]
    ref = gold.reference()
    by_paper = gold.by_paper()
    fields = {}
    for f in prompt.fields:
        truth = [ref[p.id].labels[f.name] for p in papers if p.id in ref and f.name in ref[p.id].labels]
        if truth:
            fields[f.name] = majority_baseline(truth, list(f.values))
    refs = [[g.summary for g in by_paper[p.id].values() if g.summary] for p in papers]
    labels = {i: r.labels for i, r in ref.items()}
    votes = [vote_baseline(p, i, papers, labels) for p, i in zip(prompts, indexes) if p.retrieval is not None and p.retrieval.votes]
    return Baselines(fields=fields, summaries=summary_baselines(papers, refs), votes=votes)


def gold_distribution(gold: Gold) -> dict[str, dict[str, int]]:
    """Counts of each label value in the primary annotator's rows."""
    out: dict[str, dict[str, int]] = {}
    for row in gold.reference().values():
        for name, value in row.labels.items():
            out.setdefault(name, {})
            out[name][value] = out[name].get(value, 0) + 1
    return {k: dict(sorted(v.items(), key=lambda kv: -kv[1])) for k, v in out.items()}


def _run_versions(
    matched: list[Paper], prompts: list[PromptVersion], indexes: list[ExampleIndex | None], gold: Gold, client: ModelClient,
    cache: ResponseCache | None, concurrency: int, progress: Track | None,
) -> list[VersionResult]:
    for prompt, index in zip(prompts, indexes):  # so a missing embedded model stops the eval before any version runs
        embed_uncached(matched, VersionRun.make(prompt, client, cache, index))
    results = []
    sources = {p.id: source_text(p.title, p.abstract) for p in matched}
    by_paper = gold.by_paper()
    refs = [[g.summary for g in by_paper[p.id].values() if g.summary] for p in matched]
    titles = dict(zip([p.id for p in matched], score_summaries([p.title for p in matched], refs, [sources[p.id] for p in matched])))
    for prompt, index in zip(prompts, indexes):
        rows: Iterable[Row] = summarise(matched, prompt, client, cache, concurrency=concurrency, index=index, track=progress)
        if progress:
            rows = progress(rows, len(matched), prompt.version)
        # A learning version's labelled papers are labelled with their fold left out (crossfit.py).
        held, learning = held_out_rows(VersionRun.make(prompt, client, cache, index), list(rows))
        result = _version_result(prompt, held, gold, client.model, sources, titles)
        result.learning = learning
        results.append(result)
    return results


def evaluate(
    gold: Gold,
    papers: list[Paper],
    prompts: list[PromptVersion],
    client: ModelClient,
    cache: ResponseCache | None = None,
    concurrency: int = 1,
    progress: Track | None = None,
    embedder: Engine | None = None,
) -> EvalReport:
    """Run each prompt version over the gold papers (through the normal pipeline and cache) and measure.

    Raises gold.GoldError when the gold labels do not fit a prompt's label set or match no paper.
    A paper is never shown its gold answer: fixed examples may not be gold papers, and retrieved
    examples (whose pool may be the gold set) never include the paper asked about.
    """
    for prompt in prompts:
        check_against_prompt(gold, prompt)
        check_no_self_examples(gold, prompt)
    matched = join_papers(gold, papers)
    # One store (and one embedding model) for every version; each index kept for its votes' baseline.
    store = EmbeddingStore.beside(cache.directory if cache is not None else default_cache_dir(), embedder)
    indexes = [version_index(prompt, cache, store) for prompt in prompts]
    try:
        results = _run_versions(matched, prompts, indexes, gold, client, cache, concurrency, progress)
        votes = baselines(gold, matched, prompts, indexes)
    finally:
        store.close()
    by_paper = gold.by_paper()
    matched_ids = {p.id for p in matched}
    human: dict[str, Agreement | None] = {}
    for name in {f.name for p in prompts for f in p.fields}:
        per_annotator: dict[str, dict[str, str]] = {}
        for pid, rows_by in by_paper.items():
            if pid in matched_ids:
                for who, row in rows_by.items():
                    if name in row.labels:
                        per_annotator.setdefault(who, {})[pid] = row.labels[name]
        human[name] = human_agreement(per_annotator)
    return EvalReport(
        date=dt.date.today().isoformat(),
        model=client.model,
        gold=gold.path,
        annotators=gold.annotators,
        n_papers=len(matched),
        gold_distribution=gold_distribution(gold),
        human=dict(sorted(human.items())),
        baselines=votes,
        versions=results,
        comparisons=[compare(results[0], r, gold, matched) for r in results[1:]],
    )
