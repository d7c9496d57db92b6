"""The embedded model's endpoint: an OpenAI-compatible server (app.py) on a free loopback port.

Running it as a server (not in-process) keeps one code path for every model: the pipeline
talks to the embedded model through the same openai client, retries and cassettes as to
a remote endpoint.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..base.errors import EmbeddedModelError
from ..base.versions import EMBEDDED_MODEL as MODEL_NAME
from ..base.versions import EMBEDDED_SLOTS as SLOTS  # decoded together (batching.py)
from .weights import model_path

CONTEXT_TOKENS = 4096
START_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedServer:
    """Starts the server on first use and stops it on close(); usable as a context manager."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or os.cpu_count() or 1
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None
        self._url: str | None = None
        self._failed: EmbeddedModelError | None = None

    @property
    def started(self) -> bool:
        """Whether the server process has been started."""
        return self._proc is not None

    def base_url(self) -> str:
        """The server's /v1 URL, starting the server if needed."""
        if self._failed is not None:
            raise self._failed  # do not try again for every waiting worker
        if self._url is None:
            try:
                self._url = self._start()
            except EmbeddedModelError as exc:
                self._failed = exc
                raise
        return self._url

    def _start(self) -> str:
        try:
            import llama_cpp.server  # noqa: F401  (checked here for a clear message)
        except ImportError:
            raise EmbeddedModelError(
                "llama-cpp-python is not installed: pip install 'summariser[embedded]', "
                "or point at an endpoint with --base-url"
            ) from None
        port = _free_port()
        # fmt: off
        cmd = [
            sys.executable, "-m", "summariser.engine.app",
            "--model", str(model_path()), "--alias", MODEL_NAME,
            "--port", str(port), "--threads", str(self.threads),
            "--slots", str(SLOTS), "--n-ctx", str(CONTEXT_TOKENS),
            "--parent-pid", str(os.getpid()),
        ]
        # fmt: on
        self._log = tempfile.NamedTemporaryFile(prefix="summariser-embedded-", suffix=".log")
        # Its own session: Ctrl-C at the terminal reaches only summariser, which then stops the
        # server itself after saving what it has (the server ends by itself if we are killed).
        self._proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise EmbeddedModelError(f"the embedded model server exited at start:\n{self._tail_log()}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=1.0) as resp:
                    if resp.status == 200:
                        return url
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.close()
        raise EmbeddedModelError(f"the embedded model server did not start within {START_TIMEOUT_S:.0f} s")

    def _tail_log(self) -> str:
        if self._log is None:
            return ""
        return Path(self._log.name).read_text(errors="replace")[-2000:]

    def close(self) -> None:
        """Stop the server if it runs."""
        if self._proc is not None and self._proc.poll() is None:
            # Killed, not asked: it keeps nothing worth saving, and a graceful stop would first
            # finish the completions in flight (seconds, after a Ctrl-C).
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        self._url = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "EmbeddedServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
