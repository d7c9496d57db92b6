"""Presenting an eval: a terminal table and JSON (the HTML report: report_html.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .crossfit import REPEATS
from .evaluate import Comparison, EvalReport, VersionResult
from .metrics import FieldMetrics
from .summaries import PairedDifference, SummaryMetrics


def _ci(m: FieldMetrics) -> str:
    return f"{m.kappa:.3f} [{m.kappa_ci[0]:.3f}, {m.kappa_ci[1]:.3f}]"


def _r(value: float | None) -> str:
    """A ROUGE score, or "-" where the gold file has no reference summaries."""
    return "-" if value is None else f"{value:.3f}"


def _rci(value: float | None, ci: tuple[float, float] | None) -> str:
    """A score with its 95% interval where there is one, e.g. "0.309 [0.29, 0.33]"; "-" for none."""
    return _r(value) + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if value is not None and ci else "")


def _summary_cells(s: SummaryMetrics) -> list[str]:
    f = s.faithfulness
    faithful = "-" if f is None or f.share is None else f"{_rci(f.share, f.share_ci)} of {f.n}"
    return [_rci(s.rouge1, s.rouge1_ci), _rci(s.rouge2, s.rouge2_ci), _rci(s.rougeL, s.rougeL_ci), faithful, f"{s.one_line_share:.3f}"]


_SUMMARY_HEADER = ["ROUGE-1 [95% CI]", "ROUGE-2 [95% CI]", "ROUGE-L [95% CI]", "faithful [95% CI]", "one-line"]
_FAITHFUL = ("faithful: the share of summaries whose numbers and capitalised names all occur in the paper's "
             "title or abstract (summariser/evaluation/faithfulness.py)")


def _p(p: float) -> str:
    return f"{p:.3f}" + (" *" if p < 0.05 else "")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows]


def field_rows(report: EvalReport, name: str) -> list[tuple[str, FieldMetrics]]:
    """Each version's metrics for a field, then the baselines': majority, and each voting
    version's votes alone."""
    rows = [(v.prompt, v.fields[name]) for v in report.versions]
    base = report.baselines.fields.get(name)
    rows += [(f"baseline: always {base.label}", base.metrics)] if base else []
    for votes in report.baselines.votes:
        if name in votes.fields:
            source = "classifier alone" if votes.by == "classifier" else f"votes of {votes.vote_k} neighbours"
            rows.append((f"baseline: {source} ({votes.prompt})", votes.fields[name]))
    return rows


def _summary_rows(report: EvalReport) -> list[tuple[str, SummaryMetrics]]:
    """Each version's summary metrics, then the baselines'."""
    return [(v.prompt, v.summary) for v in report.versions] + [
        (f"baseline: {name}", m) for name, m in report.baselines.summaries.items()
    ]


def _confidence_table(report: EvalReport, name: str) -> tuple[list[str], list[list[str]]]:
    rows = []
    for v in report.versions:
        c = v.confidence.get(name)
        if c is None:  # the prompt does not ask for log-probabilities, or the endpoint gave none
            rows.append([v.prompt, "0", "none", "", "", ""])
        else:
            auroc = f"{c.auroc:.3f}" if c.auroc is not None else "n/a"
            rows.append([v.prompt, str(c.n_scored), auroc, f"{c.ece:.3f}", f"{c.selective_accuracy['50%']:.3f}", f"{c.selective_accuracy['80%']:.3f}"])
    return ["prompt", "scored", "AUROC", "ECE", "acc top 50%", "acc top 80%"], rows


def _summary_text(report: EvalReport) -> list[str]:
    if report.versions[0].summary.rouge1 is None:
        out = ["== summaries (the gold file has no reference summaries: no ROUGE, only faithfulness and the summaries' shape)"]
    else:
        out = ["== summaries (ROUGE F-measure against the reference summaries, 95% bootstrap intervals over papers)"]
    out += _table(
        ["prompt", *_SUMMARY_HEADER, "words mean/median/min/max"],
        [[label, *_summary_cells(s), f"{s.words_mean:.1f}/{s.words_median:.0f}/{s.words_min}/{s.words_max}"]
         for label, s in _summary_rows(report)],
    )
    out.append(_FAITHFUL)
    out += [line for v in report.versions if (line := vs_title(v))]
    for label, s in _summary_rows(report):
        if (f := s.faithfulness) and f.examples:
            out.append(f"unfaithful summaries of {label}: {f.n_unfaithful} of {f.n}; the first {min(3, len(f.examples))}:")
            out += [f"  {e.id}: {', '.join(e.unsupported)} not in the paper: {e.summary[:100]}" for e in f.examples[:3]]
    return out


def _difference(t: PairedDifference) -> str:
    return f"{t.difference:+.3f} [{t.difference_ci[0]:+.3f}, {t.difference_ci[1]:+.3f}]"


def vs_title(v: VersionResult) -> str | None:
    """A version's summaries against the titles as summaries, paper by paper (paired bootstrap);
    None without reference summaries, or in older results."""
    c = v.summary_vs_title
    if c is None or c.rouge1 is None or c.rouge2 is None:
        return None
    tests = [f"{name} {_difference(t)}, p {_p(t.p_value)}" for name, t in (("ROUGE-1", c.rouge1), ("ROUGE-2", c.rouge2))]
    return f"{v.prompt} minus the title, paper by paper (paired bootstrap): " + "; ".join(tests)


def _summary_tests(c: Comparison, p: Callable[[float], str]) -> tuple[list[str], list[list[str]]] | None:
    """The paired tests of two versions' summaries: header and rows; None for older results."""
    s = c.summary
    if s is None:
        return None
    rows = [[name, str(t.n), f"{t.mean_a:.3f}", f"{t.mean_b:.3f}",
             _difference(t), p(t.p_value)]
            for name, t in (("ROUGE-1", s.rouge1), ("ROUGE-2", s.rouge2)) if t is not None]
    if (m := s.faithfulness) is not None:
        rows.append(["faithful", str(s.n_faithfulness), _r(s.faithful_a), _r(s.faithful_b),
                     f"{(s.faithful_b or 0) - (s.faithful_a or 0):+.3f} ({m.only_a_correct} only {c.a}, {m.only_b_correct} only {c.b})", p(m.p_value)])
    return ["summary", "papers", c.a, c.b, "difference [95% CI]", "p"], rows


_SUMMARY_TESTS = "summaries, paper by paper (ROUGE: paired bootstrap of the mean difference; faithful: McNemar exact test)"

def _learning_table(report: EvalReport, name: str) -> tuple[str, list[str], list[list[str]]] | None:
    """A learning version's curve for one field: kappa on the labelled papers left over after n
    labels (random orders), as a caption, header and rows; None for other versions."""
    for v in report.versions:
        if v.learning is not None and name in v.learning.curves:
            caption = (f"{v.prompt}: its {v.learning.held_out} labelled papers labelled by 5-fold cross-validation; "
                       f"agreement after n labels, on the papers left over ({REPEATS} random orders):")
            rows = [[str(p.labelled), f"{p.kappa:.3f}", f"{p.low:.3f}-{p.high:.3f}"] for p in v.learning.curves[name]]
            return caption, ["labelled", "kappa (mean)", "lowest-highest"], rows
    return None


def format_text(report: EvalReport) -> str:
    """The eval as plain-text tables for the terminal."""
    out = [
        f"eval of {report.n_papers} papers against {report.gold} (annotators: {', '.join(report.annotators)}), "
        f"model {report.model}, {report.date}",
        "",
    ]
    fields = list(report.versions[0].fields)
    for name in fields:
        out.append(f"== {name}")
        rows = []
        for label, m in field_rows(report, name):
            rows.append([label, str(m.n), f"{m.coverage:.3f}", f"{m.accuracy:.3f}", _ci(m), f"{m.macro_f1:.3f}"])
        out += _table(["prompt", "n", "coverage", "accuracy", "kappa [95% CI]", "macro-F1"], rows)
        out.append("confidence (AUROC for correctness, calibration error, accuracy of the most confident rows; "
                   "none: the prompt asks for no log-probabilities, or the endpoint gave none):")
        out += ["  " + line for line in _table(*_confidence_table(report, name))]
        human = report.human.get(name)
        if human:
            out.append(f"human agreement ({human.measure}, {' vs '.join(human.annotators)}, n={human.n}): {human.value:.3f}")
        else:
            out.append("human agreement: needs a second annotator in the gold file")
        if (learning := _learning_table(report, name)) is not None:
            out.append(learning[0])
            out += ["  " + line for line in _table(learning[1], learning[2])]
        for v in report.versions:
            m = v.fields[name]
            out.append(f"per value, {v.prompt}:")
            out += ["  " + line for line in _table(
                ["value", "precision", "recall", "F1", "support"],
                [[s.value, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", str(s.support)] for s in m.per_value],
            )]
        out.append("")
    out += _summary_text(report)
    out += ["", "== cost"]
    out += _table(
        ["prompt", "prompt tok/paper", "completion tok/paper", "cached calls", "errors"],
        [[v.prompt, f"{v.cost.prompt_tokens_per_paper:.0f}", f"{v.cost.completion_tokens_per_paper:.1f}",
          f"{v.cost.cached}/{report.n_papers}", str(v.cost.errors)] for v in report.versions],
    )
    for c in report.comparisons:
        out += ["", f"== {c.b} vs {c.a} (McNemar exact test on per-paper correctness; * p < 0.05)"]
        out += _table(
            ["field", f"acc {c.a}", f"acc {c.b}", "diff", f"kappa {c.a}", f"kappa {c.b}", "F1 diff", "p"],
            [[name, f"{f.accuracy_a:.3f}", f"{f.accuracy_b:.3f}", f"{f.accuracy_b - f.accuracy_a:+.3f}",
              f"{f.kappa_a:.3f}", f"{f.kappa_b:.3f}", f"{f.macro_f1_b - f.macro_f1_a:+.3f}", _p(f.test.p_value)]
             for name, f in c.fields.items()],
        )
        if (tests := _summary_tests(c, _p)) is not None:
            out += [_SUMMARY_TESTS + ":"] + ["  " + line for line in _table(*tests)]
        out.append(f"ROUGE-1: {_r(c.rouge1_a)} -> {_r(c.rouge1_b)}; labels changed on {len(c.changed)} paper-fields:")
        for ch in c.changed[:20]:
            out.append(f"  {ch.id} {ch.field}: {ch.a} -> {ch.b} (gold {ch.gold})  {ch.title[:60]}")
        if len(c.changed) > 20:
            out.append(f"  ... {len(c.changed) - 20} more in the JSON/HTML report")
    return "\n".join(out)


def write_json(report: EvalReport, path: str | Path) -> None:
    """Machine-readable metrics."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(report.model_dump_json(indent=2))
