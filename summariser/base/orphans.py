"""Helper processes (the embedded model's server, worker processes) end with the process that
started them, even when it is killed with -9 and cannot stop them itself."""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(parent: int, poll_seconds: float = 1.0) -> None:
    """Exit this process within poll_seconds of the death of `parent`, the pid of the process that
    started it (passed in, not read here: the parent may have died before this runs)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
