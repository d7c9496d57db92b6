"""The embedded model's server process: llama-cpp-python's OpenAI-compatible server, with greedy
completions served by the batching engine (batching.py) and a faster grammar sampler
(sampling.py) for everything else, and /v1/embeddings answered with the embedded model's own
embeddings (embedder.py), pooled or from a middle layer.

Run as `python -m summariser.engine.app --model PATH --alias NAME --port N`; server.py does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any, Awaitable, Callable

import llama_cpp

from ..base.errors import EmbeddedModelError
from ..base.orphans import exit_with_parent
from .batching import BatchEngine
from .results import as_dict
from .sampling import LazyGrammarSampler

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# What llama-cpp-python's server assumes when a request leaves them out.
SERVER_DEFAULTS = {"max_tokens": 16, "temperature": 0.8, "repeat_penalty": 1.1}
MAX_LOGPROBS = 20  # alternatives listed per token, at most (OpenAI's completions allow 5)
# Options only llama-cpp-python's own path implements.
_UNBATCHED = ("stream", "echo", "logit_bias", "suffix", "best_of", "min_tokens")


class LazyGrammarLlama(llama_cpp.Llama):
    """llama_cpp.Llama using LazyGrammarSampler for greedy requests with a grammar."""

    def _init_sampler(self, **kwargs: Any) -> Any:  # type: ignore[override]
        greedy = kwargs.get("temp") == 0.0 and not kwargs.get("logits_processor")
        if kwargs.get("grammar") is None or not greedy:
            return super()._init_sampler(**kwargs)
        return LazyGrammarSampler(self._model.vocab, self._n_vocab, kwargs["grammar"], _penalties(kwargs), self.last_n_tokens_size)


def _penalties(options: dict[str, Any]) -> dict[str, float]:
    repeat = options.get("repeat_penalty")
    return {
        "repeat": float(SERVER_DEFAULTS["repeat_penalty"] if repeat is None else repeat),
        "frequency": float(options.get("frequency_penalty") or 0.0),
        "presence": float(options.get("presence_penalty") or 0.0),
    }


def batchable(body: dict[str, Any]) -> bool:
    """Whether the batching engine can serve a /v1/completions body exactly."""
    return (
        isinstance(body.get("prompt"), str)
        and body.get("temperature", SERVER_DEFAULTS["temperature"]) == 0
        and body.get("n", 1) == 1
        and isinstance(body.get("logprobs") or 0, int)
        and 0 <= (body.get("logprobs") or 0) <= MAX_LOGPROBS
        and not any(body.get(k) for k in _UNBATCHED)
    )


class Router:
    """ASGI app: greedy /v1/completions to the engine, every other request to llama-cpp-python."""

    def __init__(self, stock: Callable[[Scope, Receive, Send], Awaitable[None]], engine: BatchEngine, alias: str) -> None:
        from .embedder import Embedder

        self.stock = stock
        self.engine = engine
        self.alias = alias
        self.embedder = Embedder()  # /v1/embeddings; its models load on the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.responses import JSONResponse

        is_post = scope["type"] == "http" and scope["method"] == "POST"
        if is_post and scope["path"] == "/v1/embeddings":
            return await JSONResponse(*await self._embeddings(await _body(receive)))(scope, receive, send)
        if not is_post or scope["path"] != "/v1/completions":
            return await self.stock(scope, receive, send)
        raw = await _body(receive)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not batchable(body):
            sent = False

            async def replay() -> dict[str, Any]:
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}

            return await self.stock(scope, replay, send)
        try:
            stop = body.get("stop") or []
            stop = [stop] if isinstance(stop, str) else [str(x) for x in stop]
            grammar = llama_cpp.LlamaGrammar.from_string(body["grammar"], verbose=False) if body.get("grammar") else None
            max_tokens = body.get("max_tokens", SERVER_DEFAULTS["max_tokens"])
            future = self.engine.submit(
                body["prompt"], None if max_tokens is None else int(max_tokens), stop, grammar, _penalties(body), int(body.get("logprobs") or 0)
            )
        except (ValueError, TypeError) as exc:  # a bad request: say so, do not let the client retry it
            error = {"error": {"message": f"invalid request: {exc}", "type": "invalid_request_error"}}
            return await JSONResponse(error, status_code=400)(scope, receive, send)
        # Answer when the engine is done, or give up the job's place if the client goes away.
        waiter = asyncio.wrap_future(future)
        gone = asyncio.ensure_future(receive())
        await asyncio.wait({waiter, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            waiter.cancel()  # cancels the engine's future too
            return
        gone.cancel()
        await JSONResponse(as_dict(waiter.result(), self.alias))(scope, receive, send)


    async def _embeddings(self, raw: bytes) -> tuple[dict[str, Any], int]:
        """The embedded model's embeddings, as OpenAI's /v1/embeddings answers: model "<alias>"
        for the pooled final states, "<alias>:layers<N>" for the mean states after N layers,
        "<alias>:layers<N>:last" for them and the last token's."""
        try:
            body = json.loads(raw)
            texts = [body["input"]] if isinstance(body["input"], str) else [str(t) for t in body["input"]]
            name, _, layers = str(body["model"]).partition(":layers")
            layers, last = layers.removesuffix(":last"), layers.endswith(":last")
            if name != self.alias:
                return {"error": {"message": f"no embedding model {name!r} here (this server has {self.alias!r})"}}, 404
            vectors = await asyncio.to_thread(self.embedder.embed, texts, int(layers or 0), last)
        except (ValueError, KeyError, TypeError, EmbeddedModelError) as exc:
            return {"error": {"message": f"invalid request: {exc}", "type": "invalid_request_error"}}, 400
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        return {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 0, "total_tokens": 0}}, 200


async def _body(receive: Receive) -> bytes:
    raw = b""
    while True:
        message = await receive()
        raw += message.get("body", b"")
        if not message.get("more_body"):
            return raw


def main() -> None:
    """Start the server (blocks)."""
    parser = argparse.ArgumentParser(description="summariser's embedded model server")
    parser.add_argument("--model", required=True, help="GGUF file")
    parser.add_argument("--alias", required=True, help="Model name clients ask for")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--slots", type=int, default=4, help="Greedy completions decoded together")
    parser.add_argument("--n-ctx", type=int, default=4096, help="Tokens per request (prompt and answer)")
    parser.add_argument("--parent-pid", type=int, default=os.getppid(), help="Exit when this process is gone")
    args = parser.parse_args()
    exit_with_parent(args.parent_pid)  # an orphaned server would hold its memory for ever

    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    # The stock server builds its model as llama_cpp.Llama(...), looked up at load time.
    llama_cpp.Llama = LazyGrammarLlama  # type: ignore[misc]
    threads = dict(n_threads=args.threads, n_threads_batch=args.threads)
    stock = create_app(
        server_settings=ServerSettings(host=args.host, port=args.port),
        model_settings=[
            ModelSettings(model=args.model, model_alias=args.alias, n_ctx=args.n_ctx, logits_all=False, verbose=False, **threads)
        ],
    )
    # The engine's own context holds the sequences; this Llama lends it the weights and tokenizer.
    weights = LazyGrammarLlama(model_path=args.model, n_ctx=256, verbose=False, **threads)
    engine = BatchEngine(weights, slots=args.slots, tokens_per_slot=args.n_ctx, threads=args.threads)
    uvicorn.run(Router(stock, engine, args.alias), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
