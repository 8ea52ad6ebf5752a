"""Offline structurization (the StruXGPT shape without an LLM).

Consecutive sentences are grouped into aspects where lexical cohesion between neighbours is
high (TextTiling-style); each aspect is named by the rhetorical cue it opens with (aim, method,
result, ...) or by its most frequent content words. The text stays verbatim: aspects only hold
sentence ranges, which cover the document without gaps or overlap.
"""
from __future__ import annotations

import re
from collections import Counter

from corpus.models import Aspect, Document, Sentence, Structure

WORD = re.compile(r"[a-z][a-z\-]{2,}")
STOP = set(
    """the and for with that this from are was were been have has had its their our his her which
    these those than then also into onto over under between about such can may might will would
    could should not but all any each other more most some very using used use based show shows
    shown find found present presents presented here paper work study results result data new two
    one both only well however thus therefore while where when what who how there they them we""".split()
)
CUES: list[tuple[str, tuple[str, ...]]] = [
    ("Aim", ("we present", "in this paper", "this paper", "we propose", "we report", "we investigate", "we study", "aim", "goal", "here we")),
    ("Method", ("we use", "using", "we apply", "we perform", "we develop", "we analys", "we analyz", "method", "we model", "we simulate", "we compute")),
    ("Results", ("we find", "we found", "we show", "we detect", "we measure", "we obtain", "results", "is found", "are found", "we estimate")),
    ("Implications", ("we conclude", "conclude", "suggest", "implies", "imply", "consistent with", "implications", "future", "finally")),
]
MIN_COHESION = 0.08


def structurize(document: Document, sentences: list[Sentence]) -> Structure:
    if not sentences:
        raise ValueError(f"document {document.doc_id!r} has no sentences to structure")
    bags = [Counter(w for w in WORD.findall(s.text.lower()) if w not in STOP) for s in sentences]
    cue_of = [_cue(s.text) for s in sentences]
    boundaries = [0]
    for i in range(1, len(sentences)):
        new_cue = cue_of[i] is not None and cue_of[i] != cue_of[boundaries[-1]]
        if new_cue or _cosine(bags[i - 1], bags[i]) < MIN_COHESION and i - boundaries[-1] >= 2:
            boundaries.append(i)
    boundaries.append(len(sentences))
    aspects = []
    for start, end in zip(boundaries, boundaries[1:]):
        title = cue_of[start] or _keywords(bags[start:end])
        aspects.append(Aspect(title=title, sent_start=start, sent_end=end))
    return Structure(document.doc_id, _scope(document, bags), tuple(aspects), "offline")


def check_coverage(structure: Structure, n_sentences: int) -> str | None:
    """None when top-level aspects cover [0, n) without gaps or overlap, else what is wrong."""
    expected = 0
    for aspect in (a for a in structure.aspects if a.parent is None):
        if aspect.sent_start != expected:
            return f"aspect {aspect.title!r} starts at sentence {aspect.sent_start}, expected {expected}"
        if aspect.sent_end <= aspect.sent_start:
            return f"aspect {aspect.title!r} is empty"
        expected = aspect.sent_end
    return None if expected == n_sentences else f"aspects end at sentence {expected} of {n_sentences}"


def _cue(text: str) -> str | None:
    lowered = text.lower()
    for label, phrases in CUES:
        if any(p in lowered for p in phrases):
            return label
    return None


def _cosine(a: Counter, b: Counter) -> float:
    shared = set(a) & set(b)
    if not shared:
        return 0.0
    dot = sum(a[w] * b[w] for w in shared)
    norm = (sum(v * v for v in a.values()) * sum(v * v for v in b.values())) ** 0.5
    return dot / norm


def _keywords(bags: list[Counter], n: int = 3) -> str:
    total = sum(bags, Counter())
    words = [w for w, _ in total.most_common(n)]
    return " ".join(words).capitalize() if words else "Content"


def _scope(document: Document, bags: list[Counter]) -> str:
    return document.title or _keywords(bags)
