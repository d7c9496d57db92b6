"""Presenting an eval as a self-contained HTML report: tables, and confusion matrices as embedded images."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from .evaluate import EvalReport
from .metrics import FieldMetrics
from .report import (
    _FAITHFUL, _SUMMARY_HEADER, _SUMMARY_TESTS, _ci, _confidence_table, _learning_table, _summary_cells, _summary_rows,
    _summary_tests, field_rows, vs_title,
)


def _confusion_png(m: FieldMetrics, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = 1.0 + 0.55 * len(m.labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    ax.imshow(m.confusion, cmap="Blues")
    ax.set_xticks(range(len(m.labels)), m.labels, rotation=45, ha="right")
    ax.set_yticks(range(len(m.labels)), m.labels)
    ax.set_xlabel("model")
    ax.set_ylabel("gold")
    ax.set_title(title)
    peak = max(max(r) for r in m.confusion) or 1
    for i, row in enumerate(m.confusion):
        for j, v in enumerate(row):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", color="white" if v > peak / 2 else "black")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


_STYLE = """body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.mats{display:flex;flex-wrap:wrap;gap:1em}pre{background:#f6f6f6;padding:1em}"""


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html_field(report: EvalReport, name: str) -> list[str]:
    """One label field's part of the HTML report."""
    parts: list[str] = []
    parts.append(f"<h2>{html.escape(name)}</h2>")
    parts.append(_html_table(
        ["prompt", "n", "coverage", "accuracy", "kappa [95% CI]", "macro-F1"],
        [[label, m.n, f"{m.coverage:.3f}", f"{m.accuracy:.3f}", _ci(m), f"{m.macro_f1:.3f}"]
         for label, m in field_rows(report, name)],
    ))
    parts.append("<p>Confidence: AUROC for correctness, expected calibration error, accuracy of the most confident rows "
                 "(none: the prompt asks for no log-probabilities, or the endpoint gave none).</p>")
    parts.append(_html_table(*_confidence_table(report, name)))
    human = report.human.get(name)
    parts.append(
        f"<p>Human agreement ({human.measure}, n={human.n}): {human.value:.3f}</p>" if human
        else "<p>Human agreement: needs a second annotator in the gold file.</p>"
    )
    if (learning := _learning_table(report, name)) is not None:
        parts.append(f"<p>{html.escape(learning[0])}</p>" + _html_table(learning[1], learning[2]))
    parts.append("<div class='mats'>")
    for v in report.versions:
        png = _confusion_png(v.fields[name], f"{name}: {v.prompt}")
        parts.append(f"<figure><img alt='confusion matrix {html.escape(name)} {html.escape(v.prompt)}' src='data:image/png;base64,{png}'></figure>")
    parts.append("</div>")
    for v in report.versions:
        parts.append(f"<h3>{html.escape(name)} per value: {html.escape(v.prompt)}</h3>")
        parts.append(_html_table(
            ["value", "precision", "recall", "F1", "support"],
            [[s.value, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", s.support] for s in v.fields[name].per_value],
        ))
    return parts


def write_html(report: EvalReport, path: str | Path) -> None:
    """A self-contained HTML report: tables, and confusion matrices as embedded PNG images."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>summariser eval</title><style>{_STYLE}</style></head><body>",
        "<h1>summariser eval</h1>",
        f"<p>{report.n_papers} papers, gold <code>{html.escape(report.gold)}</code> "
        f"(annotators: {html.escape(', '.join(report.annotators))}), model <code>{html.escape(report.model)}</code>, {report.date}.</p>",
    ]
    for name in report.versions[0].fields:
        parts += _html_field(report, name)
    parts += ["<h2>Summaries</h2>", _html_table(["", *_SUMMARY_HEADER, "words mean"], [
        [label, *_summary_cells(m), f"{m.words_mean:.1f}"] for label, m in _summary_rows(report)
    ])] + [f"<p>{html.escape(line)}</p>" for v in report.versions if (line := vs_title(v))] + [
        f"<p>{html.escape(_FAITHFUL)}; the first unfaithful summaries:</p>", _html_table(["", "paper", "not in the paper", "summary"], [
        [label, e.id, ", ".join(e.unsupported), e.summary] for label, m in _summary_rows(report) if m.faithfulness for e in m.faithfulness.examples
    ])]
    parts.append("<h2>Cost</h2>")
    parts.append(_html_table(
        ["prompt", "prompt tok/paper", "completion tok/paper", "cached", "errors"],
        [[v.prompt, f"{v.cost.prompt_tokens_per_paper:.0f}", f"{v.cost.completion_tokens_per_paper:.1f}", v.cost.cached, v.cost.errors]
         for v in report.versions],
    ))
    for c in report.comparisons:
        parts.append(f"<h2>{html.escape(c.b)} vs {html.escape(c.a)}</h2><p>McNemar exact test on per-paper correctness.</p>")
        parts.append(_html_table(
            ["field", f"accuracy {c.a}", f"accuracy {c.b}", "difference", "p-value"],
            [[n, f"{f.accuracy_a:.3f}", f"{f.accuracy_b:.3f}", f"{f.accuracy_b - f.accuracy_a:+.3f}", f"{f.test.p_value:.4f}"]
             for n, f in c.fields.items()],
        ))
        if (tests := _summary_tests(c, lambda p: f"{p:.4f}")) is not None:
            parts.append(f"<p>{html.escape(_SUMMARY_TESTS)}:</p>" + _html_table(*tests))
        parts.append(f"<p>Labels changed on {len(c.changed)} paper-fields:</p>")
        parts.append(_html_table(["id", "title", "field", c.a, c.b, "gold"],
                                 [[x.id, x.title, x.field, x.a or "", x.b or "", x.gold] for x in c.changed]))
    parts.append("</body></html>")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(parts), encoding="utf-8")
