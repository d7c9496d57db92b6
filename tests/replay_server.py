"""An OpenAI-compatible server on loopback that answers from recorded cassettes: each request gets
the response recorded for the same method, path and body (as the tests' recorder matches them).

For a session without the test machinery, such as CI's check of an installed wheel:
    python tests/replay_server.py PORT CASSETTE.yaml [...]   (serves until killed; prints "ready")
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import yaml


def load(paths: list[Path]) -> dict[tuple[str, str, str], tuple[int, bytes]]:
    """(method, path, body) -> (status, body) of every recorded exchange."""
    table = {}
    for path in paths:
        for item in yaml.safe_load(path.read_text())["interactions"]:
            request, response = item["request"], item["response"]
            body = request["body"] or ""
            table[(request["method"], urlsplit(request["uri"]).path, _canonical(body))] = (
                response["status"]["code"], response["body"]["string"].encode() if isinstance(response["body"]["string"], str) else response["body"]["string"],
            )
    return table


def _canonical(body: str | bytes) -> str:
    text = body.decode() if isinstance(body, bytes) else body
    try:
        return json.dumps(json.loads(text), sort_keys=True)
    except ValueError:
        return text


def serve(port: int, table: dict[tuple[str, str, str], tuple[int, bytes]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (readiness probes)
            self._answer(200, b'{"object": "list", "data": []}')

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            found = table.get(("POST", self.path, _canonical(body)))
            if found is None:
                self._answer(400, json.dumps({"error": {"message": f"no recording of this request to {self.path}"}}).encode())
            else:
                self._answer(*found)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


if __name__ == "__main__":
    server = serve(int(sys.argv[1]), load([Path(p) for p in sys.argv[2:]]))
    print("ready", flush=True)
    server.serve_forever()
