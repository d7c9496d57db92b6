"""Faithfulness of a summary to its paper: do its numbers and names all occur in the title or abstract?

A cheap check for the commonest invented facts of a small model, needing no reference summary
and no model. It is a check on surface forms, not on meaning: a summary that passes can still
say something false, and one that fails may only have written a number or a name differently.

Definitions (one place, used by every version and baseline):

* Source: the paper's title and abstract together.
* Numbers: digit sequences not glued to a letter or a point before them ("F1", "v2" hold no
  number; "GPT-4", "7B", "10x", "0.7-0.8" give 4, 7, 10, 0.7 and 0.8: a unit glued after a
  number is not checked), with an optional decimal part. Compared by value: thousands commas
  dropped ("1,000" = "1000"), trailing zeros of a decimal part dropped ("0.90" = "0.9"). A
  number followed by "%", "percent" or "per cent" (a space between allowed) is a percentage and
  must occur as one in the source ("3.5%" = "3.5 %" = "3.5 percent" = LaTeX "3.5\\%"); a bare
  number may occur in either form. A number in the summary also matches a source number with
  more decimals that rounds (half up) or truncates to it ("0.86" and "0.85" for 0.855, "43"
  for 43.13). The source's number words "zero" to "twenty", the tens and "hundred" count as
  their digits ("one billion" gives 1); the summary's number words are not checked.
* Names: tokens (split at white space, "/" and "+", surrounding punctuation stripped) that do
  not start with a digit and either have a capital after their first character (acronyms and
  camel case: "BERT", "LLMs", "ImageNet", "GPT-4", "mBERT"), wherever they stand, or start with
  a capital and are neither at the start of a sentence (the summary's first token, or one after
  a token ending in . ! ? or :) nor a common function word ("The", "We", "In", ...).
* A name occurs if the source has it case-sensitively as a whole word (no letter, digit or
  underscore either side), up to a plural or possessive on either side ("LLMs" matches "LLM",
  "BERT's" "BERT", "Transformer" "Transformers"); a name ending in a letter may be followed by
  digits in the source ("CIFAR" matches "CIFAR10"). A hyphenated name that does not occur whole
  is looked for part by part ("Transformer-based": "Transformer"), unless a part is a number
  ("GPT-4" must occur whole). An acronym (2 to 6 capitals, plural allowed) also occurs where
  consecutive words of the source, not counting function words, start with its letters
  ("LLMs": "large language models"); one absent in both forms does not occur. A missing number
  inside a missing name is reported with the name only.

A summary is faithful when every number and name it has occurs. The share is over the summaries
present (a missing summary is neither); it needs no reference summaries.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Sequence

from pydantic import BaseModel

from .metrics import bootstrap_mean

MAX_EXAMPLES = 20  # unfaithful summaries kept in the JSON report

_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?![\d,])|\d+)(?:\.(\d+))?(\s?(?:\\?%|percent\b|per\s?cent\b))?", re.I)
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100"}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
_STRIP = "\"'“”‘’()[]{}<>,;:.!?*`"
_SPLIT = re.compile(r"[/+]")
_SENTENCE_END = (".", "!", "?", ":")
_COMMON = set(
    "A An The This That These Those It Its We Our Us They Their Them He She His Her I You "
    "In On For And But Or Nor So With Without To Of By From As At Into Over Under Via Using "
    "Both Each Every All Some Most More Many No Not Then Than When While Where Which Who What".split()
)
_FUNCTION_WORDS = {w.lower() for w in _COMMON} | {"is", "are", "be", "was", "were", "has", "have", "its"}
_ACRONYM = re.compile(r"[A-Z]{2,6}")


class UnfaithfulExample(BaseModel):
    """A summary with a number or name that its paper's title and abstract do not have."""

    id: str
    summary: str
    unsupported: list[str]  # as written in the summary


class Faithfulness(BaseModel):
    """The share of summaries whose numbers and names all occur in their paper (module docstring)."""

    n: int  # summaries present
    share: float | None  # None when no summary is present
    share_ci: tuple[float, float] | None  # 95% percentile bootstrap over papers
    n_unfaithful: int
    examples: list[UnfaithfulExample]  # the first MAX_EXAMPLES unfaithful summaries, in paper order


def source_text(title: str, abstract: str) -> str:
    """What a summary's numbers and names are looked for in."""
    return f"{title}\n{abstract}"


def _value(whole: str, fraction: str | None) -> str:
    fraction = (fraction or "").rstrip("0")
    return str(int(whole.replace(",", ""))) + (f".{fraction}" if fraction else "")


def numbers(text: str) -> list[tuple[str, str, bool]]:
    """The numbers of a text: (as written, normalised value, is a percentage)."""
    return [(m.group(0).strip(), _value(m.group(1), m.group(2)), m.group(3) is not None) for m in _NUMBER.finditer(text)]


def _number_occurs(value: str, candidates: set[str]) -> bool:
    if value in candidates:
        return True
    places = len(value.partition(".")[2])
    step = Decimal(1).scaleb(-places)
    return any(
        len(c.partition(".")[2]) > places and value in {str(Decimal(c).quantize(step, rounding=r)) for r in (ROUND_HALF_UP, ROUND_DOWN)}
        for c in candidates
    )


def _is_name(token: str, sentence_start: bool) -> bool:
    if not token or token[0].isdigit() or not any(c.isupper() for c in token):
        return False
    if any(c.isupper() for c in token[1:]):
        return True  # acronym or camel case, wherever it stands
    return token[0].isupper() and not sentence_start and token not in _COMMON


def _names(summary: str) -> list[tuple[str, bool]]:
    """The summary's names, each with whether it starts a sentence."""
    found: list[tuple[str, bool]] = []
    start = True
    for raw in summary.split():
        for part in _SPLIT.split(raw):
            part = part.strip(_STRIP)
            if _is_name(part, start):
                found.append((part, start))
            start = False
        start = raw.rstrip("\"'”’)]").endswith(_SENTENCE_END)
    return found


def names(summary: str) -> list[str]:
    """The names of a summary, in order (module docstring)."""
    return [name for name, _ in _names(summary)]


def _forms(name: str) -> list[str]:
    base = re.sub(r"['’]s?$", "", name)
    forms = {base}
    if len(base) > 3 and base.endswith("es"):
        forms.add(base[:-2])
    if len(base) > 2 and base.endswith("s"):
        forms.add(base[:-1])
    return sorted(forms, key=len, reverse=True)


def _spelled_out(acronym: str, source: str) -> bool:
    """Whether consecutive content words of the source start with the acronym's letters."""
    return any(acronym.lower() in "".join(w[0].lower() for w in run.split()) for run in _content_runs(source))


def _content_runs(source: str) -> list[str]:
    """The source cut into runs of content words: at punctuation and at function words."""
    runs: list[str] = []
    for piece in re.split(r"[^\w\s-]+", source):
        run: list[str] = []
        for word in re.findall(r"[^\W\d_]+", piece):
            if word.lower() in _FUNCTION_WORDS:
                runs.append(" ".join(run))
                run = []
            else:
                run.append(word)
        runs.append(" ".join(run))
    return [r for r in runs if r]


def name_occurs(name: str, source: str) -> bool:
    """Whether the source has the name (module docstring): as a whole word, case-sensitively, up
    to a plural or possessive; an acronym also spelled out."""
    alternatives = "|".join(re.escape(f) for f in _forms(name))
    digits = r"\d*" if name[-1].isalpha() else ""  # "CIFAR" in "CIFAR10", not "GPT-3" in "GPT-35"
    if re.search(rf"(?<!\w)(?:{alternatives})(?:s|es|['’]s?|{digits})(?!\w)", source):
        return True
    return any(_ACRONYM.fullmatch(f) is not None and _spelled_out(f, source) for f in _forms(name))


def _unsupported_names(summary: str, source: str) -> list[str]:
    missing = []
    for name, start in _names(summary):
        if name_occurs(name, source):
            continue
        parts = name.split("-")
        if len(parts) > 1 and not any(p.isdigit() for p in parts):
            missing += [p for i, p in enumerate(parts) if _is_name(p, start and i == 0) and not name_occurs(p, source)]
        else:
            missing.append(name)
    return missing


def unsupported(summary: str, source: str) -> list[str]:
    """The summary's numbers and names that the source does not have (empty: faithful), as
    written in the summary, each once, in order."""
    values, percents = set(), set()
    for _, value, percent in numbers(source):
        values.add(value)
        if percent:
            percents.add(value)
    values |= {_NUMBER_WORDS[m.group(1).lower()] for m in _NUMBER_WORD.finditer(source)}
    missing = [written for written, value, percent in numbers(summary) if not _number_occurs(value, percents if percent else values)]
    names_missing = _unsupported_names(summary, source)
    in_names = {part for name in names_missing for part in name.split("-")}  # "GPT-9" is reported, not its 9 too
    return list(dict.fromkeys([m for m in missing if m not in in_names] + names_missing))


def faithfulness(ids: Sequence[str], summaries: Sequence[str | None], missing: Sequence[list[str] | None], seed: int = 0) -> Faithfulness:
    """The share of faithful summaries among those present, from each paper's unsupported tokens
    (None: the paper has no summary), with a bootstrap interval and the first unfaithful ones."""
    present = [(i, s, m) for i, s, m in zip(ids, summaries, missing) if s and m is not None]
    estimate = bootstrap_mean([float(not m) for _, _, m in present], seed=seed)
    bad = [UnfaithfulExample(id=i, summary=s, unsupported=m) for i, s, m in present if m]
    return Faithfulness(
        n=len(present),
        share=estimate[0] if estimate else None,
        share_ci=estimate[1] if estimate else None,
        n_unfaithful=len(bad),
        examples=bad[:MAX_EXAMPLES],
    )
