"""The label page's HTTP server: the static page and a small JSON API over a Session, on
127.0.0.1 only.

GET  /                      the page (page.html, page.js, page.css)
GET  /api/setup             Setup: version, annotator, mode, fields
GET  /api/next?tab=T        NextReply: the paper tab T shows
GET  /api/suggestion?id=P   SuggestionReply: the classifier's view of paper P
POST /api/answer            AnswerIn -> NextReply
POST /api/skip              SkipIn -> NextReply
POST /api/undo              TabIn -> NextReply
POST /api/heartbeat         HeartbeatIn -> HeartbeatReply
POST /api/release           TabIn: the tab is closing

A request whose Host is not this server's loopback address is refused (a web page elsewhere
cannot reach the API through DNS rebinding), and a POST must be JSON (so a cross-site form
cannot send one without the browser asking first, which this server never allows).
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ValidationError

from .models import AnswerIn, HeartbeatIn, SkipIn, TabIn
from .session import Session

HOST = "127.0.0.1"
STATIC = {"/": ("page.html", "text/html; charset=utf-8"), "/page.js": ("page.js", "text/javascript; charset=utf-8"),
          "/page.css": ("page.css", "text/css; charset=utf-8")}


class LabelServer(ThreadingHTTPServer):
    """Serves one session on 127.0.0.1:port (0: a free port). Raises OSError if the port is taken."""

    daemon_threads = True

    def __init__(self, session: Session, port: int = 0) -> None:
        self.session = session
        self.files = {path: (resources.files(__package__).joinpath(name).read_bytes(), kind) for path, (name, kind) in STATIC.items()}
        super().__init__((HOST, port), Handler)
        self.port = self.server_address[1]
        self.hosts = {f"{HOST}:{self.port}", f"localhost:{self.port}"}

    @property
    def url(self) -> str:
        """Where the page is."""
        return f"http://{HOST}:{self.port}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):  # a tab closed mid-reply is no news
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """One request: a static file or an API call."""

    server: LabelServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        if not self._host_ok():
            return
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        session = self.server.session
        if url.path in self.server.files:
            body, kind = self.server.files[url.path]
            self._send(200, body, kind)
        elif url.path == "/api/setup":
            self._call(lambda: session.setup())
        elif url.path == "/api/next":
            self._call(lambda: session.next(TabIn(tab=query.get("tab", "")).tab))
        elif url.path == "/api/suggestion":
            self._call(lambda: session.suggestion(query.get("id", "")))
        else:
            self._error(404, f"no such page: {url.path}")

    def do_POST(self) -> None:  # noqa: N802
        length = self.headers.get("content-length", "0")
        raw = self.rfile.read(int(length) if length.isdigit() else 0)  # read in any case: the connection is reused
        if not self._host_ok():
            return
        if self.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            self._error(415, "send JSON (content-type: application/json)")
            return
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "the body is not JSON")
            return
        session = self.server.session
        routes: dict[str, Callable[[], BaseModel | None]] = {
            "/api/answer": lambda: session.answer(AnswerIn.model_validate(data)),
            "/api/skip": lambda: session.skip(SkipIn.model_validate(data)),
            "/api/undo": lambda: session.undo(TabIn.model_validate(data).tab),
            "/api/heartbeat": lambda: session.heartbeat(HeartbeatIn.model_validate(data)),
            "/api/release": lambda: session.release(TabIn.model_validate(data).tab),
        }
        route = routes.get(urlsplit(self.path).path)
        if route is None:
            self._error(404, f"no such call: {self.path}")
        else:
            self._call(route)

    def _call(self, make: Callable[[], BaseModel | None]) -> None:
        try:
            result = make()
        except ValidationError as exc:
            first = exc.errors()[0]
            self._error(400, f"{'.'.join(str(p) for p in first['loc']) or 'body'}: {first['msg']}")
            return
        except ValueError as exc:
            self._error(400, str(exc))
            return
        except OSError as exc:  # the labelled file could not be written (a full disk): the page says so
            self._error(500, f"not saved: {exc.filename or 'the labelled file'}: {exc.strerror or exc}")
            return
        body = result.model_dump_json().encode() if result is not None else b"{}"
        self._send(200, body, "application/json")

    def _host_ok(self) -> bool:
        if self.headers.get("host", "") in self.server.hosts:
            return True
        self._error(403, "this page answers on 127.0.0.1 only")
        return False

    def _error(self, status: int, message: str) -> None:
        self._send(status, json.dumps({"error": message}).encode(), "application/json")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "no-store")
        self.send_header("x-content-type-options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # one line per keystroke would bury what matters on stderr
