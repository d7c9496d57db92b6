"""The lines of Batch-API files and what a prepared folder records, as pydantic models.

A request line is what the OpenAI Batch API and vLLM's run_batch read; an output line is what
they write (the error file of the OpenAI API has the same shape); a paper line maps a request's
custom_id (its cache key) back to the paper it was rendered from."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, model_validator

from ...base.errors import SummariserError
from ...records import Paper

# The Batch API's limits on one input file (OpenAI's API reference, batches.create).
MAX_REQUESTS = 50_000
MAX_BYTES = 200_000_000
MANIFEST = "manifest.json"


class BatchError(SummariserError):
    """A batch step cannot go on; the message says why and what to do."""


class RequestLine(BaseModel):
    """One request of a Batch-API input file: exactly the body `run` would send."""

    custom_id: str
    method: Literal["POST"] = "POST"
    url: str
    body: dict[str, Any]


class PaperLine(BaseModel):
    """Which paper a request (by custom_id) was rendered from, beside each request file."""

    custom_id: str
    paper: Paper


class ResponsePart(BaseModel):
    """The HTTP answer to one request of a batch."""

    status_code: int
    request_id: str | None = None
    body: Any = None


class ErrorPart(BaseModel):
    """Why a request of a batch got no HTTP answer."""

    code: str | None = None
    message: str | None = None


class OutputLine(BaseModel):
    """One line of a batch's output or error file (OpenAI's, or vLLM run_batch's)."""

    id: str | None = None
    custom_id: str
    response: ResponsePart | None = None
    error: ErrorPart | str | None = None  # vLLM's run_batch writes a message alone

    @model_validator(mode="before")
    @classmethod
    def _bare_body(cls, data: Any) -> Any:
        # Some servers write the completion itself as the response: read it as a 200.
        if isinstance(data, dict) and isinstance(data.get("response"), dict):
            response = data["response"]
            if "status_code" not in response and "choices" in response:
                return {**data, "response": {"status_code": 200, "body": response}}
        return data


class Settings(BaseModel):
    """What rendered a folder's requests, and where they go: enough to validate their answers
    later, and to prepare the same requests again."""

    dump: str
    format: str | None = None
    prompt: str  # as given: a version's name or a file's path
    prompts_dir: str | None = None
    prompt_version: str
    prompt_sha256: str
    model: str
    base_url: str | None = None  # None: OpenAI
    constrain: str
    endpoint_kind: str
    endpoint: str = ""  # "/v1/completions" or "/v1/chat/completions", from the first request written


class PreparedFile(BaseModel):
    """One request file of a prepared folder and the paper file beside it."""

    name: str
    papers: str
    requests: int
    bytes: int


class Manifest(BaseModel):
    """What `batch prepare` wrote into a folder (written last: a folder without one is incomplete)."""

    settings: Settings
    files: list[PreparedFile] = []
    papers: int = 0
    cached: int = 0  # papers the cache already answers
    pending: int = 0  # papers whose requests are in batches submitted and not yet collected
    duplicates: int = 0  # papers whose request another paper of the dump already makes

    @property
    def requests(self) -> int:
        return sum(f.requests for f in self.files)
