"""`summariser batch`: a big dump through an endpoint's Batch API (prepare, submit, status,
collect), or through vLLM's run_batch (prepare, then import its results)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from ..flow.batch.models import MAX_BYTES, MAX_REQUESTS
from ..records import FORMATS
from .common import cache_dir_option, client_for, constrain_option, embedder_for, endpoint_options, fail, open_cache, os_message, prompt_option_help

if TYPE_CHECKING:
    from ..flow.batch.models import Settings
    from ..flow.calls import VersionRun
    from ..records import Dump

DEFAULT_DIR = Path("summariser-batch")
folder_argument = click.argument("folder", metavar="DIR", required=False, default=str(DEFAULT_DIR), type=click.Path(file_okay=False, path_type=Path))
format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), help="Input format. Default: detected from the extension or content.")


def _say(message: str) -> None:
    click.echo(message)


def _cache_args(cache_dir: Path | None) -> list[str]:
    return ["--cache-dir", str(cache_dir.resolve())] if cache_dir else []


@click.group()
def batch() -> None:
    """A big dump through an endpoint's Batch API, at its price, in up to 24 hours.

    \b
    summariser batch prepare DUMP --base-url URL --model M   request files of what the cache lacks
    summariser batch submit                                  upload them, one batch each, once
    summariser batch status                                  one line per batch
    summariser batch collect                                 answers into the cache, validated
    summariser run DUMP --base-url URL --model M -o OUT      the table, from the cache

    With vLLM instead of a Batch API: prepare, run each file through
    `python -m vllm.entrypoints.openai.run_batch -i FILE -o RESULTS --model M`, then
    `summariser batch import RESULTS --input DUMP` with the options given to prepare."""


def _open(
    input_path: str, fmt: str | None, prompt_version: str | None, prompts_dir: Path | None, endpoint: tuple[Any, str | None, str, str],
    embeddings: tuple[str | None, str | None], cache_dir: Path | None,
) -> tuple["Dump", "VersionRun", "Settings"]:
    """The dump, the VersionRun `run` would make with these options, and the settings to record."""
    import os

    from ..base.errors import SummariserError
    from ..base.versions import DEFAULT_TIMEOUT
    from ..flow.batch.runs import settings_for, version_run
    from ..flow.fit import choose_version
    from ..records import read_dump

    base_url, model, constrain, kind = endpoint
    if base_url is not None and not isinstance(base_url, str):  # --base-url repeated: several endpoints
        if len(base_url) > 1:
            fail("a batch goes to one endpoint: give --base-url once")
        base_url = base_url[0]
    if input_path == "-":
        fail("batch reads the dump from a file: its path is recorded, to prepare what a batch lost again")
    if not base_url and not os.environ.get("OPENAI_API_KEY"):
        fail("batches go to an endpoint: give --base-url (or OPENAI_API_KEY) and --model as `summariser run` will get them (nothing is sent here)")
    try:
        dump = read_dump(input_path, fmt)
        client = client_for(base_url, model, constrain, DEFAULT_TIMEOUT, kind)
        prompt = choose_version(client, prompt_version, prompts_dir, embedder_for(client, *embeddings))
        run = version_run(prompt, client, open_cache(cache_dir))
        return dump, run, settings_for(input_path, fmt, prompt_version or prompt.version, prompts_dir, prompt, client, base_url)
    except (SummariserError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(os_message(exc))


@batch.command()
@click.argument("input_path", metavar="DUMP")
@click.option("-o", "--output", "out_dir", default=str(DEFAULT_DIR), show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the request files (its earlier ones are replaced).")
@click.option("--prompt", "prompt_version", help=prompt_option_help)
@endpoint_options
@format_option
@constrain_option
@click.option("--max-requests", type=click.IntRange(1, MAX_REQUESTS), default=MAX_REQUESTS, show_default=True, help="Requests per file at most.")
@click.option("--max-bytes", type=click.IntRange(1, MAX_BYTES), default=MAX_BYTES, show_default=True, help="Bytes per file at most.")
@cache_dir_option
def prepare(
    input_path: str, out_dir: Path, prompt_version: str | None, prompts_dir: Path | None, model: str | None, base_url: str | None,
    endpoint_kind: str, embeddings_model: str | None, embeddings_base_url: str | None, fmt: str | None, constrain: str,
    max_requests: int, max_bytes: int, cache_dir: Path | None,
) -> None:
    """Write the requests of DUMP that the cache has no answer for as Batch-API request files.

    They are exactly what `summariser run` with the same options would send, each once; papers
    whose requests are in batches not yet collected are left out. Nothing is sent."""
    from ..flow.batch.prepare import prepare as prepare_files
    from ..flow.batch.state import state_folder
    from ..flow.progress import progress, report_input

    dump, run, settings = _open(input_path, fmt, prompt_version, prompts_dir, (base_url, model, constrain, endpoint_kind),
                                (embeddings_model, embeddings_base_url), cache_dir)
    report_input(dump, input_path)
    assert run.cache is not None
    try:
        papers = progress(dump.papers, len(dump.papers), "rendering")
        manifest = _guarded(lambda: prepare_files(papers, run, settings, out_dir, state_folder(run.cache.directory), max_requests, max_bytes))
    finally:
        run.cache.close()
    size = sum(f.bytes for f in manifest.files)
    _say(f"{out_dir}: {len(manifest.files)} request file(s), {manifest.requests} requests, {size / 1e6:.1f} MB")
    for f in manifest.files:
        _say(f"  {f.name}  {f.requests} requests  {f.bytes / 1e6:.1f} MB")
    _say(f"{manifest.papers} papers: {manifest.requests} to send, {manifest.cached} already in the cache, "
         f"{manifest.pending} in batches not collected yet, {manifest.duplicates} duplicate requests")
    if manifest.files:
        _say("next: " + shlex.join(["summariser", "batch", "submit", str(out_dir), *_cache_args(cache_dir)]))


@batch.command()
@folder_argument
@cache_dir_option
def submit(folder: Path, cache_dir: Path | None) -> None:
    """Upload each request file of DIR and create its batch (OPENAI_API_KEY; the endpoint given
    to prepare). A file already submitted is never submitted again: run it again after a kill."""
    from ..flow.batch.state import state_folder
    from ..flow.batch.submit import submit as submit_files

    _guarded(lambda: submit_files(folder, state_folder(open_cache(cache_dir).directory), _say))
    _say("next: " + shlex.join(["summariser", "batch", "status", *_cache_args(cache_dir)]))


@batch.command()
@cache_dir_option
def status(cache_dir: Path | None) -> None:
    """One line per batch: id, status, request counts, request file, collected or not."""
    from ..flow.batch.state import state_folder
    from ..flow.batch.submit import status as batch_status

    _guarded(lambda: batch_status(state_folder(open_cache(cache_dir).directory), _say))


@batch.command()
@cache_dir_option
def collect(cache_dir: Path | None) -> None:
    """Take the answers of every ended batch into the cache, validated as `run` validates them.

    What fails validation or errored is listed and left for `summariser run`, which asks those
    papers again; for an expired or failed batch, the commands to send what it lost again."""
    from ..flow.batch.gather import collect as collect_batches
    from ..flow.batch.state import state_folder

    cache = open_cache(cache_dir)
    try:
        _guarded(lambda: collect_batches(state_folder(cache.directory), cache, _say, _cache_args(cache_dir)))
    finally:
        cache.close()


def _guarded(step: Callable[[], Any]) -> Any:
    """step(), a SummariserError or OSError ending the command in one line (status 2)."""
    from ..base.errors import SummariserError

    try:
        return step()
    except SummariserError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(os_message(exc))


@batch.command("import")
@click.argument("results", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--input", "input_path", required=True, metavar="DUMP", help="The dump the requests were prepared from.")
@click.option("--prompt", "prompt_version", help=prompt_option_help)
@endpoint_options
@format_option
@constrain_option
@cache_dir_option
def import_command(
    results: Path, input_path: str, prompt_version: str | None, prompts_dir: Path | None, model: str | None, base_url: str | None,
    endpoint_kind: str, embeddings_model: str | None, embeddings_base_url: str | None, fmt: str | None, constrain: str, cache_dir: Path | None,
) -> None:
    """Take a results file made elsewhere (vLLM's run_batch output) into the cache, validated as
    `run` validates answers; give the dump and the options the requests were prepared with."""
    from ..flow.batch.collect import import_results
    from ..flow.batch.runs import table_command

    dump, run, settings = _open(input_path, fmt, prompt_version, prompts_dir, (base_url, model, constrain, endpoint_kind),
                                (embeddings_model, embeddings_base_url), cache_dir)
    assert run.cache is not None
    try:
        with open(results, "rb") as lines:
            imported = _guarded(lambda: import_results(lines, dump.papers, run, str(results)))
    finally:
        run.cache.close()
    head, *reasons = imported.outcome.summary()
    _say(f"{results}: {head}")
    for reason in reasons:
        _say(reason)
    if imported.missing:
        _say(f"{imported.missing} papers of {input_path} still have no answer: `summariser run` asks them one by one")
    _say("the table, from the cache: " + table_command(settings, _cache_args(cache_dir)))
