"""The VersionRun a batch renders requests with and validates answers with: made as `run` makes
it, for prepare and import from the command's options, for collect from the settings recorded
at prepare time."""

from __future__ import annotations

import shlex
from pathlib import Path

from ...prompting.store import load_prompt
from ...prompting.version import PromptVersion
from ...transport.client import ModelClient
from ..cache import ResponseCache
from ..calls import VersionRun
from ..pipeline import version_index
from .models import BatchError, Settings


def check_batchable(prompt: PromptVersion, client: ModelClient) -> None:
    """Refuse what a batch cannot do: the embedded model (it has no Batch API; `run` it), and
    versions whose labels need more than one answer per paper (embeddings for their votes, or
    learning from labelled papers first)."""
    if client.embedded:
        raise BatchError(
            "batches go to an endpoint: give --base-url (or OPENAI_API_KEY) and --model as `summariser run` will get them "
            "(nothing is sent when preparing)"
        )
    retrieval = prompt.retrieval
    if retrieval is not None and (retrieval.embeds or retrieval.learns):
        why = "learns from its labelled papers first" if retrieval.learns else "votes with embeddings of every paper"
        raise BatchError(f"prompt version {prompt.version} {why}, which batches do not do: use `summariser run`, or --prompt fewshot-v4 / chat-v1")


def version_run(prompt: PromptVersion, client: ModelClient, cache: ResponseCache) -> VersionRun:
    """The VersionRun `run` would make for this version, client and cache."""
    check_batchable(prompt, client)
    return VersionRun.make(prompt, client, cache, version_index(prompt, cache))


def settings_for(
    dump: str, fmt: str | None, asked: str, prompts_dir: Path | None, prompt: PromptVersion, client: ModelClient, base_url: str | None
) -> Settings:
    """What to record of a prepare's options (base_url: as resolved, None for OpenAI)."""
    return Settings(
        dump=str(Path(dump).resolve()), format=fmt, prompt=str(Path(asked).resolve()) if asked.endswith(".toml") else asked,
        prompts_dir=str(prompts_dir.resolve()) if prompts_dir else None, prompt_version=prompt.version, prompt_sha256=prompt.sha256,
        model=client.model, base_url=base_url, constrain=client.constrain, endpoint_kind=client.kind, endpoint="",
    )


def recorded_run(settings: Settings, cache: ResponseCache) -> VersionRun:
    """The VersionRun of recorded settings, to validate their requests' answers; BatchError if
    the prompt version changed since (its answers would be judged by other rules)."""
    prompt = load_prompt(settings.prompt, Path(settings.prompts_dir) if settings.prompts_dir else None)
    if prompt.sha256 != settings.prompt_sha256:
        raise BatchError(
            f"prompt version {settings.prompt_version} changed since its requests were prepared "
            f"(hash {settings.prompt_sha256[:12]}, now {prompt.sha256[:12]}): its answers cannot be validated"
        )
    client = ModelClient(model=settings.model, constrain=settings.constrain, kind=settings.endpoint_kind)  # type: ignore[arg-type]
    return version_run(prompt, client, cache)


def endpoint_args(settings: Settings) -> list[str]:
    """The options that render the same requests again."""
    args = ["--prompt", settings.prompt, "--model", settings.model, "--endpoint-kind", settings.endpoint_kind, "--constrain", settings.constrain]
    if settings.prompts_dir:
        args += ["--prompts-dir", settings.prompts_dir]
    if settings.base_url:
        args += ["--base-url", settings.base_url]
    if settings.format:
        args += ["--format", settings.format]
    return args


def resubmit_command(settings: Settings, folder: Path, cache_args: list[str]) -> str:
    """The commands that send again what the cache still lacks of a dump."""
    prepare = ["summariser", "batch", "prepare", settings.dump, *endpoint_args(settings), *cache_args, "-o", str(folder)]
    submit = ["summariser", "batch", "submit", str(folder), *cache_args]
    return f"{shlex.join(prepare)} && {shlex.join(submit)}"


def table_command(settings: Settings, cache_args: list[str]) -> str:
    """The `summariser run` that writes the table of a dump from the cache (asking again what is
    not in it)."""
    return shlex.join(["summariser", "run", settings.dump, *endpoint_args(settings), *cache_args, "-o", "OUT.jsonl"])
