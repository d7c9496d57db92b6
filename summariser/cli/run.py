"""`summariser run`: summarise and label every paper of a dump."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..records import FORMATS

if TYPE_CHECKING:  # imported when a command runs, so --help stays quick
    from ..flow.cache import ResponseCache
    from ..flow.output import RowWriter
    from ..flow.progress import Tally
    from ..prompting.retrieval import ExampleIndex
    from ..prompting.version import PromptVersion
    from ..records import Dump, Paper
    from ..transport.client import ModelClient
    from ..transport.embeddings import EndpointEmbedder

from .common import (
    EXIT_OK, EXIT_ROW_ERRORS, EXIT_USAGE, cache_dir_option, client_for, concurrency_help, constrain_option, embedder_for,
    endpoint_options, fail, os_message, prompt_option_help, timeout_option, workers,
)


@click.command()
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", "output", metavar="OUT", help="Output file: .jsonl, .csv or .md. Default: JSONL on stdout.")
@click.option("--prompt", "prompt_version", help=prompt_option_help)
@endpoint_options
@click.option("--concurrency", type=click.IntRange(1, 256), help=concurrency_help)
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
    "version that asks for log-probabilities, such as fewshot-v8 or fewshot-v4, and an endpoint that "
    "returns them).",
)
@cache_dir_option
def run(
    input_path: str, output: str | None, prompt_version: str | None, prompts_dir: Path | None, model: str | None, base_url: str | None,
    endpoint_kind: str, embeddings_model: str | None, embeddings_base_url: str | None,
    concurrency: int | None, timeout: float, limit: int | None, fmt: str | None, constrain: str,
    no_cache: bool, review_below: float | None, cache_dir: Path | None,
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
    from ..flow.interrupts import interruptible
    from ..flow.progress import Tally, report_input

    tally = Tally()
    with interruptible(tally, resumable=not no_cache, to_file=output not in (None, "-")):
        endpoint = (base_url, model, constrain, timeout, endpoint_kind)
        run = _open(input_path, fmt, output, (prompt_version, prompts_dir), endpoint, (embeddings_model, embeddings_base_url), no_cache, cache_dir)
        papers = run.dump.papers[:limit] if limit else run.dump.papers
        report_input(run.dump, "<stdin>" if input_path == "-" else input_path)
        tally.total = len(papers)
        started = time.monotonic()
        _write_rows(papers, run, tally, workers(concurrency, run.client), review_below)
        where = f" -> {output}" if output and output != "-" else ""
        lines = tally.summary(where, len(run.dump.skipped), run.client.model, run.prompt.version, time.monotonic() - started, review_below)
        click.echo("\n".join(lines), err=True)
    sys.exit(EXIT_ROW_ERRORS if tally.error else EXIT_OK)


@dataclass
class Opened:
    """What a run works with, made before the first paper."""

    dump: Dump
    prompt: PromptVersion
    client: ModelClient
    cache: ResponseCache | None
    writer: RowWriter
    index: ExampleIndex | None  # over the version's pool, where its votes use an endpoint's embeddings
    embedder: EndpointEmbedder | None


def _open(
    input_path: str, fmt: str | None, output: str | None, version: tuple[str | None, Path | None],
    endpoint: tuple[str | None, str | None, str, float, str], embeddings: tuple[str | None, str | None], no_cache: bool, cache_dir: Path | None,
) -> Opened:
    """The dump, the prompt version, the client, the cache and the row writer; or a one-line failure."""
    from ..base.errors import SummariserError
    from ..flow.cache import ResponseCache
    from ..flow.fit import choose_version
    from ..flow.output import RowWriter, output_format
    from ..flow.pipeline import version_index
    from ..records import read_dump

    try:
        output_format(output)
        dump = read_dump(input_path, fmt)
        client = client_for(*endpoint)
        embedder = embedder_for(client, *embeddings)
        prompt = choose_version(client, *version, embedder)
        cache = None if no_cache else ResponseCache(cache_dir)
        index = version_index(prompt, cache, embedder=embedder) if embedder else None
        return Opened(dump, prompt, client, cache, RowWriter(output, [f.name for f in prompt.fields]), index, embedder)
    except (SummariserError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(os_message(exc))


def _say(message: str) -> None:
    click.echo(message, err=True)


def _write_rows(papers: list[Paper], run: Opened, tally: Tally, concurrency: int, review_below: float | None) -> None:
    """Every paper's row to the writer and the tally; the client and cache closed in any case."""
    from ..base.errors import SummariserError
    from ..flow.interrupts import exit_now
    from ..flow.pipeline import summarise
    from ..flow.progress import progress
    from ..labels.confidence import needs_review

    writer = run.writer
    try:
        rows = summarise(papers, run.prompt, run.client, run.cache, concurrency=concurrency, index=run.index, say=_say, track=progress)
        for row in progress(rows, len(papers)):
            if review_below is not None:
                row.needs_review = needs_review(row.confidence, review_below)
            writer.write(row)
            tally.add(row)
        writer.close()
    except (SummariserError, OSError) as exc:
        writer.abort()
        click.echo(f"summariser: {os_message(exc) if isinstance(exc, OSError) else exc}", err=True)
        exit_now(EXIT_USAGE)  # without waiting for calls in flight (their retries can take minutes)
    except BaseException:
        writer.abort()  # never leave a half-written temporary file behind
        raise
    finally:
        run.client.close()
        if run.cache is not None:
            run.cache.close()
        if run.index is not None and hasattr(run.index.embedder, "close"):
            run.index.embedder.close()  # the embedding store made for the endpoint's embeddings
        if run.embedder is not None:
            run.embedder.close()
