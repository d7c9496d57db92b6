"""The command line: a thin layer over the Python API, one module per command."""

from __future__ import annotations

import click

from .batch import batch
from .cache import cache
from .eval import eval_command
from .init import init
from .label import label
from .prompts import prompts
from .run import run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="summariser")
def main() -> None:
    """Summarise dumps of paper titles and abstracts: a one-line summary and category labels per
    paper, from an LLM through versioned prompts, with every answer cached.

    With no endpoint configured, runs offline on the embedded model (gemma-3-270m)."""


main.add_command(run)
main.add_command(prompts)
main.add_command(cache)
main.add_command(eval_command)
main.add_command(init)
main.add_command(label)
main.add_command(batch)
