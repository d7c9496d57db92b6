"""Ctrl-C and SIGTERM during a run: stop at once, keep what was paid for, say how to finish."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, NoReturn

import click

from .progress import Tally

EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class Terminated(BaseException):
    """SIGTERM arrived: handled like Ctrl-C (answers so far are cached, the output left as it was)."""


@contextmanager
def interruptible(tally: Tally, *, resumable: bool, to_file: bool) -> Iterator[None]:
    """Around a run: Ctrl-C or SIGTERM anywhere in the block ends the process at once, saying
    how far the run got (from `tally`) and how to finish it."""
    main = threading.current_thread() is threading.main_thread()  # handlers can only be set there

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler) if main else None
    try:
        yield
    except (KeyboardInterrupt, Terminated) as exc:
        exit_interrupted(exc, tally, resumable=resumable, to_file=to_file)
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def exit_interrupted(stopped: BaseException, tally: Tally, *, resumable: bool, to_file: bool) -> NoReturn:
    """Say how far the run got and how to finish it, then exit at once.

    os._exit, because calls still in flight on worker threads would otherwise be waited for
    (their retries can take minutes): what they would return is not lost, only not yet paid for.
    """
    name, status = ("SIGTERM", EXIT_SIGTERM) if isinstance(stopped, Terminated) else ("Ctrl-C", EXIT_SIGINT)
    if tally.total is None:
        click.echo(f"\nsummariser: interrupted ({name}) before any paper was sent.", err=True)
        exit_now(status)
    done = tally.ok + tally.error
    if resumable:
        how = "every answer received is cached; to finish, run the same command again: summariser " + shlex.join(sys.argv[1:])
    else:
        how = "answers were not cached (--no-cache): running again starts over"
    output = "the output file was left as it was" if to_file else "the rows so far went to stdout"
    click.echo(f"\nsummariser: interrupted ({name}) after {done} of {tally.total} papers: {tally.describe()}; {output}.", err=True)
    click.echo(f"summariser: {how}", err=True)
    exit_now(status)


def exit_now(status: int) -> NoReturn:
    """Flush what was printed and end the process without waiting for calls in flight."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
