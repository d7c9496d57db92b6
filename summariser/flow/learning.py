"""Before a learning version (vote_weight = "auto") labels anything: the model reads the labelled
papers of its pool (once: the answers are cached like any other), and the classifier's
regularisation and weight are chosen per field by cross-validation on them (labels/tuning.py).
The choice is kept beside the answers, keyed by the version's hash (which covers the labelled
file) and the requests the model read, so a re-run does not choose again."""

from __future__ import annotations

import hashlib
import json
import tempfile
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import numpy as np

from ..labels.tuning import MIN_PER_VALUE, FieldTuning, Setting, tune_field
from ..prompting.version import LabelField, PromptVersion
from ..records import Paper, paper_id
from .cache import ResponseCache
from .calls import VersionRun

Say = Callable[[str], None]


def pool_papers(prompt: PromptVersion) -> list[Paper]:
    """The pool's labelled papers as papers to ask the model about."""
    return [Paper(id=ex.id or paper_id(ex.title), title=ex.title, abstract=ex.abstract) for ex in prompt.pool]


def learn(run: VersionRun, answer_all: Callable[[Sequence[Paper]], None], say: Say | None = None) -> dict[str, FieldTuning]:
    """Choose a learning version's settings and give them to the run (run.prompt.tuned). answer_all:
    makes sure the cache holds the model's answer for each paper (the pipeline's calls)."""
    prompt = run.prompt
    if not prompt.learns or run.labeller.index is None:
        return {}
    if not prompt.pool:
        if say is not None:
            say(f"{prompt.version}: no labelled papers yet, so the model alone decides the labels (summariser label DUMP --prompt {prompt.version})")
        return {}
    papers = pool_papers(prompt)
    # Keyed by the labelled file (in the version's hash) and by every request the model reads
    # (its model, parameters, constraints): any change chooses again.
    requests = hashlib.sha256("".join(run.renderer.request(p).cache_key() for p in papers).encode()).hexdigest()
    key = f"tuning:{prompt.sha256}:{requests}"
    stored = run.cache.get_text(key) if run.cache is not None else None
    if stored is not None:
        tunings = {name: _from_json(t) for name, t in json.loads(stored).items()}
    else:
        if say is not None:
            say(f"{prompt.version}: choosing how to decide labels from the {len(papers)} labelled papers (the model reads them first; cached)")
        with _answers_kept(run):
            answer_all(papers)
            tunings, complete = choose(prompt, run, papers)
        # Chosen without some papers' answers (an endpoint failing): choose again next run.
        if run.cache is not None and complete:
            run.cache.set_text(key, json.dumps({name: _to_json(t) for name, t in tunings.items()}))
    tuned = {name: (t.setting.c, t.setting.weight) for name, t in tunings.items() if t.reason is None}
    run.prompt = run.labeller.prompt = prompt.model_copy(update={"tuned": tuned})
    if say is not None:
        for name, t in tunings.items():
            say(describe(name, t))
    return tunings


@contextmanager
def _answers_kept(run: VersionRun) -> Iterator[None]:
    """The model's answers on the labelled papers are read back from the cache: a run without
    one (--no-cache) keeps them in a temporary one meanwhile."""
    if run.cache is not None:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="summariser-learning-") as tmp:
        run.cache = ResponseCache(tmp)
        try:
            yield
        finally:
            run.cache.close()
            run.cache = None


def choose(prompt: PromptVersion, run: VersionRun, papers: Sequence[Paper]) -> tuple[dict[str, FieldTuning], bool]:
    """Per field, the setting with the best cross-validated agreement on the labelled papers;
    and whether the model's answer to every one of them was there."""
    assert run.labeller.index is not None
    x = run.labeller.index.embedded_pool()
    found = [run.cached_answer(p) for p in papers]
    out = {f.name: tune_field(x, y, values, model) for f, values, y, model in field_data(prompt, found)}
    return out, all(hit is not None for hit in found)


def field_data(prompt: PromptVersion, found: Sequence[object]) -> Iterator[tuple[LabelField, list[str], list[str], np.ndarray | None]]:
    """Per field: its values, the labelled papers' labels (in the pool's order), and the model's
    probabilities for them (model_matrix of found, the cached answers in the same order)."""
    for f in prompt.fields:
        values = list(f.values)
        yield f, values, [ex.labels[f.name] for ex in prompt.pool], model_matrix(found, f.name, values)


def model_matrix(found: Sequence[object], field: str, values: list[str]) -> np.ndarray | None:
    """The model's probability of each value per paper; None unless most papers have one (an
    endpoint without log-probabilities: the classifier alone can then decide)."""
    rows = []
    for hit in found:
        dist = getattr(hit, "distributions", None) or {}
        d = dist.get(field)
        rows.append([d.get(v, 0.0) for v in values] if d else None)
    if sum(r is not None for r in rows) < len(rows) / 2 or not rows:
        return None
    uniform = [1 / len(values)] * len(values)
    return np.array([r if r is not None else uniform for r in rows])


def describe(name: str, t: FieldTuning) -> str:
    """One line saying what was chosen for a field, or why the model alone decides."""
    counts = ", ".join(f"{v} {n}" for v, n in t.counts.items())
    if t.reason is not None:
        return f"  {name}: the model alone decides ({t.reason}; labels per value: {counts})"
    w = t.setting.weight
    how = "the classifier alone" if np.isinf(w) else ("the model alone" if w == 0 else f"the classifier's share weighted {w:g}")
    few = [v for v, n in t.counts.items() if n < MIN_PER_VALUE]
    unlearnt = f"; too few labels to learn {', '.join(few)} (under {MIN_PER_VALUE} each)" if few else ""
    return f"  {name}: {how}, C {t.setting.c:g}; cross-validated kappa {t.kappa:.2f} on {sum(t.counts.values())} labels ({counts}){unlearnt}"


def _to_json(t: FieldTuning) -> dict[str, object]:
    return {"c": t.setting.c, "weight": "inf" if np.isinf(t.setting.weight) else t.setting.weight, "kappa": t.kappa, "counts": t.counts, "reason": t.reason}


def _from_json(d: dict[str, object]) -> FieldTuning:
    weight = float("inf") if d["weight"] == "inf" else float(d["weight"])  # type: ignore[arg-type]
    return FieldTuning(Setting(float(d["c"]), weight), d["kappa"], dict(d["counts"]), d["reason"])  # type: ignore[arg-type]
