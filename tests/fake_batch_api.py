"""A loopback fake of OpenAI's Files and Batches API (stdlib http.server), for `summariser batch`.

POST /v1/files (multipart), GET /v1/files/{id}/content, POST /v1/batches, GET /v1/batches/{id}
and GET /v1/batches (newest first, paginated). A batch stays `validating` until the test moves
it on (advance, finish); finish answers each request of its input file with a canned valid
completion, and on request with faults: a malformed output line, an answer that fails
validation, and an entry in the error file. Uploads and batches are counted per content hash
of the uploaded file, so a test can tell a request file submitted twice."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from .fake_server import Loopback, completion_body

GOOD_LINES = " Paper {n} reads sentences with a parser.\nTopic: language\nContribution: method"
INVALID = " A summary of this paper.\nTopic: astrology\nContribution: method"
MALFORMED = '{"id": "batch_req_cut", "custom_id": "'  # an output line cut short


def good_answer(body: dict) -> str:
    """A valid answer in the line format, naming the paper ("Paper number N" in its title)."""
    text = body.get("prompt") or body["messages"][-1]["content"]
    found = re.findall(r"Paper number (\d+)", text)
    return GOOD_LINES.format(n=found[-1] if found else "x")


class FakeBatchAPI(Loopback):
    """Serves the Files and Batches API from a folder; the test drives each batch's status."""

    def __init__(self, folder: Path, answer: Callable[[dict], str] = good_answer) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.answer = answer
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.uploads: Counter[str] = Counter()  # content sha256 -> uploads
        self.created: Counter[str] = Counter()  # content sha256 of the input file -> batches made
        self.drop_next_create = False  # make the next batch, then close the connection unanswered
        self.hold, self.held, self.release = threading.Event(), threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._ids = 0
        self._listen(_server(self))

    def __exit__(self, *exc: object) -> None:
        self.release.set()  # a request held mid-call must not keep shutdown waiting
        super().__exit__(*exc)

    def _id(self, prefix: str) -> str:
        with self._lock:
            self._ids += 1
            return f"{prefix}-{self._ids:04d}"

    def add_file(self, data_path: Path, filename: str, purpose: str) -> dict:
        file_id = self._id("file")
        path = self.folder / file_id
        shutil.move(str(data_path), path) if data_path.parent == self.folder else shutil.copy(data_path, path)
        entry = {"id": file_id, "object": "file", "bytes": path.stat().st_size, "created_at": int(time.time()),
                 "filename": filename, "purpose": purpose, "status": "processed"}
        self.files[file_id] = {**entry, "path": path, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        return entry

    def create_batch(self, body: dict) -> dict:
        source = self.files[body["input_file_id"]]
        total = sum(1 for line in source["path"].open("rb") if line.strip())
        batch = {
            "id": self._id("batch"), "object": "batch", "endpoint": body["endpoint"], "errors": None,
            "input_file_id": body["input_file_id"], "completion_window": body["completion_window"], "status": "validating",
            "output_file_id": None, "error_file_id": None, "created_at": int(time.time()),
            "request_counts": {"total": total, "completed": 0, "failed": 0}, "metadata": None,
        }
        with self._lock:
            self.batches[batch["id"]] = batch
            self.created[source["sha256"]] += 1
        return batch

    def batch_for(self, request_file: Path) -> str:
        """The id of the batch made from a request file of this content."""
        sha = hashlib.sha256(Path(request_file).read_bytes()).hexdigest()
        found = [b["id"] for b in self.batches.values() if self.files[b["input_file_id"]]["sha256"] == sha]
        assert len(found) == 1, found
        return found[0]

    def advance(self, batch_id: str, status: str = "in_progress") -> None:
        self.batches[batch_id]["status"] = status

    def finish(self, batch_id: str, status: str = "completed", answered: int | None = None, faults: bool = False) -> None:
        """End a batch: its first `answered` requests (all by default) answered in its output
        file; with faults, the first three of them as a malformed line, an invalid answer and an
        error-file entry."""
        batch = self.batches[batch_id]
        output, errors = self.folder / f"{batch_id}-output.tmp", self.folder / f"{batch_id}-errors.tmp"
        done = failed = 0
        with open(self.files[batch["input_file_id"]]["path"], "rb") as lines, open(output, "wb") as out, open(errors, "wb") as err:
            for number, line in enumerate(lines):
                if answered is not None and number >= answered:
                    break
                request = json.loads(line)
                kind = ("malformed", "invalid", "error")[number] if faults and number < 3 else "good"
                target = err if kind == "error" else out
                target.write(result_line(request, self.answer, kind).encode() + b"\n")
                failed += kind == "error"
                done += kind != "error"
        batch["output_file_id"] = self.add_file(output, f"{batch_id}_output.jsonl", "batch_output")["id"] if done else None
        batch["error_file_id"] = self.add_file(errors, f"{batch_id}_error.jsonl", "batch_output")["id"] if failed else None
        batch["request_counts"].update(completed=done, failed=failed)
        batch["status"] = status

    def batches_made(self) -> int:
        return len(self.batches)


def result_line(request: dict, answer: Callable[[dict], str], kind: str = "good") -> str:
    """One line of an output (or error) file, as the Batch API and vLLM's run_batch write it."""
    if kind == "malformed":
        return MALFORMED
    body = request["body"]
    if kind == "error":
        response = {"status_code": 500, "request_id": "req-x", "body": {"error": {"message": "the server had an error", "type": "server_error"}}}
    else:
        text = INVALID if kind == "invalid" else answer(body)
        response = {"status_code": 200, "request_id": "req-x", "body": completion_body(text, "messages" in body)}
    return json.dumps({"id": "batch_req_" + request["custom_id"][:8], "custom_id": request["custom_id"], "response": response, "error": None})


def vllm_results(requests: Path, results: Path, answer: Callable[[dict], str] = good_answer, faults: bool = False) -> int:
    """What `python -m vllm.entrypoints.openai.run_batch -i requests -o results` writes for a
    request file: every request answered (with faults, the first two as finish() makes them,
    the third refused as vLLM writes it: a 400 without a body, the message in "error"). The
    number of lines."""
    count = 0
    with open(requests, "rb") as lines, open(results, "w") as out:
        for number, line in enumerate(lines):
            request = json.loads(line)
            if faults and number == 2:
                response = {"status_code": 400, "request_id": f"vllm-batch-{number}", "body": None}
                refused = {"id": f"vllm-{number}", "custom_id": request["custom_id"], "response": response, "error": "the prompt is too long"}
                out.write(json.dumps(refused) + "\n")
            else:
                kind = ("malformed", "invalid")[number] if faults and number < 2 else "good"
                out.write(result_line(request, answer, kind) + "\n")
            count += 1
    return count


def _multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a multipart/form-data body: name -> (filename, content)."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type).group(1).encode()
    parts: dict[str, tuple[str | None, bytes]] = {}
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head).group(1).decode()
        filename = re.search(rb'filename="([^"]*)"', head)
        parts[name] = (filename.group(1).decode() if filename else None, content[:-2] if content.endswith(b"\r\n") else content)
    return parts


def _server(api: FakeBatchAPI) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _body(self) -> bytes:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                data = b""
                while (size := int(self.rfile.readline().strip(), 16)) > 0:
                    data += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                return data
            return self.rfile.read(int(self.headers.get("content-length", 0)))

        def _json(self, payload: dict, status: int = 200) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            body = self._body()
            if self.path.rstrip("/") == "/v1/files":
                parts = _multipart(body, self.headers["content-type"])
                filename, content = parts["file"]
                tmp = api.folder / f"upload-{threading.get_ident()}-{time.monotonic_ns()}.tmp"
                tmp.write_bytes(content)
                entry = api.add_file(tmp, filename or "upload.jsonl", parts["purpose"][1].decode())
                with api._lock:
                    api.uploads[api.files[entry["id"]]["sha256"]] += 1
                return self._json(entry)
            if self.path.rstrip("/") == "/v1/batches":
                batch = api.create_batch(json.loads(body))
                if api.drop_next_create:
                    api.drop_next_create = False
                    self.close_connection = True
                    return
                return self._json(batch)
            self._json({"error": {"message": f"no route {self.path}"}}, 404)

        def do_GET(self) -> None:  # noqa: N802
            path, _, query = self.path.partition("?")
            found = re.fullmatch(r"/v1/files/([^/]+)/content", path)
            if found and found.group(1) in api.files:
                return self._send_file(api.files[found.group(1)]["path"])
            found = re.fullmatch(r"/v1/batches/([^/]+)", path)
            if found and found.group(1) in api.batches:
                if api.hold.is_set():
                    api.held.set()
                    api.release.wait(60)
                return self._json(api.batches[found.group(1)])
            if path.rstrip("/") == "/v1/batches":
                return self._json(_page(api, dict(p.split("=", 1) for p in query.split("&") if "=" in p)))
            self._json({"error": {"message": f"no route {self.path}"}}, 404)

        def _send_file(self, path: Path) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/octet-stream")
            self.send_header("content-length", str(path.stat().st_size))
            self.end_headers()
            with open(path, "rb") as data:
                shutil.copyfileobj(data, self.wfile, 1 << 16)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client killed in the middle of an answer

    return Server(("127.0.0.1", 0), Handler)


def _page(api: FakeBatchAPI, query: dict[str, str]) -> dict:
    """A page of batches, newest first, after the id `after`."""
    ordered = sorted(api.batches.values(), key=lambda b: b["id"], reverse=True)
    if "after" in query:
        ordered = ordered[[b["id"] for b in ordered].index(query["after"]) + 1 :]
    limit = int(query.get("limit", 20))
    page = ordered[:limit]
    return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None, "has_more": len(ordered) > limit}
