"""`summariser eval`: how prompt versions' labels and summaries agree with the hand-labelled gold set."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..base.data import packaged
from .common import (
    cache_dir_option, check_writable, client_for, constrain_option, embedder_for, endpoint_options, fail, open_cache,
    timeout_option, workers,
)

if TYPE_CHECKING:  # imported when the command runs, so --help stays quick
    from ..evaluation.gold import Gold
    from ..prompting.version import PromptVersion
    from ..records import Paper


@click.command("eval")
@click.option("--prompt", "versions", multiple=True, help="Prompt version to evaluate; repeat to compare versions (the first is the baseline). Default: the version recommended for the endpoint.")
@click.option("--gold", "gold_path", type=click.Path(dir_okay=False, path_type=Path), help="Gold JSONL file. Default: the first version's own labelled file if it learns from one (then cross-validated, with a learning curve), else the packaged gold set (the example dump's 178 papers).")
@click.option("--split", type=click.Choice(["tuning", "report"]), help="Only the packaged gold set's tuning or report half "
              "(evals/split.json, fixed): choose settings on the tuning half, report on the other.")
@click.option("--input", "input_path", help="The dump holding the gold papers' abstracts. Default: the gold file itself when it carries them (a labelled file does), else the packaged example dump.")
@endpoint_options
@constrain_option
@click.option("--concurrency", type=click.IntRange(1, 256), help="Requests in flight.")
@timeout_option
@click.option("--report", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a self-contained HTML report here.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the metrics as JSON here.")
@cache_dir_option
def eval_command(
    versions: tuple[str, ...], gold_path: Path | None, split: str | None, input_path: str | None, prompts_dir: Path | None, model: str | None, base_url: str | None,
    endpoint_kind: str, embeddings_model: str | None, embeddings_base_url: str | None, constrain: str,
    concurrency: int | None, timeout: float, html_path: Path | None, json_path: Path | None, cache_dir: Path | None,
) -> None:
    """Measure how the labels and summaries of prompt versions agree with the hand-labelled gold set.

    Per label field: coverage, accuracy, Cohen's kappa with a 95% bootstrap interval, macro-F1,
    per-value precision/recall/F1 and the confusion matrix; human agreement when the gold has
    several annotators; ROUGE-1/2/L of the summaries; tokens per paper. With two or more
    --prompt, each version against the first, with McNemar's test and the papers that changed.
    Answers go through the normal cache, so a re-run is free.

    A version that learns from your labels (`prompts new`, `label`) is measured on its labelled
    file by 5-fold cross-validation: each paper is labelled with its fold left out of the
    classifier's fit and of the choice of settings. A learning curve shows the agreement after
    10, 20, 40, ... labels, so you can see whether labelling more is worth it. When the file has
    a second annotator (`label --annotator a2`), their agreement is reported as the ceiling.
    """
    try:
        import krippendorff, matplotlib, rouge_score, scipy, sklearn  # noqa: F401, E401
    except ImportError as exc:
        fail(f"summariser eval needs the eval extra ({exc.name} is missing): pip install 'summariser[eval]'")
    from ..base.errors import SummariserError
    from ..evaluation.evaluate import evaluate
    from ..evaluation.report import format_text, write_json
    from ..evaluation.report_html import write_html
    from ..flow.fit import choose_version
    from ..flow.progress import progress

    try:
        client = client_for(base_url, model, constrain, timeout, endpoint_kind)
        embedder = embedder_for(client, embeddings_model, embeddings_base_url)
        prompts = [choose_version(client, v, prompts_dir, embedder) for v in (versions or (None,))]
        gold, papers = _gold_and_papers(prompts[0], versions[0] if versions else None, prompts_dir, gold_path, input_path, split)
    except SummariserError as exc:
        fail(str(exc))
    check_writable(json_path)
    check_writable(html_path)
    try:
        with closing(open_cache(cache_dir)) as store:
            result = evaluate(gold, papers, prompts, client, store, workers(concurrency, client), progress, embedder)
    except SummariserError as exc:
        fail(str(exc))
    finally:
        client.close()
        if embedder is not None:
            embedder.close()
    click.echo(format_text(result))
    if json_path:
        write_json(result, json_path)
        click.echo(f"metrics: {json_path}", err=True)
    if html_path:
        write_html(result, html_path)
        click.echo(f"report: {html_path}", err=True)


def _gold_and_papers(
    first: PromptVersion, asked: str | None, prompts_dir: Path | None, gold_path: Path | None, input_path: str | None, split: str | None
) -> tuple[Gold, list[Paper]]:
    """The gold set (given, the first version's own labelled file, or the packaged one) and its
    papers (from the gold file itself when it has their abstracts, else from the dump)."""
    from ..base.errors import GoldError
    from ..evaluation.gold import half_of, load_gold, papers_of
    from ..flow.fit import own_labels
    from ..labelled import read_labelled
    from ..records import read_dump

    own = None if gold_path else own_labels(first, asked, prompts_dir)
    if own is not None and not read_labelled(own).answers():
        raise GoldError(f"{first.version} has no labelled papers yet in {own}: label some first (summariser label DUMP --prompt {first.version})")
    gold = load_gold(gold_path or own or packaged("gold.jsonl"))
    papers = papers_of(gold) if input_path is None else []
    if not papers:  # the gold file has no abstracts: they come from the dump
        papers = read_dump(input_path or str(packaged("papers-dump.txt"))).papers
    return gold, half_of(papers, split) if split is not None else papers
