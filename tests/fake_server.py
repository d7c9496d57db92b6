"""A scripted OpenAI-compatible server on loopback, for tests that need failures a model can't give:
error statuses, slow or hung answers, dropped connections, cut-short and non-JSON bodies."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Self
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """One scripted reply: an HTTP status with a body, or a completion text."""

    status: int = 200
    text: str | None = None  # completion text (200 only)
    headers: dict[str, str] = field(default_factory=dict)
    body: dict | None = None  # raw JSON body for errors
    delay: float = 0.0  # seconds to wait before answering (other requests are served meanwhile)
    raw: bytes | None = None  # exact body bytes (e.g. not JSON), instead of body/text
    drop: bool = False  # close the connection without answering
    truncate: bool = False  # announce the whole body's length, send half of it, close


def completion_body(text: str, chat: bool = False) -> dict:
    choice = {"index": 0, "finish_reason": "stop"}
    if chat:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    return {
        "id": "x",
        "object": "chat.completion" if chat else "text_completion",
        "created": 0,
        "model": "fake",
        "choices": [choice],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def completion_with_alternatives(pieces: list[str], tops: dict[int, dict[str, float]]) -> dict:
    """A completions answer spelled by these tokens, each with its log-probability, and at the
    places in `tops` the most likely tokens with theirs (as `logprobs = N` lists them)."""
    listed = [tops.get(i) for i in range(len(pieces))]
    logprobs = {
        "tokens": pieces,
        "text_offset": [sum(len(p) for p in pieces[:i]) for i in range(len(pieces))],
        "token_logprobs": [(top or {}).get(p, 0.0) for p, top in zip(pieces, listed)],
        "top_logprobs": listed,
    }
    return {"choices": [{"index": 0, "text": "".join(pieces), "logprobs": logprobs}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}


class Loopback:
    """A server on a free loopback port, served from a daemon thread inside a `with` block."""

    def _listen(self, httpd: ThreadingHTTPServer) -> None:
        self._httpd = httpd
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class FakeServer(Loopback):
    """Serves replies in order (the last one repeats), or asks responder(body) for each;
    records each request's JSON body."""

    def __init__(self, replies: list[Reply] | None = None, responder: "Callable[[dict], Reply] | None" = None) -> None:
        self.replies = list(replies or [])
        self.responder = responder
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.arrivals: list[tuple[float, int]] = []  # (time.monotonic() on arrival, status answered)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                    if server.responder is not None:
                        reply = server.responder(body)
                    else:
                        reply = server.replies.pop(0) if len(server.replies) > 1 else server.replies[0]
                    server.arrivals.append((time.monotonic(), reply.status))
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    return
                if reply.raw is not None:
                    data = reply.raw
                else:
                    payload = reply.body if reply.body is not None else completion_body(reply.text or "", "messages" in body)
                    data = json.dumps(payload).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if reply.truncate:
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            # Room for every connection a test opens at once: with the default backlog of 5, a burst
            # of 64 loses SYNs, and the kernel sends them again a second later, long after the
            # client decided to send (a request seemingly ignoring a rate-limit pause, say).
            request_queue_size = 256

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that gave up on a hung answer: expected here, not worth a traceback

        lock = threading.Lock()
        self._listen(Server(("127.0.0.1", 0), Handler))


def paper_number(body: dict) -> int:
    """N in a request about the test paper titled "Paper number N"."""
    text = body.get("prompt") or body["messages"][-1]["content"]
    return int(text.rsplit("Paper number ", 1)[1].split("\n", 1)[0])
