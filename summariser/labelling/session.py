"""One labelling session: the papers, the fields, the labelled file and its writer, which paper
each open tab shows, and the ranking kept fresh in the background. No HTTP here (server.py).

Every answer, skip and undo is appended to the file before the call returns. Which paper comes
next is read from the latest ranking (a list lookup), and each answer asks the ranking thread for
a new one: the page never waits for a classifier fit.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from ..labelled import PRIMARY, LabelledRow, LabelledWriter, read_labelled
from ..labels.proposals import Proposer
from ..prompting.version import LabelField
from .checks import check_values, file_notes
from .models import (
    AnswerIn, FieldView, HeartbeatIn, HeartbeatReply, ModelAnswer, NextReply, PaperView, Progress, Saved, Setup, SkipIn,
    SuggestionReply, ValueView,
)
from .review import ReviewItem

if TYPE_CHECKING:
    import numpy as np

    from ..records import Paper

TAB_TIMEOUT = 90.0  # seconds without a word from a tab before its paper may go to another
RANK_BATCH = 50  # papers ranked at a time: more than the open tabs can take before the next ranking


@dataclass
class Tab:
    current: str | None
    seen_at: float


class Session:
    """The state behind the label page. Raises InputError on start for a file another session
    holds, or whose answers the version cannot read."""

    def __init__(
        self, papers: Sequence["Paper"], fields: Sequence[LabelField], path: str | Path, version: str, annotator: str = PRIMARY,
        review: Sequence[ReviewItem] | None = None, clock: Callable[[], float] = time.monotonic, tab_timeout: float = TAB_TIMEOUT,
    ) -> None:
        self.fields, self.version, self.annotator = list(fields), version, annotator
        self.papers = {p.id: p for p in papers}
        self.review = {item.id: item for item in review} if review is not None else None
        self.order = list(self.review) if self.review is not None else list(self.papers)
        scope = set(self.order)
        self.clock, self.tab_timeout = clock, tab_timeout
        existing = read_labelled(path)
        check_values(existing, self.fields, version)
        self.writer = LabelledWriter(path)  # takes the file's lock: a second session stops here
        self.notes = file_notes(existing)
        mine = sorted(((n, row) for (_, who), (n, row) in existing.latest.items() if who == annotator and not row.retracted), key=lambda x: x[0])
        self.rows: dict[str, LabelledRow] = {row.id: row for _, row in mine}  # this annotator's current answers and skips
        # (id, tab) of each answer and skip on offer, oldest first, for undo (None: before this session)
        self.history: list[tuple[str, str | None]] = [(row.id, None) for _, row in mine if row.id in scope]
        self.tabs: dict[str, Tab] = {}
        self.lock = threading.Condition()
        self.proposer: Proposer | None = None
        self.ranking: list[str] = []
        self.ranked_by = "review order" if self.review is not None else "dump order"
        self.features_by = ""
        self.generation, self.ranked_generation = 0, 0
        self.closed = False

    # -- the features and the ranking, computed in the background --

    def start_ranking(self) -> None:
        """Start the thread that re-ranks after each change (label mode only)."""
        if self.review is None:
            threading.Thread(target=self._rank_loop, name="label-ranking", daemon=True).start()

    def set_features(self, features: "np.ndarray", name: str) -> None:
        """Rank and suggest with these vectors (one row per dump paper, in dump order) from now on."""
        proposer = Proposer(self.fields, list(self.papers), features)
        with self.lock:
            self.proposer, self.features_by = proposer, name
            self._changed()

    def wait_ranked(self, timeout: float) -> bool:
        """Wait until the ranking reflects every change so far (True), or timeout seconds pass."""
        with self.lock:
            return self.lock.wait_for(lambda: self.review is not None or self.ranked_generation >= self.generation, timeout)

    def _changed(self) -> None:
        self.generation += 1
        self.lock.notify_all()

    def _rank_loop(self) -> None:
        while True:
            with self.lock:
                self.lock.wait_for(lambda: self.closed or (self.proposer is not None and self.ranked_generation < self.generation))
                if self.closed:
                    return
                generation, proposer, name = self.generation, self.proposer, self.features_by
                labelled = self._answers()
                exclude = self._seen() | self._held()
            assert proposer is not None
            ranking = proposer.rank(labelled, exclude, n=RANK_BATCH)
            with self.lock:
                self.ranking, self.ranked_by = ranking, name
                self.ranked_generation = generation
                self.lock.notify_all()

    # -- what the page asks --

    def setup(self) -> Setup:
        """The version, annotator, mode and fields."""
        fields = [FieldView(name=f.name, description=f.description, values=[ValueView(value=v, definition=d) for v, d in f.values.items()]) for f in self.fields]
        mode = "review" if self.review is not None else "label"
        return Setup(version=self.version, annotator=self.annotator, mode=mode, file=str(self.writer.path), fields=fields)

    def next(self, tab: str) -> NextReply:
        """The paper this tab shows: the one it holds, else the best one no other tab holds."""
        with self.lock:
            return self._reply(tab)

    def answer(self, given: AnswerIn) -> NextReply:
        """Write an answer (refused with ValueError if a value is not allowed), then the next paper."""
        paper = self._paper(given.id)
        self._check(given.labels)
        summary, note = (given.summary or "").strip() or None, (given.note or "").strip() or None
        row = LabelledRow(id=paper.id, title=paper.title, abstract=paper.abstract, annotator=self.annotator,
                          labels=given.labels, summary=summary, note=note)
        with self.lock:
            before = self.rows.get(paper.id)
            if before is None or (before.labels, before.summary, before.note) != (row.labels, summary, note) or before.skipped:
                self._write(row, given.tab)  # the same answer again (a retry after a lost reply) is written once
            self._release(given.tab, paper.id)
            return self._reply(given.tab, Saved(id=paper.id, title=paper.title, labels=given.labels))

    def skip(self, given: SkipIn) -> NextReply:
        """Record that this annotator passed over the paper, then the next paper."""
        paper = self._paper(given.id)
        with self.lock:
            if not (given.id in self.rows and self.rows[given.id].skipped):
                self._write(LabelledRow(id=paper.id, title=paper.title, annotator=self.annotator, skipped=True), given.tab)
            self._release(given.tab, paper.id)
            return self._reply(given.tab, Saved(id=paper.id, title=paper.title, skipped=True))

    def undo(self, tab: str) -> NextReply:
        """Withdraw this tab's last answer or skip (else the session's last) and show that paper again."""
        with self.lock:
            mine = [i for i, (_, t) in enumerate(self.history) if t == tab]
            if not self.history:
                return self._reply(tab)
            pid, _ = self.history.pop(mine[-1] if mine else -1)
            withdrawn = self.rows.pop(pid)
            self.writer.append(LabelledRow(id=pid, title=withdrawn.title, annotator=self.annotator, retracted=True))
            self._tab(tab).current = pid
            self._changed()
            reply = self._reply(tab)
            if reply.paper is not None and withdrawn.answered:
                reply.paper.labels, reply.paper.summary, reply.paper.note = withdrawn.labels, withdrawn.summary, withdrawn.note
            reply.withdrawn = pid
            return reply

    def heartbeat(self, beat: HeartbeatIn) -> HeartbeatReply:
        """Keep the tab alive; take its paper back if it was let go and nobody took it since."""
        with self.lock:
            tab = self._tab(beat.tab)
            if beat.id is None or tab.current == beat.id:
                return HeartbeatReply(held=beat.id is None or beat.id not in self._seen())
            if beat.id in self.papers and beat.id not in self._seen() and beat.id not in self._held(beat.tab):
                tab.current = beat.id
                return HeartbeatReply(held=True)
            return HeartbeatReply(held=False)

    def release(self, tab: str) -> None:
        """The tab was closed: its paper may go to another."""
        with self.lock:
            if self.tabs.pop(tab, None) is not None:
                self._changed()

    def suggestion(self, pid: str) -> SuggestionReply:
        """The classifier's view of one paper, from this annotator's other answers."""
        self._paper(pid)
        with self.lock:
            proposer, name, labelled = self.proposer, self.features_by, self._answers()
        fields = proposer.suggestion(labelled, pid) if proposer is not None else {}
        return SuggestionReply(id=pid, fields=fields, ranked_by=name or "no features yet")

    def progress(self) -> Progress:
        """This annotator's answered and skipped papers, of those on offer."""
        with self.lock:
            return self._progress()

    def close(self) -> None:
        """Stop the ranking thread and release the file."""
        with self.lock:
            self.closed = True
            self.lock.notify_all()
        self.writer.close()

    # -- inside the lock --

    def _paper(self, pid: str) -> "Paper":
        if pid not in self.papers or (self.review is not None and pid not in self.review):
            raise ValueError(f"no paper {pid!r} in this session")
        return self.papers[pid]

    def _check(self, labels: dict[str, str]) -> None:
        for f in self.fields:
            if labels.get(f.name) not in f.values:
                raise ValueError(f"{f.name}: {labels.get(f.name)!r} is not one of {', '.join(f.values)}")
        extra = set(labels) - {f.name for f in self.fields}
        if extra:
            raise ValueError(f"not fields of {self.version}: {', '.join(sorted(extra))}")

    def _write(self, row: LabelledRow, tab: str) -> None:
        self.rows[row.id] = self.writer.append(row)
        self.history = [(pid, t) for pid, t in self.history if pid != row.id] + [(row.id, tab)]
        self._changed()

    def _complete(self, row: LabelledRow) -> bool:
        return row.skipped or all(f.name in row.labels for f in self.fields)

    def _answers(self) -> dict[str, dict[str, str]]:
        return {pid: dict(row.labels) for pid, row in self.rows.items() if row.answered}

    def _seen(self) -> set[str]:
        return {pid for pid, row in self.rows.items() if self._complete(row)}

    def _tab(self, tab: str) -> Tab:
        now = self.clock()
        for name in [n for n, t in self.tabs.items() if now - t.seen_at > self.tab_timeout and n != tab]:
            del self.tabs[name]  # gone without a word: its paper may go to another tab
        entry = self.tabs.setdefault(tab, Tab(None, now))
        entry.seen_at = now
        return entry

    def _held(self, but: str | None = None) -> set[str]:
        return {t.current for name, t in self.tabs.items() if t.current is not None and name != but}

    def _release(self, tab: str, pid: str) -> None:
        entry = self._tab(tab)
        if entry.current == pid:
            entry.current = None

    def _pick(self, tab: str, seen: set[str]) -> str | None:
        held = self._held(but=tab)
        unfinished = [pid for pid, row in self.rows.items() if row.answered and pid not in seen]  # lacking a field
        for pid in unfinished + self.ranking + self.order:
            if pid not in seen and pid not in held and (self.review is None or pid in self.review):
                return pid
        return None

    def _reply(self, tab: str, saved: Saved | None = None) -> NextReply:
        entry, seen = self._tab(tab), self._seen()
        if entry.current is None or entry.current in seen:
            entry.current = self._pick(tab, seen)
            if entry.current is not None:
                self._changed()  # the ranking leaves out what tabs hold
        paper = self._view(entry.current) if entry.current is not None else None
        return NextReply(paper=paper, progress=self._progress(), ranked_by=self.ranked_by, saved=saved)

    def _progress(self) -> Progress:
        done = [self.rows[pid] for pid in self.order if pid in self.rows and self._complete(self.rows[pid])]
        return Progress(labelled=sum(r.answered for r in done), skipped=sum(r.skipped for r in done), total=len(self.order))

    def _view(self, pid: str) -> PaperView:
        paper = self.papers[pid]
        view = PaperView(id=pid, title=paper.title, abstract=paper.abstract)
        own = self.rows.get(pid)
        if own is not None and own.answered:  # an answer that lacks a field: the rest preselected
            view.labels, view.summary, view.note = dict(own.labels), own.summary, own.note
        item = self.review.get(pid) if self.review is not None else None
        if item is not None:
            view.model = ModelAnswer(labels=item.labels, confidence=item.confidence, summary=item.summary)
            view.labels = view.labels or dict(item.labels)
        return view
