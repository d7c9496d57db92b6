"""A one-line summary taken from the abstract itself: the sentence that says what the paper does.

Abstracts mostly open with background and motivation; the sentence that carries the
contribution ("we propose ...", "this paper studies ...") is the one a reader would quote. It is
picked by that cue and by how many of the title's words it shares, its subject dropped
("In this paper, we propose X" reads "Proposes X"), and it is cut to the version's word limit at
a clause boundary where one is close. Taken from the abstract, it cannot state a number or a name
the abstract does not have, which a small model's own summary does.

Chosen on the tuning half of the seed gold set (evals/split.json): there the sentence scored
ROUGE-1 0.37 and ROUGE-2 0.14 against the hand-written summaries, the title 0.29 and 0.12, the
embedded model's own summaries (fewshot-v8) 0.31 and 0.09. docs/summaries.md has the details.
"""

from __future__ import annotations

import re

_VERBS = (
    "propose|introduce|present|develop|show|find|demonstrate|release|study|investigate|analy[sz]e|argue|provide|"
    "design|describe|offer|establish|prove|derive|construct|build|explore|examine|evaluate|report|curate|create|"
    "formulate|leverage|train|extend"
)
# A sentence that says what the paper does: its subject, then within a few words one of the verbs.
_CUE = re.compile(rf"\b(we|this paper|this work|our|this study|this article|here)\b.{{0,40}}\b({_VERBS})", re.I)
# A sentence ends at . ! or ? followed by a space and a capital ("1.1B", "e.g. the" do not end one).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_SUBJECT = re.compile(
    # A lead-in before the subject goes with it: "First, we ...", "To address this, we ...".
    r"^(?:(?:first|second|third|finally|specifically|in particular|additionally|moreover|furthermore|to this end|"
    r"therefore|thus|hence|instead|overall),\s+)?"
    r"(?:(?:to|in order to) [^,]{3,120},\s+)?"
    r"(?:(?:in|with) (?:this|our|the present) (?:paper|work|study|article),?\s+|here,?\s+)?"
    r"(we|this (?:paper|work|study|article))\s+(?:(?:also|further|then|first|now|here)\s+)?([a-z]+)\b",
    re.I,
)
# Verbs that need their subject: "we are", "this paper is", "we can".
_AUXILIARIES = set("is are was were be been has have had do does did can could will would may might must shall should not".split())
_WORD = re.compile(r"[a-z0-9]+")
_FUNCTION_WORDS = set("a an the of for and or in on with to via by from is are as at its their our we do does how what why".split())
# Under this share of the title's content words in the sentence, the title is its subject.
_TITLE_SHARE = 0.5
# A clause boundary to cut at, if it leaves at least this share of the word limit.
_MIN_CLAUSE_SHARE = 0.6


def sentences(text: str) -> list[str]:
    """The text's sentences, white space collapsed."""
    return [s for s in (" ".join(part.split()) for part in _SENTENCE_END.split(text)) if s]


def contribution_sentence(title: str, abstract: str) -> str:
    """The abstract's sentence that best says what the paper contributes: a sentence with a
    contribution cue counts 2, plus the share of the title's words it has; the first of equals
    wins. The title when there is no abstract."""
    found = sentences(abstract)
    if not found:
        return " ".join(title.split())
    title_words = set(_WORD.findall(title.lower()))

    def score(sentence: str) -> float:
        shared = len(set(_WORD.findall(sentence.lower())) & title_words) / max(1, len(title_words))
        return 2.0 * bool(_CUE.search(sentence)) + shared

    return max(found, key=score)  # max keeps the first of equal scores


def _third_person(verb: str) -> str:
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    if re.search(r"(s|sh|ch|x|z)$", verb):
        return verb + "es"
    return verb + "s"


def drop_subject(sentence: str) -> str:
    """"In this paper, we propose X" -> "Proposes X"; "This work studies X" -> "Studies X"; "To
    address this, we design X" -> "Designs X" (the purpose is the background's); a sentence
    without such a subject, or whose verb cannot simply stand without it ("we are", "this paper
    is"), is kept as it is."""
    match = _SUBJECT.match(sentence)
    if not match:
        return sentence
    verb = match.group(2)
    if verb.lower() in _AUXILIARIES or len(verb) < 3:
        return sentence
    if match.group(1).lower() == "we" and not verb.endswith("ed"):
        verb = _third_person(verb.lower())
    rest = verb + sentence[match.end() :]
    return rest[0].upper() + rest[1:]


def cut_words(sentence: str, max_words: int) -> str:
    """At most max_words words: cut at the last clause boundary (a comma, semicolon or colon)
    within the limit if that keeps most of them, else after the limit's last word."""
    words = sentence.split()
    if len(words) <= max_words:
        return sentence
    kept = words[:max_words]
    for i in range(len(kept) - 1, 0, -1):
        if kept[i].endswith((",", ";", ":")) and i + 1 >= max_words * _MIN_CLAUSE_SHARE:
            return " ".join(kept[: i + 1])[:-1]
    return " ".join(kept)


def title_share(title: str, sentence: str) -> float:
    """The share of the title's content words (not function words) that the sentence has."""
    wanted = set(_WORD.findall(title.lower())) - _FUNCTION_WORDS
    return len(wanted & set(_WORD.findall(sentence.lower()))) / max(1, len(wanted))


def with_subject(title: str, sentence: str) -> str:
    """The sentence, after the title where it names under half of what the title names: "Proposes
    our method to merge ResNet and ViT models" says nothing without the method's name."""
    if title_share(title, sentence) >= _TITLE_SHARE:
        return sentence
    title = " ".join(title.split())
    # A colon starts a sentence (so the verb after it is not taken for a name); a title that
    # ends a sentence itself needs none.
    return f"{title} {sentence}" if title.endswith((".", "?", "!")) else f"{title}: {sentence}"


def prompt_summary(title: str, abstract: str, max_words: int) -> str:
    """What the model reads as the paper's summary, before it gives the labels: the contribution
    sentence, its subject dropped, cut to max_words words. (The prompt has the title already; with
    the title in the summary too, the model's topic labels were worse on the seed gold set.)"""
    return cut_words(drop_subject(contribution_sentence(title, abstract)), max_words)


def extract_summary(title: str, abstract: str, max_words: int) -> str:
    """The summary of a version with summary = "abstract", as the reader gets it: the
    contribution sentence, its subject dropped, after the title where it does not name the
    paper's subject, cut to max_words words."""
    return cut_words(with_subject(title, drop_subject(contribution_sentence(title, abstract))), max_words)
