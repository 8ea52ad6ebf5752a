"""Offline structurization (the StruXGPT shape without an LLM).

Consecutive sentences are grouped into aspects where lexical cohesion between neighbours is
high (TextTiling-style); each aspect is named by the rhetorical cue it opens with (aim, method,
result, ...; whole words only, so "claim" is no "aim") or, when that title is taken or there is no
cue, by its key phrase: the run of content words (up to three) that is most frequent in the aspect
and rarest in the document's other aspects. No title repeats within a document. The text stays
verbatim: aspects only hold sentence ranges, which cover the document without gaps or overlap.
"""

from __future__ import annotations

import math
import re
from collections import Counter, deque
from typing import Iterable, Iterator

from corpus.models import Aspect, Document, Sentence, Structure
from fieldmap.nlp import english, forked

WORD = re.compile(r"[a-z][a-z\-]{2,}")
STOP = set(
    """the and for with that this from are was were been have has had its their our his her which
    these those than then also into onto over under between about such can may might will would
    could should not but all any each other more most some very using used use based show shows
    shown find found present presents presented here paper work study results result data new two
    one both only well however thus therefore while where when what who how there they them we""".split()
)
CUES: list[tuple[str, tuple[str, ...]]] = [
    (
        "Aim",
        (
            "we present",
            "in this paper",
            "this paper",
            "we propose",
            "we report",
            "we investigate",
            "we study",
            "aim",
            "goal",
            "here we",
        ),
    ),
    (
        "Method",
        (
            "we use",
            "using",
            "we apply",
            "we perform",
            "we develop",
            "we analyse",
            "we analyze",
            "method",
            "we model",
            "we simulate",
            "we compute",
        ),
    ),
    (
        "Results",
        (
            "we find",
            "we found",
            "we show",
            "we detect",
            "we measure",
            "we obtain",
            "results",
            "is found",
            "are found",
            "we estimate",
        ),
    ),
    (
        "Implications",
        (
            "we conclude",
            "conclude",
            "suggest",
            "implies",
            "imply",
            "consistent with",
            "implications",
            "future",
            "finally",
        ),
    ),
]
CUE_PATTERNS = [
    (label, re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")(?:s|es|d|ed)?\b"))
    for label, phrases in CUES
]
MIN_COHESION = 0.08
MAX_PHRASE = 3
PHRASE_POS = frozenset({"ADJ", "NOUN", "PROPN"})


def structurize(document: Document, sentences: list[Sentence]) -> Structure:
    return structurize_batch([(document, sentences)])[0]


def structurize_batch(items: list[tuple[Document, list[Sentence]]]) -> list[Structure]:
    """One Structure per (document, sentences), in this process."""
    return list(structurize_stream(items))


def structurize_stream(items: Iterable[tuple[Document, list[Sentence]]], processes: int = 1) -> Iterator[Structure]:
    """One Structure per (document, sentences), in order and lazily. The aspects' texts of the whole
    stream go through one spaCy pipe (the tagger's matrix products over many texts at once), in
    `processes` worker processes when more than one, and each document is named as its texts come back.
    A document's structure depends on its own texts only, so it is the same whichever way it runs."""
    plans: deque[_Plan] = deque()

    def texts() -> Iterator[str]:  # read by spaCy ahead of the tags it returns: a plan is queued before its texts
        for document, sentences in items:
            plans.append(_plan(document, sentences))
            yield from plans[-1].texts

    tagged: list = []
    for doc in _tag(texts(), processes):
        tagged.append(doc)
        if len(tagged) == len(plans[0].texts):  # every plan has one text or more
            yield plans.popleft().structure(tagged)
            tagged = []


class _Plan:
    """A document's aspect boundaries and cues, and the texts whose tags name its aspects (and its
    scope when it has no title)."""

    def __init__(
        self,
        document: Document,
        sentences: list[Sentence],
        bags: list[Counter],
        cues: list[str | None],
        spans: list[tuple[int, int]],
    ):
        self.document, self.bags, self.cues, self.spans = document, bags, cues, spans
        self.texts = [" ".join(s.text for s in sentences[a:b])[:KEY_PHRASE_CHARS] for a, b in spans]
        if not document.title:
            self.texts.append(" ".join(s.text for s in sentences)[:KEY_PHRASE_CHARS])

    def structure(self, docs: list) -> Structure:
        bags = [self.bags[a:b] for a, b in self.spans]
        titles = _titles([self.cues[start] for start, _ in self.spans], docs[: len(self.spans)], bags)
        aspects = tuple(
            Aspect(title=title, sent_start=start, sent_end=end) for title, (start, end) in zip(titles, self.spans)
        )
        scope = self.document.title or (_key_phrases(docs[-1], [set(sum(self.bags, Counter()))], 0) or ["Content"])[0]
        return Structure(self.document.doc_id, scope, aspects, "offline")


def _plan(document: Document, sentences: list[Sentence]) -> _Plan:
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
    return _Plan(document, sentences, bags, cue_of, list(zip(boundaries, boundaries[1:])))


def _titles(cues: list[str | None], docs: list, bags: list[list[Counter]]) -> list[str]:
    """One title per aspect, none repeated: its cue, else its best key phrase not yet used."""
    aspect_words = [set(sum(b, Counter())) for b in bags]
    used: set[str] = set()
    titles = []
    for number, (cue, doc) in enumerate(zip(cues, docs)):
        options = ([cue] if cue else []) + _key_phrases(doc, aspect_words, number)
        title = next((o for o in options if o.lower() not in used), None) or f"Part {number + 1}"
        used.add(title.lower())
        titles.append(title)
    return titles


# an aspect's key phrase is read from its first 100,000 characters: far below spaCy's 1,000,000-character
# limit (a 2-million-character record is one aspect), and more than any aspect title needs
KEY_PHRASE_CHARS = 100_000


def _key_phrases(doc, aspect_words: list[set[str]], own: int) -> list[str]:
    """Noun phrases of up to MAX_PHRASE words (adjectives and nouns ending in a noun, by spaCy's
    tagger, in the tagged `doc`), best first: words frequent here and rare in the document's other
    aspects (tf x idf over its aspects); a phrase said twice scores above one said once."""
    runs: list[list] = [[]]
    for token in doc:
        if token.pos_ in PHRASE_POS and WORD.fullmatch(token.lower_) and token.lower_ not in STOP:
            runs[-1].append(token)
        elif runs[-1]:
            runs.append([])
    tf = Counter(t.lower_ for run in runs for t in run)
    idf = {w: math.log(1 + len(aspect_words) / max(1, sum(w in words for words in aspect_words))) for w in tf}
    phrases: dict[str, tuple[float, int, str]] = {}
    for run in runs:
        for size in range(min(MAX_PHRASE, len(run)), 0, -1):
            for start in range(len(run) - size + 1):
                words = run[start : start + size]
                if words[-1].pos_ not in ("NOUN", "PROPN"):
                    continue
                key = " ".join(t.lower_ for t in words)
                score = sum(tf[t.lower_] * idf[t.lower_] for t in words)
                seen = phrases.get(key)
                phrases[key] = (
                    score + (0.5 if seen else 0.0),
                    seen[1] if seen else len(phrases),
                    " ".join(t.text for t in words),
                )
    ranked = sorted(phrases.values(), key=lambda p: (-p[0], p[1]))
    return [_capitalised(surface) for _, _, surface in ranked]


def _tag(texts: Iterable[str], processes: int = 1) -> Iterator:
    """The texts through spaCy's English pipeline with only what titles read: tokens and their coarse
    part of speech (tok2vec, tagger, attribute_ruler); no parser, NER or lemmatizer."""
    nlp = english()
    unused = [name for name in ("parser", "ner", "lemmatizer") if name in nlp.pipe_names]
    if processes > 1:
        return forked(nlp.pipe(texts, disable=unused, batch_size=128, n_process=processes))
    return nlp.pipe(texts, disable=unused, batch_size=256)


def _capitalised(phrase: str) -> str:
    return phrase[:1].upper() + phrase[1:]


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
    for label, pattern in CUE_PATTERNS:
        if pattern.search(lowered):
            return label
    return None


def _cosine(a: Counter, b: Counter) -> float:
    shared = set(a) & set(b)
    if not shared:
        return 0.0
    dot = sum(a[w] * b[w] for w in shared)
    norm = (sum(v * v for v in a.values()) * sum(v * v for v in b.values())) ** 0.5
    return dot / norm
