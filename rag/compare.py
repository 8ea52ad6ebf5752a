"""Choice questions ("Which is older, A or B?"): the comparative's direction and the value a
sentence gives, to pick the option the passages support (used by rag/reader.py)."""

from __future__ import annotations

import re

EARLY = re.compile(r"\b(first|earlier|earliest|older|oldest|before|sooner)\b", re.I)
LATE = re.compile(r"\b(later|latest|last|younger|youngest|newer|newest|recent|after)\b", re.I)
MORE = re.compile(
    r"\b(more|most|larger|largest|bigger|biggest|longer|longest|higher|highest|taller|tallest|greater)\b", re.I
)
LESS = re.compile(r"\b(fewer|less|least|smaller|smallest|shorter|shortest|lower|lowest)\b", re.I)


def comparative(question: str) -> int:
    """-1: the option with the smaller value wins (earlier, fewer), 1: the larger, 0: no comparative."""
    if EARLY.search(question) or LESS.search(question):
        return -1
    if LATE.search(question) or MORE.search(question):
        return 1
    return 0


def first_value(span) -> float | None:
    """The first year or number in the sentence."""
    for ent in span.ents:
        if ent.label_ in ("DATE", "CARDINAL", "QUANTITY", "MONEY", "PERCENT"):
            digits = re.search(r"\d[\d,]*(\.\d+)?", ent.text)
            if digits:
                return float(digits.group().replace(",", ""))
    return None


def pick(best: list, direction: int):
    """The option with the winning value, else the first option mentioned."""
    valued = [b for b in best if b[0] is not None]
    if direction and len(valued) == len(best) and len({b[0] for b in valued}) > 1:
        return (min if direction < 0 else max)(valued, key=lambda b: b[0])
    mentioned = [b for b in best if b[1] is not None]
    return min(mentioned, key=lambda b: b[1]) if mentioned else None
