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
"""

from .cache import ResponseCache
from .client import ModelClient, connect
from .pipeline import summarise
from .prompts import PromptVersion, load_prompt
from .records import Paper, read_dump
from .schema import Row

__all__ = [
    "ModelClient",
    "Paper",
    "PromptVersion",
    "ResponseCache",
    "Row",
    "connect",
    "load_prompt",
    "read_dump",
    "summarise",
]
