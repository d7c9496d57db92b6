"""Measuring a learning version (vote_weight = "auto") on its own labelled papers.

A run chooses the version's settings and fits its classifier on every labelled paper, so
scoring those papers with the run's labels would let each paper's own label help label it. Here
each labelled paper is labelled instead with its fold of five left out of both the choice and the
fit (labels/crossval.py), from the model's cached answer; and a learning curve says what
agreement 10, 20, 40, ... labels give on the papers left over, so a user sees whether labelling
more is worth it.
"""

from __future__ import annotations

from pydantic import BaseModel

from ..base.types import Row
from ..flow.calls import VersionRun
from ..flow.learning import field_data, pool_papers
from ..labels.crossval import CurvePoint, curve_sizes, learning_curve, predict_held_out

REPEATS = 5  # random orders averaged per point of a learning curve


class Learning(BaseModel):
    """A learning version measured on its labelled papers."""

    held_out: int  # gold papers labelled with their fold left out
    curves: dict[str, list[CurvePoint]]  # per field, agreement after n labels (random order)


def held_out_rows(run: VersionRun, rows: list[Row]) -> tuple[list[Row], Learning | None]:
    """The rows with every labelled paper's labels cross-validated, and the learning curves;
    rows unchanged (and None) for a version that does not learn."""
    prompt, index = run.prompt, run.labeller.index
    if not prompt.learns or index is None or not prompt.pool:
        return rows, None
    papers = pool_papers(prompt)
    found = [run.cached_answer(p) for p in papers]
    raw, spread = index.raw_pool(), bool(index.embedding_layers)
    position = {p.id: i for i, p in enumerate(papers)}
    out = {r.id: r.model_copy(deep=True) for r in rows}
    learnt: dict[str, list[CurvePoint]] = {}
    sizes = curve_sizes(len(prompt.pool))
    for f, values, y, model in field_data(prompt, found):
        labels, confidence = predict_held_out(raw, y, values, model, spread=spread)
        for pid, i in position.items():
            row = out.get(pid)
            if row is not None and row.error is None:
                row.labels[f.name], row.confidence[f.name] = labels[i], confidence[i]
        if sizes:
            learnt[f.name] = learning_curve(raw, y, values, model, sizes, repeats=REPEATS, spread=spread)
    held = sum(1 for r in rows if r.id in position and r.error is None)
    return [out[r.id] for r in rows], Learning(held_out=held, curves=learnt)
