"""Which prompt version fits an endpoint: the recommended one by default, and a refusal before any
call when a version needs what the endpoint (or this machine) cannot give."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..base.errors import PromptError
from ..base.versions import DEFAULT_VERSION
from ..prompting.store import available_versions, load_prompt, packaged_dir
from ..prompting.version import PromptVersion, requirements
from ..transport.client import EndpointKind, ModelClient
from ..transport.embeddings import EndpointEmbedder


def default_versions() -> dict[EndpointKind, str]:
    """Each endpoint kind's recommended version ([meta] recommended_for), in one pass over the
    packaged versions. Only they count: a copy of one in a user's folder, its [meta] kept, must
    not become a default."""
    packaged = packaged_dir()
    defaults: dict[EndpointKind, str] = {}
    for name in available_versions(packaged):
        for kind in load_prompt(name, packaged).meta.recommended_for:
            defaults.setdefault(kind, name)
    return defaults


def default_version(kind: EndpointKind) -> str:
    """The version recommended for this kind of endpoint, else DEFAULT_VERSION."""
    return default_versions().get(kind, DEFAULT_VERSION)


def check_fits(prompt: PromptVersion, client: ModelClient, endpoint_embeddings: bool = False) -> None:
    """Raise PromptError, in one line saying what is missing and which version to use instead,
    when the version needs what the endpoint or this machine lacks (endpoint_embeddings: the
    votes' embeddings come from an endpoint's /v1/embeddings, not the embedded model)."""
    needs = requirements(prompt)
    missing = None
    if client.kind == "chat" and prompt.api == "completion":
        missing = "/v1/completions, which a chat endpoint does not serve (--endpoint-kind completion if this one does)"
    elif "local-embeddings" in needs and not (client.embedded or endpoint_embeddings) and importlib.util.find_spec("llama_cpp") is None:
        missing = (
            "embeddings for its classifier: name an embedding model your endpoint serves (--embeddings-model), "
            "or pip install 'summariser[embedded]'"
        )
    if missing:
        instead = default_version(client.kind)
        raise PromptError(f"prompt version {prompt.version} needs {missing}; use --prompt {instead}, recommended for {client.kind} endpoints")


def choose_version(
    client: ModelClient, name: str | None, directory: Path | None = None, embedder: EndpointEmbedder | None = None
) -> PromptVersion:
    """The version asked for, or the one recommended for the endpoint, hashed with the embeddings
    its votes will use; refused up front if it needs what the endpoint cannot give."""
    name = name or default_version(client.kind)
    prompt = load_prompt(name, directory, embedder.hash_identity() if embedder else None)
    check_fits(prompt, client, endpoint_embeddings=embedder is not None)
    return prompt


def own_labels(prompt: PromptVersion, asked: str | None, directory: Path | None = None) -> Path | None:
    """The labelled file a learning version learns from (None for other versions). asked: the
    name or path the user gave for it."""
    from ..prompting.store import resolve_path

    if not prompt.learns:
        return None
    path = resolve_path(asked or prompt.version, directory).parent / prompt.retrieval.pool
    return path if path.is_file() else None
