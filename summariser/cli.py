"""The command line: a thin layer over the Python API."""

from __future__ import annotations

import os
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import NoReturn

import click

from . import prompts as prompt_store
from .cache import ResponseCache, default_cache_dir
from .client import DEFAULT_TIMEOUT, FatalModelError, ModelClient, connect
from .confidence import needs_review
from .embedded import SLOTS as EMBEDDED_SLOTS
from .embedded import EmbeddedModelError
from .interrupts import exit_now, interruptible
from .output import RowWriter, output_format
from .pipeline import summarise
from .progress import Tally, progress, report_input
from .records import FORMATS, InputError, read_dump

EXIT_OK, EXIT_ROW_ERRORS, EXIT_USAGE = 0, 1, 2
DEFAULT_REMOTE_CONCURRENCY = 8
_PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_GOLD = _PROJECT / "evals" / "gold.jsonl"
DEFAULT_DUMP = _PROJECT / "examples" / "papers-dump.txt"


model_option = click.option("--model", envvar="SUMMARISER_MODEL", help="Model name at the endpoint [env SUMMARISER_MODEL].")
base_url_option = click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 [env OPENAI_BASE_URL]. "
    "With neither this nor OPENAI_API_KEY, the embedded model is used.",
)
constrain_option = click.option(
    "--constrain",
    type=click.Choice(["auto", "llama", "schema", "mixed", "none"]),
    default="auto",
    show_default=True,
    help="How the server is asked to keep to the answer's shape: 'llama' a llama.cpp grammar or "
    "JSON schema (llama.cpp, llama-cpp-python), 'schema' OpenAI's json_schema (chat prompts), "
    "'mixed' a grammar for completion prompts and json_schema for chat prompts, 'none'. "
    "auto: 'llama' for the embedded model, 'schema' for OpenAI, 'mixed' for other endpoints. "
    "Answers are validated either way.",
)
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds to wait for one answer before retrying it.",
)
cache_dir_option = click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Cache folder, for answers and (in its embeddings/ folder) paper embeddings [env SUMMARISER_CACHE_DIR; default {default_cache_dir()}].",
)


def _fail(message: str) -> NoReturn:
    click.echo(f"summariser: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _open_cache(cache_dir: Path | None) -> ResponseCache:
    try:
        return ResponseCache(cache_dir)
    except OSError as exc:
        _fail(f"cache folder {exc.filename}: {exc.strerror}")


def _check_writable(path: Path | None) -> None:
    """Fail before a long eval, not after it, when a report cannot be written."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"{exc.filename}: {exc.strerror}")
    if path.is_dir() or not os.access(path.parent, os.W_OK):
        _fail(f"{path}: cannot write here")


def _workers(concurrency: int | None, client: ModelClient) -> int:
    """Requests in flight: as many as the embedded server decodes together, or the remote default."""
    return concurrency or (EMBEDDED_SLOTS if client.embedded else DEFAULT_REMOTE_CONCURRENCY)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="summariser")
def main() -> None:
    """Summarise dumps of paper titles and abstracts: a one-line summary and category labels per
    paper, from an LLM through versioned prompts, with every answer cached.

    With no endpoint configured, runs offline on the embedded model (gemma-3-270m)."""


@main.command()
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", "output", metavar="OUT", help="Output file: .jsonl, .csv or .md. Default: JSONL on stdout.")
@click.option("--prompt", "prompt_version", default=prompt_store.DEFAULT_VERSION, show_default=True, help="Prompt version name, or a path to a prompt .toml file.")
@model_option
@base_url_option
@click.option("--concurrency", type=click.IntRange(1, 256), help=f"Requests in flight. Default: {EMBEDDED_SLOTS} on the embedded model (decoded together), {DEFAULT_REMOTE_CONCURRENCY} on an endpoint.")
@timeout_option
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N papers.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Input format. Default: detected from the extension or content.")
@constrain_option
@click.option("--no-cache", is_flag=True, help="Neither read nor write the response cache (an interrupted run then cannot resume).")
@click.option(
    "--review-below",
    type=click.FloatRange(0, 1),
    metavar="P",
    help="Mark rows whose lowest label confidence is below P with needs_review: true (needs a prompt "
    "version that asks for log-probabilities, such as the default fewshot-v8, and an endpoint that "
    "returns them).",
)
@cache_dir_option
def run(
    input_path: str,
    output: str | None,
    prompt_version: str,
    model: str | None,
    base_url: str | None,
    concurrency: int | None,
    timeout: float,
    limit: int | None,
    fmt: str | None,
    constrain: str,
    no_cache: bool,
    review_below: float | None,
    cache_dir: Path | None,
) -> None:
    """Summarise and label every paper in INPUT (a file, or - for stdin).

    INPUT may be JSONL/JSON or CSV with title and abstract (and optional id), or a plain-text
    dump: a title line, then an abstract line, per paper; page boilerplate is dropped.
    Every paper gets one row: its answer, or an error saying why. Lines that are not papers,
    and duplicates, are reported with their line number.

    Answers are cached as they arrive and the output file appears whole at the end, so an
    interrupted run (Ctrl-C, kill, a crash) loses nothing paid for: run the same command again
    and only the missing papers are sent. Transient endpoint failures are retried; after 10
    papers in a row fail, the rest are not sent (error rows).

    Progress and a final count go to stderr. Exit status: 0 all rows ok, 1 some rows have
    an error, 2 unusable input or arguments, 130/143 interrupted (SIGINT/SIGTERM).
    """
    tally = Tally()
    with interruptible(tally, resumable=not no_cache, to_file=output not in (None, "-")):
        try:
            output_format(output)
            dump = read_dump(input_path, fmt)
            prompt = prompt_store.load_prompt(prompt_version)
            client = connect(base_url=base_url, model=model, constrain=constrain, timeout=timeout)  # type: ignore[arg-type]
            cache = None if no_cache else ResponseCache(cache_dir)
            writer = RowWriter(output, [f.name for f in prompt.fields])
        except (InputError, prompt_store.PromptError, FatalModelError, ValueError) as exc:
            _fail(str(exc))
        except OSError as exc:
            _fail(f"{exc.filename}: {exc.strerror}")
        papers = dump.papers[:limit] if limit else dump.papers
        report_input(dump, "<stdin>" if input_path == "-" else input_path)
        tally.total = len(papers)
        started = time.monotonic()
        try:
            rows = summarise(papers, prompt, client, cache, concurrency=_workers(concurrency, client))
            for row in progress(rows, len(papers)):
                if review_below is not None:
                    row.needs_review = needs_review(row.confidence, review_below)
                writer.write(row)
                tally.add(row)
            writer.close()
        except (FatalModelError, EmbeddedModelError, OSError) as exc:
            writer.abort()
            message = f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError) and exc.filename else str(exc)
            click.echo(f"summariser: {message}", err=True)
            exit_now(EXIT_USAGE)  # without waiting for calls in flight (their retries can take minutes)
        except BaseException:
            writer.abort()  # never leave a half-written temporary file behind
            raise
        finally:
            client.close()
            if cache is not None:
                cache.close()
        where = f" -> {output}" if output and output != "-" else ""
        click.echo(
            f"{len(papers)} papers{where}: {tally.describe()}; {len(dump.skipped)} input line(s) skipped; "
            f"model {client.model}, prompt {prompt.version}; "
            f"new tokens: {tally.prompt_tokens} prompt + {tally.completion_tokens} completion; {time.monotonic() - started:.1f} s",
            err=True,
        )
        for reason, count in tally.errors.most_common(3):
            click.echo(f"  {count} x {reason}", err=True)
        if review_below is not None:
            click.echo(f"{tally.needs_review} row(s) need review (a label confidence below {review_below})", err=True)
            if tally.unscored:
                click.echo(
                    f"{tally.unscored} row(s) have no confidence to judge: prompt {prompt.version} does not ask for "
                    "log-probabilities, or the endpoint returned none",
                    err=True,
                )
        status = EXIT_ROW_ERRORS if tally.error else EXIT_OK
    sys.exit(status)


@main.group()
def prompts() -> None:
    """List, show and compare prompt versions."""


@prompts.command("list")
def prompts_list() -> None:
    """Each prompt version with its API style, hash and release status."""
    lock = prompt_store.read_lock()
    for name in prompt_store.available_versions():
        try:
            p = prompt_store.load_prompt(name)
        except prompt_store.PromptError as exc:
            click.echo(f"{name}: invalid: {exc}")
            continue
        status = "released" if lock.get(name) == p.sha256 else ("CHANGED after release" if name in lock else "draft")
        default = " (default)" if name == prompt_store.DEFAULT_VERSION else ""
        summary = p.description.strip().splitlines()[0]
        click.echo(f"{name}{default}\t{p.api}\t{p.sha256[:12]}\t{status}\t{summary}")


@prompts.command("show")
@click.argument("version")
def prompts_show(version: str) -> None:
    """Print a prompt version's file."""
    try:
        path = prompt_store.resolve_path(version)
        prompt = prompt_store.load_prompt(version)
    except prompt_store.PromptError as exc:
        _fail(str(exc))
        return
    covers = " (of the file, its pool and retrieval settings)" if prompt.retrieval else ""
    click.echo(f"# {path} sha256={prompt.sha256}{covers}")
    click.echo(path.read_text(), nl=False)


@prompts.command("diff")
@click.argument("a")
@click.argument("b")
def prompts_diff(a: str, b: str) -> None:
    """Unified diff between two prompt versions."""
    try:
        click.echo(prompt_store.diff_prompts(a, b) or "(identical)", nl=False)
    except prompt_store.PromptError as exc:
        _fail(str(exc))


@main.group()
def cache() -> None:
    """Inspect or empty the response cache."""


@cache.command("info")
@cache_dir_option
def cache_info(cache_dir: Path | None) -> None:
    """Where the cache is, how many answers it holds and its size."""
    with closing(_open_cache(cache_dir)) as store:
        click.echo(f"{store.directory}: {len(store)} answers, {store.size_bytes() / 1e6:.1f} MB")


@cache.command("clear")
@cache_dir_option
def cache_clear(cache_dir: Path | None) -> None:
    """Remove every cached answer."""
    with closing(_open_cache(cache_dir)) as store:
        click.echo(f"removed {store.clear()} answers from {store.directory}")


@main.command("eval")
@click.option("--prompt", "versions", multiple=True, help="Prompt version to evaluate; repeat to compare versions (the first is the baseline). Default: the default version.")
@click.option("--gold", "gold_path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_GOLD, show_default=True, help="Gold JSONL file.")
@click.option("--input", "input_path", default=str(DEFAULT_DUMP), show_default=True, help="The dump holding the gold papers' abstracts.")
@model_option
@base_url_option
@constrain_option
@click.option("--concurrency", type=click.IntRange(1, 256), help="Requests in flight.")
@timeout_option
@click.option("--report", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a self-contained HTML report here.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the metrics as JSON here.")
@cache_dir_option
def eval_command(
    versions: tuple[str, ...],
    gold_path: Path,
    input_path: str,
    model: str | None,
    base_url: str | None,
    constrain: str,
    concurrency: int | None,
    timeout: float,
    html_path: Path | None,
    json_path: Path | None,
    cache_dir: Path | None,
) -> None:
    """Measure how the labels and summaries of prompt versions agree with the hand-labelled gold set.

    Per label field: coverage, accuracy, Cohen's kappa with a 95% bootstrap interval, macro-F1,
    per-value precision/recall/F1 and the confusion matrix; human agreement when the gold has
    several annotators; ROUGE-1/2/L of the summaries; tokens per paper. With two or more
    --prompt, each version against the first, with McNemar's test and the papers that changed.
    Answers go through the normal cache, so a re-run is free.
    """
    try:
        import krippendorff, matplotlib, rouge_score, scipy, sklearn  # noqa: F401, E401
    except ImportError as exc:
        _fail(f"summariser eval needs the eval extra ({exc.name} is missing): pip install 'summariser[eval]'")
    from .evaluate import evaluate
    from .gold import GoldError, load_gold
    from .report import format_text, write_html, write_json

    try:
        prompts = [prompt_store.load_prompt(v) for v in (versions or (prompt_store.DEFAULT_VERSION,))]
        gold = load_gold(gold_path)
        dump = read_dump(input_path)
        client = connect(base_url=base_url, model=model, constrain=constrain, timeout=timeout)  # type: ignore[arg-type]
    except (InputError, prompt_store.PromptError, FatalModelError, GoldError) as exc:
        _fail(str(exc))
        return

    _check_writable(json_path)
    _check_writable(html_path)
    workers = _workers(concurrency, client)
    try:
        with closing(_open_cache(cache_dir)) as store:
            result = evaluate(gold, dump.papers, prompts, client, store, concurrency=workers, progress=progress)
    except (GoldError, FatalModelError, EmbeddedModelError) as exc:
        _fail(str(exc))
        return
    finally:
        client.close()
    click.echo(format_text(result))
    if json_path:
        write_json(result, json_path)
        click.echo(f"metrics: {json_path}", err=True)
    if html_path:
        write_html(result, html_path)
        click.echo(f"report: {html_path}", err=True)
