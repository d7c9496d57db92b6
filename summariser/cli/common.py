"""What the commands share: options, failing with a one-line message, opening the cache.

The commands import what they run inside their bodies, so `summariser --help` (and any command's)
loads click and these options only: no pydantic models, no openai SDK, no numpy."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Sequence

import click

from ..base.versions import DEFAULT_TIMEOUT, DEFAULT_VERSION, EMBEDDED_SLOTS
from ..flow.storage import default_cache_dir

if TYPE_CHECKING:
    from ..flow.cache import ResponseCache
    from ..transport.client import ModelClient
    from ..transport.embeddings import EndpointEmbedder

EXIT_OK, EXIT_ROW_ERRORS, EXIT_USAGE = 0, 1, 2
DEFAULT_REMOTE_CONCURRENCY = 8

model_option = click.option("--model", envvar="SUMMARISER_MODEL", help="Model name at the endpoint [env SUMMARISER_MODEL].")


def _url(value: str, where: str) -> str:
    """An endpoint URL as given, or a one-line failure naming where it came from."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        fail(f"{where}: {value!r} is not an endpoint URL (such as http://localhost:8000/v1)")
    return value


def _urls_in_file(path: str) -> list[str]:
    """The URLs of an @file: one a line; blank lines and # comments are passed over."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        fail(f"--base-url @{path}: {exc.strerror}")
    urls = [_url(text, f"{path}:{number}") for number, line in enumerate(lines, 1) if (text := line.split("#", 1)[0].strip())]
    if not urls:
        fail(f"--base-url @{path}: no endpoint URL in the file")
    return urls


def base_urls(ctx: click.Context | None, param: click.Parameter | None, values: Sequence[str]) -> str | tuple[str, ...] | None:
    """--base-url, repeated or @FILE: None, one URL (a run exactly as with one endpoint), or
    several, in order, without repeats; a bad URL fails in one line (exit status 2)."""
    urls: list[str] = []
    for value in values:
        if value.startswith("@"):
            urls += _urls_in_file(value[1:])
        elif value:
            urls.append(_url(value, "--base-url"))
    urls = list(dict.fromkeys(urls))
    if not urls:
        return None
    return urls[0] if len(urls) == 1 else tuple(urls)


base_url_option = click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    multiple=True,
    callback=base_urls,
    metavar="URL",
    help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 [env OPENAI_BASE_URL]. "
    "With neither this nor OPENAI_API_KEY, the embedded model is used. Repeat it, or give @FILE "
    "(one URL a line, # comments), to spread the requests over several endpoints serving the same model.",
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
endpoint_kind_option = click.option(
    "--endpoint-kind",
    type=click.Choice(["auto", "completion", "chat"]),
    default="auto",
    envvar="SUMMARISER_ENDPOINT_KIND",
    show_default=True,
    help="What the endpoint serves: 'completion' (/v1/completions, a base model) or 'chat' (a chat model). "
    "auto: chat for OpenAI, completion for other endpoints. It picks the default prompt version [env SUMMARISER_ENDPOINT_KIND].",
)
embeddings_model_option = click.option(
    "--embeddings-model",
    envvar="SUMMARISER_EMBEDDINGS_MODEL",
    help="An embedding model the endpoint (or --embeddings-base-url) serves at /v1/embeddings, for the votes of "
    "versions whose classifier needs embeddings; without it they come from the embedded model on this machine "
    "[env SUMMARISER_EMBEDDINGS_MODEL].",
)
embeddings_base_url_option = click.option(
    "--embeddings-base-url",
    envvar="SUMMARISER_EMBEDDINGS_BASE_URL",
    help="Another OpenAI-compatible endpoint for --embeddings-model (OPENAI_API_KEY is sent to it) "
    "[env SUMMARISER_EMBEDDINGS_BASE_URL].",
)
prompt_option_help = (
    "Prompt version name, or a path to a prompt .toml file. Default: the version recommended for the endpoint "
    f"(`summariser prompts list`: {DEFAULT_VERSION} on the embedded model)."
)
prompts_dir_option = click.option(
    "--prompts-dir",
    envvar="SUMMARISER_PROMPTS_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of your own prompt versions, besides the packaged ones [env SUMMARISER_PROMPTS_DIR; "
    "default: ./prompts when there is one, as `summariser init` makes].",
)
def endpoint_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that choose the endpoint and where its classifier embeddings come from, shared
    by run and eval: --prompts-dir, --model, --base-url, --endpoint-kind, --embeddings-model and
    --embeddings-base-url."""
    for option in reversed((prompts_dir_option, model_option, base_url_option, endpoint_kind_option,
                            embeddings_model_option, embeddings_base_url_option)):
        command = option(command)
    return command


concurrency_help = (
    f"Requests in flight. Default: {EMBEDDED_SLOTS} on the embedded model (decoded together), "
    f"{DEFAULT_REMOTE_CONCURRENCY} on an endpoint."
)


def fail(message: str) -> NoReturn:
    """Say what is wrong on one line and exit with the usage status (2)."""
    click.echo(f"summariser: {message}", err=True)
    sys.exit(EXIT_USAGE)


def os_message(exc: OSError) -> str:
    """An OSError as "file: reason"."""
    return f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)


def open_cache(cache_dir: Path | None) -> "ResponseCache":
    """The response cache, or a one-line failure."""
    from ..flow.cache import ResponseCache

    try:
        return ResponseCache(cache_dir)
    except OSError as exc:
        fail(f"cache folder {exc.filename}: {exc.strerror}")


def check_writable(path: Path | None) -> None:
    """Fail before a long eval, not after it, when a report cannot be written."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{exc.filename}: {exc.strerror}")
    if path.is_dir() or not os.access(path.parent, os.W_OK):
        fail(f"{path}: cannot write here")


def workers(concurrency: int | None, client: "ModelClient") -> int:
    """Requests in flight: as many as the embedded server decodes together, or the remote default."""
    return concurrency or client.slots or (EMBEDDED_SLOTS if client.embedded else DEFAULT_REMOTE_CONCURRENCY)


def embedder_for(client: "ModelClient", model: str | None, base_url: str | None) -> "EndpointEmbedder | None":
    """Embeddings through an endpoint's /v1/embeddings: the named embedding model's, or the
    embedded model's own server's; None leaves them to the embedded model on this machine."""
    from ..transport.embeddings import EndpointEmbedder

    if not model:
        if base_url:
            fail("--embeddings-base-url needs --embeddings-model: the embedding model to ask it for")
        return EndpointEmbedder(client, client.model) if client.embedded else None

    if base_url:
        return EndpointEmbedder(client_for(base_url, model, "none", client.timeout), model, owns_client=True)
    if client.embedded:
        fail("--embeddings-model names a model of an endpoint: give --base-url or --embeddings-base-url (the embedded model serves its own embeddings)")
    return EndpointEmbedder(client, model)


def client_for(base_url: str | Sequence[str] | None, model: str | None, constrain: str, timeout: float, kind: str = "auto") -> "ModelClient":
    """The endpoint's client. A program that embeds the CLI may pass a RetryPolicy as click's
    context object (main(obj=...)): the tests' fake endpoints answer without backoff waits."""
    from ..transport.client import connect
    from ..transport.retry import RetryPolicy

    ctx = click.get_current_context(silent=True)
    policy = (ctx.find_object(RetryPolicy) if ctx else None) or RetryPolicy()
    say = lambda line: click.echo(line, err=True)  # noqa: E731  (several endpoints: what each did, at the end)
    return connect(base_url=base_url, model=model, constrain=constrain, timeout=timeout, policy=policy, kind=kind, say=say)  # type: ignore[arg-type]
