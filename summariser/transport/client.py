"""The model client: one request in, the model's text and token usage out, through the openai client."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence

from ..base import engine_api
from ..base.errors import FatalModelError, MalformedResponse, RequestError
from ..base.types import Completion
from ..base.versions import DEFAULT_TIMEOUT, EMBEDDED_MODEL
from .endpoints import EndpointSet, Health
from .logprobs import completion_from_json, one_line, vectors_from_json
from .retry import Breaker, RateGate, RetryPolicy, call_with_retries

if TYPE_CHECKING:
    import openai

    from ..prompting.render import Request

__all__ = ["DEFAULT_TIMEOUT", "ModelClient", "connect"]
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
MAX_CONNECTIONS = 256  # the largest --concurrency
Constrain = Literal["llama", "schema", "mixed", "none"]
# What an endpoint serves: the embedded model; a server of /v1/completions (a base model on
# llama.cpp or vLLM); a chat model (OpenAI, an instruction-tuned model on vLLM or Ollama).
EndpointKind = Literal["embedded", "completion", "chat"]


class ModelClient:
    """Sends requests to an OpenAI-compatible endpoint, the embedded model included.

    base_url may be a callable so the embedded server starts only when the first call needs it:
    a fully cached run never starts it. Several URLs (endpoints serving the same model) make an
    EndpointSet that spreads the requests (endpoints.py; health: when one is taken out); say is
    told at close() what each of them did.
    """

    def __init__(
        self,
        model: str,
        base_url: str | Sequence[str] | Callable[[], str] | None = None,
        api_key: str | None = None,
        constrain: Constrain = "none",
        timeout: float = DEFAULT_TIMEOUT,
        on_close: Callable[[], None] | None = None,
        embedded: bool = False,
        gate: RateGate | None = None,
        breaker: Breaker | None = None,
        policy: RetryPolicy = RetryPolicy(),
        slots: int | None = None,
        kind: EndpointKind | None = None,
        health: Health | None = None,
        endpoint_state: Any = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.model = model
        self.embedded = embedded
        self.kind: EndpointKind = kind or ("embedded" if embedded else "completion")
        self.slots = slots  # requests the endpoint decodes together, where known (the embedded model)
        self.policy = policy
        self.constrain = constrain
        self.endpoints: EndpointSet | None = None
        if base_url is not None and not isinstance(base_url, str) and not callable(base_url):
            urls = list(dict.fromkeys(base_url))
            if len(urls) > 1:  # endpoint_state: the set's shared state, in a worker process
                self.endpoints = EndpointSet(urls, health, endpoint_state)
            base_url = urls[0] if urls else None
        self._base_url = base_url
        self._at: "list[openai.OpenAI] | None" = None  # a client per endpoint of the set
        self._say = say
        self._key = api_key
        self._secret = api_key if api_key and len(api_key) >= 8 else None  # what must never be shown
        self.timeout = timeout
        self._on_close = on_close
        self._client: "openai.OpenAI | None" = None
        self._lock = threading.Lock()
        self._gate = gate or RateGate()
        self.breaker = breaker or Breaker()  # the endpoint's health, seen over all the papers sent

    def _openai(self) -> "openai.OpenAI":
        import httpx2
        import openai

        with self._lock:
            if self._client is None:
                url = self._base_url() if callable(self._base_url) else self._base_url
                # Keep a connection alive per worker (up to --concurrency's maximum): opening
                # connections again would cost more than the calls themselves.
                limits = httpx2.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
                # Retries are ours (tenacity), so the openai client's own are off.
                self._client = openai.OpenAI(
                    base_url=url,
                    api_key=self._key or "not-needed",  # the openai client insists on one
                    max_retries=0,
                    timeout=self.timeout,
                    http_client=openai.DefaultHttpxClient(limits=limits),
                )
            return self._client

    def _openai_at(self, index: int) -> "openai.OpenAI":
        """The client of the set's endpoint `index`: the first one's, with another base URL
        (with_options shares its connection pool)."""
        assert self.endpoints is not None
        if self._at is None:
            first = self._openai()
            with self._lock:
                if self._at is None:
                    self._at = [first] + [first.with_options(base_url=url) for url in self.endpoints.urls[1:]]
        return self._at[index]

    def settings(self) -> dict[str, Any]:
        """What it takes to build the same client in another process (remote endpoints only),
        sharing this one's rate-limit gate and following its breaker (and sharing the state of its
        endpoint set, if it has several endpoints)."""
        if callable(self._base_url) or self._on_close is not None:
            raise ValueError("the embedded model's client cannot be rebuilt in another process")
        settings = dict(
            model=self.model,
            base_url=self._base_url,
            api_key=self._key,
            constrain=self.constrain,
            timeout=self.timeout,
            gate=self._gate.share(),
            breaker=self.breaker.share(),
            policy=self.policy,
            kind=self.kind,
        )
        if self.endpoints is not None:
            settings.update(base_url=list(self.endpoints.urls), health=self.endpoints.health, endpoint_state=self.endpoints.share())
        return settings

    def call(self, request: "Request") -> Completion:
        """Send one request, retrying transient failures; raise RequestError or FatalModelError.

        Neither the answer nor an error message ever holds the API key, even from a server that
        echoes it back: it would end up in the output, the cache or the terminal."""
        import openai

        tries = 0

        def send(index: int | None = None) -> Completion:
            nonlocal tries
            tries += 1
            return self._send(request, index)

        try:
            if self.endpoints is not None:
                return self.endpoints.call(send, self.policy, give_up=self.breaker.is_open)
            return call_with_retries(send, self.policy, gate=self._gate, give_up=self.breaker.is_open)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise FatalModelError(f"the endpoint refused the API key (HTTP {exc.status_code}); check OPENAI_API_KEY") from None
        except openai.NotFoundError:
            what = "/v1/completions" if request.api == "completion" else "/v1/chat/completions"
            raise FatalModelError(
                f"the endpoint has no model {request.model!r} or does not serve {what} "
                f"(prompt {request.prompt_version} uses the {request.api} API"
                + ("; for chat models use a chat prompt version such as chat-v1)" if request.api == "completion" else ")")
            ) from None
        except openai.APIStatusError as exc:
            message = exc.message.removeprefix(f"Error code: {exc.status_code} - ")
            raise RequestError(f"HTTP {exc.status_code}: {one_line(self._redact(message))}", tries) from None
        except openai.APIError as exc:
            raise RequestError(f"{type(exc).__name__}: {one_line(self._redact(str(exc)))}", tries) from None
        except MalformedResponse as exc:
            raise RequestError(str(exc), tries) from None

    def embeddings(self, texts: list[str], model: str) -> list[list[float]]:
        """One vector per text from the endpoint's /v1/embeddings, retried as calls are; raises
        RequestError or FatalModelError."""
        import httpx2
        import openai

        def send(index: int | None = None) -> list[list[float]]:
            client = self._openai() if index is None else self._openai_at(index)
            resp = client.post("/embeddings", body={"model": model, "input": texts}, cast_to=httpx2.Response)
            return vectors_from_json(resp.content.decode("utf-8", errors="replace"), len(texts))

        try:
            if self.endpoints is not None:
                return self.endpoints.call(send, self.policy)
            return call_with_retries(send, self.policy, gate=self._gate)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise FatalModelError(f"the embeddings endpoint refused the API key (HTTP {exc.status_code})") from None
        except openai.NotFoundError:
            raise FatalModelError(f"the endpoint has no embedding model {model!r} or does not serve /v1/embeddings") from None
        except (openai.APIError, MalformedResponse) as exc:
            raise FatalModelError(f"embeddings from {model!r} failed: {one_line(self._redact(str(exc)))}") from None

    def _send(self, request: "Request", index: int | None = None) -> Completion:
        import httpx2

        # client.post (the openai client's way to any endpoint) skips building typed request and
        # response objects, which cost more CPU than the rest of a call: it keeps the client's base
        # URL, auth, timeouts and error types, and the body is exactly what is sent.
        client = self._openai() if index is None else self._openai_at(index)
        path, body = request.endpoint_body()
        resp = client.post(path, body=body, cast_to=httpx2.Response)
        return completion_from_json(self._redact(resp.content.decode("utf-8", errors="replace")), request.api)

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "[API key]") if self._secret else text

    def close(self) -> None:
        """Release the connection and stop the embedded server if this client started one; with
        several endpoints, tell `say` what each did."""
        if self.endpoints is not None and self._say is not None and any(s.answered or s.failed or s.rate_limited for s in self.endpoints.stats()):
            say, self._say = self._say, None
            for line in self.endpoints.report():
                say(line)
        self._at = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._on_close:
            self._on_close()


def connect(
    base_url: str | Sequence[str] | None = None,
    api_key: str | None = None,
    model: str | None = None,
    constrain: Constrain | Literal["auto"] = "auto",
    timeout: float = DEFAULT_TIMEOUT,
    policy: RetryPolicy = RetryPolicy(),
    kind: Literal["auto", "completion", "chat"] = "auto",
    health: Health | None = None,
    say: Callable[[str], None] | None = None,
) -> ModelClient:
    """A client for the configured endpoint: arguments first, then OPENAI_BASE_URL / OPENAI_API_KEY /
    SUMMARISER_MODEL; with no endpoint and no key, the embedded model. kind "auto": OpenAI serves
    chat models, any other endpoint is taken to serve completions (a base model). Several URLs:
    endpoints serving the same model, used as one (ModelClient); say: told at close() what each did."""
    if base_url is not None and not isinstance(base_url, str):
        urls = list(dict.fromkeys(base_url))
        base_url = (urls[0] if len(urls) == 1 else tuple(urls)) if urls else None
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
    model = model or os.environ.get("SUMMARISER_MODEL") or None
    if base_url is None and api_key is None:
        if model not in (None, EMBEDDED_MODEL):
            raise FatalModelError(
                f"model {model!r} needs an endpoint (--base-url or OPENAI_API_KEY); "
                f"the embedded model is {EMBEDDED_MODEL}"
            )
        engine = engine_api.load_engine()
        return ModelClient(
            model=model or engine.model,
            base_url=engine.base_url,
            constrain="llama" if constrain == "auto" else constrain,
            on_close=engine.close,
            embedded=True,
            timeout=timeout,
            slots=engine.slots,
            policy=policy,
        )
    if model is None:
        if base_url is not None:
            raise FatalModelError("name the endpoint's model with --model or SUMMARISER_MODEL")
        model = OPENAI_DEFAULT_MODEL
    if constrain == "auto":
        # OpenAI rejects unknown request fields, so it gets only what it documents; other servers
        # get a grammar too, which llama.cpp servers enforce and others ignore.
        constrain = "schema" if _openai_hosted(base_url) else "mixed"
    chosen: EndpointKind = kind if kind != "auto" else ("chat" if _openai_hosted(base_url) else "completion")
    return ModelClient(
        model=model, base_url=base_url, api_key=api_key, constrain=constrain, timeout=timeout, policy=policy, kind=chosen, health=health, say=say
    )


def _openai_hosted(base_url: str | Sequence[str] | None) -> bool:
    """OpenAI itself (no URL, or one of api.openai.com)."""
    urls = [base_url] if isinstance(base_url, str) else list(base_url or [])
    return base_url is None or any("api.openai.com" in url for url in urls)
