"""summariser: one-line summaries and category labels for dumps of paper abstracts.

The Python API that the command line is built on::

    from summariser import connect, load_prompt, read_dump, summarise, ResponseCache

    dump = read_dump("examples/papers-dump.txt")
    client = connect()  # the embedded model, or OPENAI_BASE_URL / OPENAI_API_KEY
    cache = ResponseCache()
    for row in summarise(dump.papers, load_prompt("fewshot-v1"), client, cache):
        print(row.summary, row.labels)
    client.close()
    cache.close()

The names are imported on first use, so `import summariser` (and the CLI's --help) stays quick.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "ModelClient": "transport.client",
    "connect": "transport.client",
    "summarise": "flow.pipeline",
    "ResponseCache": "flow.cache",
    "PromptVersion": "prompting.version",
    "load_prompt": "prompting.store",
    "Paper": "records",
    "read_dump": "records",
    "Row": "base.types",
    "SummariserError": "base.errors",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'summariser' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
