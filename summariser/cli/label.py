"""`summariser label`: label a dump's papers by hand on a local web page."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..records import FORMATS
from .common import (
    base_url_option, cache_dir_option, client_for, embeddings_base_url_option, embeddings_model_option, fail, os_message,
    prompts_dir_option, timeout_option,
)

if TYPE_CHECKING:
    from ..flow.embedding_store import EmbeddingStore
    from ..labelling.features import FeatureThread
    from ..labelling.server import LabelServer
    from ..labelling.session import Session
    from ..prompting.version import PromptVersion
    from ..records import Paper

DEFAULT_PORT = 8765


@click.command()
@click.argument("dump_path", metavar="DUMP")
@click.option("--prompt", "prompt_version", required=True, help="The prompt version (name or .toml path) whose label fields and values are used.")
@click.option("--annotator", default="a1", show_default=True, help="Who is labelling. Each annotator has their own answers in the file and never sees another's.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="The labelled JSONL file answers are appended to. Default: the pool file of your version's [retrieval] "
              "(the file its classifier learns from); a released version, or one without a pool, needs -o.")
@click.option("--review", "review_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), metavar="OUT.jsonl",
              help="Review a run's answers instead: the rows of `summariser run DUMP -o OUT.jsonl` marked needs_review "
              "(all rows if none is), lowest confidence first, with the model's labels selected. DUMP is still needed: it has the abstracts.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True, help="Port on 127.0.0.1 (0: any free one).")
@click.option("--no-browser", is_flag=True, help="Do not open the page in a browser; just print its address.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="DUMP's format. Default: detected from the extension or content.")
@prompts_dir_option
@base_url_option
@embeddings_model_option
@embeddings_base_url_option
@timeout_option
@cache_dir_option
def label(
    dump_path: str, prompt_version: str, annotator: str, output: Path | None, review_path: Path | None, port: int, no_browser: bool,
    fmt: str | None, prompts_dir: Path | None, base_url: str | None, embeddings_model: str | None, embeddings_base_url: str | None,
    timeout: float, cache_dir: Path | None,
) -> None:
    """Label the papers of DUMP by hand, in the taxonomy of a prompt version, on a page served
    on 127.0.0.1 and opened in your browser.

    \b
    The page shows one paper, one box per label field (each value with its definition) and
    answers with one keystroke per field:
      1-9, 0, then letters   choose a value of the highlighted field, then the next field;
                             the last field's choice saves and shows the next paper
      Enter                  save as selected (in review: confirm the model's answer)
      Up / Down              change the highlighted field
      u or Backspace         take back the last choice; on a fresh paper, withdraw the last
                             saved answer and show that paper again
      s                      skip the paper
      r / n                  type a reference summary / a note (Esc leaves the box)
      m                      show the model suggestion (off by default: it is shown after
                             each answer, so it does not anchor yours)

    Every answer is appended to the labelled file (-o) the moment it is given. Run the same
    command again to go on: papers you answered or skipped are not offered again. The next
    paper is the one that teaches a classifier most (uncertain, unlike those already labelled),
    by TF-IDF at first and by the version's embeddings once computed. Two tabs never show the
    same paper; a second `summariser label` on the same file is refused. A second annotator
    (--annotator a2) labels the same papers without seeing a1's answers. Ctrl-C stops it.
    """
    import webbrowser

    from ..base.errors import SummariserError

    try:
        session, prompt, papers = _open(dump_path, fmt, prompt_version, prompts_dir, annotator, output, review_path)
    except SummariserError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(os_message(exc))
    for note in session.notes:
        click.echo(f"summariser: {note}", err=True)
    store = _embeddings(prompt, (embeddings_model, embeddings_base_url, base_url, timeout), cache_dir)
    server = _bind(session, port)
    features = _start(session, prompt, papers, store)
    progress = session.progress()
    click.echo(f"{'Reviewing' if review_path else 'Labelling'} {progress.total} papers in the taxonomy of {prompt.version}, as annotator {annotator}")
    click.echo(f"  page:    {server.url}")
    click.echo(f"  answers: {session.writer.path} ({progress.labelled} labelled, {progress.skipped} skipped already)")
    if not review_path:
        later = f"; the version's embeddings of {len(papers)} papers are computed meanwhile" if store else ""
        click.echo(f"  next paper chosen by: TF-IDF{later}")
    click.echo("Ctrl-C to stop.")
    sys.stdout.flush()
    if not no_browser:
        webbrowser.open(server.url)
    _serve(server, session, store, features)


def _bind(session: Session, port: int) -> LabelServer:
    """The server on 127.0.0.1:port, or a one-line failure (the file released)."""
    from ..labelling.server import LabelServer

    try:
        return LabelServer(session, port)
    except OSError as exc:
        session.close()
        fail(f"cannot serve on 127.0.0.1:{port} ({exc.strerror}): another program (another summariser label?) uses it; "
             "give --port N, or --port 0 for any free port")


def _serve(server: LabelServer, session: Session, store: EmbeddingStore | None, features: FeatureThread) -> None:
    """Serve until Ctrl-C, then release the port and the file and say what was done."""
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        done = session.progress()
        session.close()
        if store is not None and not features.thread.is_alive():
            store.close()  # while embedding it is busy: the process's end closes it
        click.echo(f"\nStopped: {done.labelled} labelled, {done.skipped} skipped of {done.total}, in {session.writer.path}", err=True)


def _open(
    dump_path: str, fmt: str | None, version: str, prompts_dir: Path | None, annotator: str, output: Path | None, review_path: Path | None
) -> tuple[Session, PromptVersion, list[Paper]]:
    """The session (its file checked and locked), the version and the dump's papers."""
    from ..base.errors import InputError
    from ..flow.progress import report_input
    from ..labelling.review import read_review
    from ..labelling.session import Session
    from ..prompting.store import load_prompt, packaged_dir, resolve_path
    from ..records import read_dump

    if not annotator or not all(c.isalnum() or c in "-_." for c in annotator):
        raise InputError(f"--annotator {annotator!r}: use letters, digits, '-', '_' or '.'")
    prompt = load_prompt(version, prompts_dir)
    if output is None:
        if prompt.retrieval is None:
            raise InputError(f"{prompt.version} has no retrieval pool to add answers to: name the labelled file with -o FILE")
        where = resolve_path(version, prompts_dir).parent
        if where.resolve() == packaged_dir().resolve() or not prompt.draft:  # answers added to its pool would change a released version
            raise InputError(f"{prompt.version} is a released version: its pool stays as released. Name the labelled file with -o FILE, "
                             f"or make a version of your own to label for: summariser prompts new NAME --from {prompt.version}")
        output = where / prompt.retrieval.pool
    dump = read_dump(dump_path, fmt)
    report_input(dump, "<stdin>" if dump_path == "-" else dump_path)
    review = None
    if review_path is not None:
        found = read_review(review_path, {p.id for p in dump.papers}, prompt.fields)
        for note in found.notes:
            click.echo(f"summariser: {note}", err=True)
        review = found.items
    return Session(dump.papers, prompt.fields, output, prompt.version, annotator, review), prompt, dump.papers


def _embeddings(prompt: PromptVersion, endpoint: tuple[str | None, str | None, str | None, float], cache_dir: Path | None) -> EmbeddingStore | None:
    """Where the version's embeddings come from, kept on disk beside the cache: an endpoint's
    embedding model, or the embedded model (loaded when first needed). None for a version that
    uses none."""
    from ..base.errors import SummariserError
    from ..flow.embedding_store import EmbeddingStore
    from ..flow.storage import default_cache_dir
    from ..transport.embeddings import EndpointEmbedder

    model, embeddings_url, base_url, timeout = endpoint
    if prompt.retrieval is None or not prompt.retrieval.embeds:
        return None
    if embeddings_url and not model:
        fail("--embeddings-base-url needs --embeddings-model: the embedding model to ask it for")
    embedder = None
    if model:
        try:
            client = client_for(embeddings_url or base_url, model, "none", timeout)
        except SummariserError as exc:
            fail(str(exc))
        if client.embedded:
            fail("--embeddings-model names a model of an endpoint: give --embeddings-base-url (or --base-url)")
        embedder = EndpointEmbedder(client, model, owns_client=True)
    return EmbeddingStore.beside(cache_dir or default_cache_dir(), embedder)


def _start(session: Session, prompt: PromptVersion, papers: list[Paper], store: EmbeddingStore | None) -> FeatureThread:
    """Start the ranking thread and the features: TF-IDF now, the embeddings behind them."""
    from ..labelling.features import FeatureThread

    session.start_ranking()
    return FeatureThread(papers, session.set_features, store, prompt.retrieval).start()
