"""The Files and Batches API through the openai SDK: the client, a file's lines as they
download, finding the batch made from an upload."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

from ...transport.logprobs import one_line
from .models import BatchError

if TYPE_CHECKING:
    import openai
    from openai.types import Batch

OPENAI_URL = "https://api.openai.com/v1"
TIMEOUT = 600.0  # seconds: an upload of 200 MB takes a while
T = TypeVar("T")


def cached_client(clients: dict[str | None, "openai.OpenAI"], base_url: str | None) -> "openai.OpenAI":
    """The command's client of base_url, made on first use: one per endpoint, as each holds a
    connection pool."""
    if base_url not in clients:
        clients[base_url] = batch_client(base_url)
    return clients[base_url]


def batch_client(base_url: str | None) -> "openai.OpenAI":
    """A client of the endpoint the requests were prepared for (None: OpenAI), with
    OPENAI_API_KEY. Its own retries are off: a create retried after a lost answer could make a
    second batch; submit finds a batch it made instead (find_batch)."""
    import openai

    key = os.environ.get("OPENAI_API_KEY")
    if base_url is None and not key:
        raise BatchError("the Batch API of OpenAI needs OPENAI_API_KEY")
    return openai.OpenAI(base_url=base_url or OPENAI_URL, api_key=key or "not-needed", timeout=TIMEOUT, max_retries=0)


def api_call(what: str, call: Callable[[], T]) -> T:
    """call(), its API failure turned into a one-line BatchError saying what was being done
    (never showing the API key)."""
    import openai

    try:
        return call()
    except openai.APIStatusError as exc:
        raise BatchError(f"{what}: HTTP {exc.status_code}: {_redacted(exc.message)}") from None
    except openai.APIError as exc:
        raise BatchError(f"{what}: {type(exc).__name__}: {_redacted(str(exc))}") from None


def _redacted(text: str) -> str:
    key = os.environ.get("OPENAI_API_KEY")
    return one_line(text.replace(key, "[API key]") if key and len(key) >= 8 else text)


@contextmanager
def file_lines(client: "openai.OpenAI", file_id: str) -> Iterator[Iterator[str]]:
    """The lines of a file of the Files API as they download (client.files.content, streamed),
    so a file of any size costs one line of memory at a time."""
    import httpx2
    import openai

    try:
        with client.with_options(max_retries=2).files.with_streaming_response.content(file_id) as response:
            yield (line for line in response.iter_lines() if line.strip())
    except openai.APIStatusError as exc:
        raise BatchError(f"downloading file {file_id}: HTTP {exc.status_code}: {_redacted(exc.message)}") from None
    except (openai.APIError, httpx2.HTTPError) as exc:  # the connection lost in the middle of the file
        raise BatchError(f"downloading file {file_id}: {type(exc).__name__}: {_redacted(str(exc))}") from None


def find_batch(client: "openai.OpenAI", file_id: str, since: float) -> "Batch | None":
    """The batch made from this uploaded file, if one was (listing batches newest first, down to
    an hour before the upload)."""

    def search() -> "Batch | None":
        for batch in client.with_options(max_retries=2).batches.list(limit=100):
            if batch.input_file_id == file_id:
                return batch
            if batch.created_at < since - 3600:
                return None
        return None

    return api_call(f"listing batches to find the one made from {file_id}", search)


def retrieve(client: "openai.OpenAI", batch_id: str) -> "Batch":
    """A batch as the API sees it now."""
    return api_call(f"batch {batch_id}", lambda: client.with_options(max_retries=2).batches.retrieve(batch_id))


def counts(batch: "Batch") -> dict[str, Any]:
    """The batch's request counts (total, completed, failed), empty if it gives none."""
    return batch.request_counts.model_dump() if batch.request_counts is not None else {}
