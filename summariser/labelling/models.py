"""The JSON that crosses the label page's HTTP boundary, both ways."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

TabId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class ValueView(BaseModel):
    """One allowed value of a field and its definition."""

    value: str
    definition: str


class FieldView(BaseModel):
    """A label field as the page shows it: values in the version's (precedence) order."""

    name: str
    description: str
    values: list[ValueView]


class Setup(BaseModel):
    """What the page needs once: the version, the annotator, the mode and the fields."""

    version: str
    annotator: str
    mode: Literal["label", "review"]
    file: str
    fields: list[FieldView]


class ModelAnswer(BaseModel):
    """In review mode: what the run answered for the paper, the thing being checked."""

    labels: dict[str, str]
    confidence: dict[str, float | None] = {}
    summary: str | None = None


class PaperView(BaseModel):
    """A paper to label, with what is preselected: the model's answer in review mode, or the
    annotator's own answer when it was withdrawn (undo) or lacks a field."""

    id: str
    title: str
    abstract: str
    labels: dict[str, str] = {}
    summary: str | None = None
    note: str | None = None
    model: ModelAnswer | None = None


class Progress(BaseModel):
    """This annotator's papers: answered, skipped, and how many there are."""

    labelled: int
    skipped: int
    total: int


class Saved(BaseModel):
    """The answer just written, for the page's "saved" line."""

    id: str
    title: str
    labels: dict[str, str] = {}
    skipped: bool = False


class NextReply(BaseModel):
    """The paper a tab shows next (None: nothing left) and where the annotator stands."""

    paper: PaperView | None
    progress: Progress
    ranked_by: str  # what chose the paper: "dump order", "tf-idf", "embeddings", "review order"
    saved: Saved | None = None
    withdrawn: str | None = None  # the id an undo withdrew


class TabIn(BaseModel):
    """A request naming only the tab it comes from."""

    tab: str = TabId


class AnswerIn(BaseModel):
    """An answer from a tab: one value per field, and optional reference summary and note."""

    tab: str = TabId
    id: str
    labels: dict[str, str]
    summary: str | None = Field(default=None, max_length=2000)
    note: str | None = Field(default=None, max_length=2000)


class SkipIn(BaseModel):
    """A skip from a tab."""

    tab: str = TabId
    id: str


class HeartbeatIn(BaseModel):
    """A tab saying it is still open, and which paper it shows."""

    tab: str = TabId
    id: str | None = None


class HeartbeatReply(BaseModel):
    """Whether the tab still holds its paper (False: it went to another tab or was answered
    elsewhere, and the tab should ask for the next one)."""

    held: bool


class SuggestionReply(BaseModel):
    """The classifier's probabilities for one paper, per field, from this annotator's labels
    alone (empty for a field it cannot fit yet: too few labels, or one value only)."""

    id: str
    fields: dict[str, dict[str, float]]
    ranked_by: str
