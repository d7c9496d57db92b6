"""A one-line summary taken from the abstract itself: the sentence that says what the paper does.

Abstracts mostly open with background and motivation; the sentence that carries the
contribution ("we propose ...", "this paper studies ...") is the one a reader would quote. It is
picked by that cue and by how many of the title's words it shares, its subject dropped
("In this paper, we propose X" reads "Proposes X"), put after the title where it does not name
the title's subject, and cut to the version's word limit at a clause boundary where one is
close. Taken from the abstract, it cannot state a number or a name the abstract does not have,
which a small model's own summary does. How it was chosen: docs/summaries.md. A change here that
changes a summary needs a new base.versions.EXTRACT_VERSION (part of such versions' hash).
"""

from __future__ import annotations

import re

# What a contribution sentence does ("we propose", "this paper studies"), in any tense.
_CUE_VERBS = (
    r"propos|introduc|present|develop|show|find|found|demonstrat|releas|stud(?:y|ie)|investigat|analy[sz]|argu|provid|"
    r"design|describ|offer|establish|prov|deriv|construct|buil[dt]|explor|examin|evaluat|report|curat|creat|"
    r"formulat|leverag|train|extend"
)
_CUE = re.compile(rf"\b(we|this paper|this work|our|this study|this article|here)\b.{{0,40}}\b(?:{_CUE_VERBS})(?:e|es|ed|s|ing)?\b", re.I)
# Sentences about code, hopes or future work are not the contribution, whatever their verbs.
_NOT_CONTRIBUTION = re.compile(r"\b(available|github|https?://|we hope|we believe|we expect|future work)\b", re.I)
# Base forms that can stand without "we" in the third person ("we propose" -> "Proposes").
_VERBS = set(
    "propose introduce present develop show find demonstrate release study investigate analyze analyse argue provide "
    "design describe offer establish prove derive construct build explore examine evaluate report curate create "
    "formulate leverage train extend collect use apply compare identify measure observe obtain perform achieve conduct "
    "benchmark fine-tune pre-train test validate quantify characterize characterise discuss explain highlight outline "
    "reveal suggest address tackle solve learn adapt combine implement assess compile annotate replicate review survey "
    "summarize summarise contribute focus consider simulate generate estimate predict detect improve reduce enable "
    "exploit incorporate integrate employ utilize utilise discover uncover advocate recommend define formalize "
    "formalise revisit rethink verify confirm unify generalize generalise augment align distill prune quantize "
    "compress scale assemble gather crowdsource outperform conclude".split()
)
# A later verb that may go into the third person without its "we": rarely a noun after "and".
_LATER_VERBS = "find show propose introduce present demonstrate develop evaluate argue provide observe obtain identify extend apply compare conclude reveal discuss explore investigate examine establish prove derive outperform achieve improve release".split()
_LEAD_IN = (
    r"^(?:(?:first|second|third|finally|specifically|in particular|additionally|moreover|furthermore|to this end|"
    r"therefore|thus|hence|instead|overall),\s+)?"
    r"(?:(?:to|in order to) [^,]{3,120},\s+)?"  # the purpose restates the background
    r"(?:(?:in|with) (?:this|our|the present) (?:paper|work|study|article),?\s+|here,?\s+)?"
)
_SUBJECT = re.compile(
    _LEAD_IN + r"(we|this (?:paper|work|study|article))\s+"
    r"(?:(also|further|furthermore|then|first|now|here|thus|therefore|hence|additionally|finally|instead|[a-z]+ly)\s+)?"
    r"([a-z]+(?:-[a-z]+)?)\b",
    re.I,
)
_LATER = re.compile(rf"\b(and|and then|and also|and we|and we also|and we then)\s+({'|'.join(_LATER_VERBS)})\b")
# A sentence ends at . ! or ? before a capital, possibly after an opening quote or bracket.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"“'(\[]?[A-ZÀ-ÖØ-Þ])")
_ABBREVIATION = re.compile(r"\b(e\.g|i\.e|et al|vs|cf|fig|eq|sec|no)\.$", re.I)
_WORD = re.compile(r"[a-z0-9]+")
_FUNCTION_WORDS = set("a an the of for and or in on with to via by from is are as at its their our we do does how what why".split())
_TITLE_SHARE = 0.5  # under this share of the title's content words in the sentence, the title is its subject
_MIN_SENTENCE_WORDS = 8  # after the title, at least this many of the sentence's words, else no title
_MIN_CLAUSE_SHARE = 0.6  # a clause boundary to cut at, if it leaves at least this share of the words


def sentences(text: str) -> list[str]:
    """The text's sentences, white space collapsed ("e.g. BERT" does not end one)."""
    out: list[str] = []
    for part in _SENTENCE_END.split(text):
        part = " ".join(part.split())
        if out and _ABBREVIATION.search(out[-1]):
            out[-1] += " " + part
        elif part:
            out.append(part)
    return [s for s in out if s]


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
        cue = bool(_CUE.search(sentence)) and not _NOT_CONTRIBUTION.search(sentence)
        return 2.0 * cue + shared

    return max(found, key=score)  # max keeps the first of equal scores


def _third_person(verb: str) -> str:
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    if re.search(r"(s|sh|ch|x|z)$", verb):
        return verb + "es"
    return verb + "s"


def _past_of_known(verb: str) -> bool:
    """"developed", "studied", "proposed": the past tense of a verb that stands without "we"."""
    return verb.endswith("ed") and any(v in _VERBS for v in (verb[:-2], verb[:-1], verb[:-3] + "y"))


def drop_subject(sentence: str) -> str:
    """"In this paper, we propose X and find Y" -> "Proposes X and finds Y"; "This work studies X"
    -> "Studies X"; "To address this, we design X" -> "Designs X" (the purpose restates the
    background). A sentence without such a subject, or whose verb is not one this knows to stand
    without it ("we are", "we need", "this paper is"), is kept as it is."""
    match = _SUBJECT.match(sentence)
    if not match:
        return sentence
    subject, adverb, verb = match.group(1).lower(), (match.group(2) or "").lower(), match.group(3)
    low = verb.lower()
    if subject == "we" and low in _VERBS:
        verb = _third_person(low)
    elif not (_past_of_known(low) or (subject != "we" and any(_third_person(v) == low for v in _VERBS))):
        return sentence
    rest = sentence[match.end() :]
    if subject == "we":  # "... and find that" -> "... and finds that", "and we propose" -> "and proposes"
        rest = _LATER.sub(lambda m: f"{m.group(1).replace(' we', '')} {_third_person(m.group(2))}", rest)
    # "We critically examine" -> "Critically examines"; connectives ("also", "thus") go.
    keep = adverb.endswith("ly") and adverb not in ("only", "finally", "additionally")
    out = (f"{adverb} " if keep else "") + verb + rest
    return out[0].upper() + out[1:]


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


def with_subject(title: str, sentence: str, max_words: int) -> str:
    """The sentence cut to max_words, after the title where it names under half of what the
    title names ("Demonstrates our method to merge ResNet and ViT models" says nothing without
    the method's name) and the title leaves room for enough of it."""
    title = " ".join(title.split()).rstrip(":;,-– ")
    room = max_words - len(title.split())
    if not title or title_share(title, sentence) >= _TITLE_SHARE or room < _MIN_SENTENCE_WORDS:
        return cut_words(sentence, max_words)
    # A colon starts a sentence (so the verb after it is not taken for a name); a title that
    # ends a sentence itself needs none.
    return f"{title}{' ' if title.endswith(('.', '?', '!')) else ': '}{cut_words(sentence, room)}"


def prompt_summary(title: str, abstract: str, max_words: int) -> str:
    """What the model reads as the paper's summary, before it gives the labels: the contribution
    sentence, its subject dropped, cut to max_words words. (The prompt has the title already; with
    the title in the summary too, the model's topic labels were worse on the seed gold set.)"""
    return cut_words(drop_subject(contribution_sentence(title, abstract)), max_words)


def extract_summary(title: str, abstract: str, max_words: int) -> str:
    """The summary of a version with summary = "abstract", as the reader gets it: the
    contribution sentence, its subject dropped, after the title where it does not name the
    paper's subject, at most max_words words."""
    return with_subject(title, drop_subject(contribution_sentence(title, abstract)), max_words)
