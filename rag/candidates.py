"""The reader's answer candidates in a sentence: its entities of the expected type, noun chunks for
untyped questions, and a passage's title where its first sentence defines it (rag/reader.py scores them)."""

from __future__ import annotations

import re

from rag.answer_types import DATE, NUMBER, PERSON, THING, VALUE_LABELS, QuestionType
from rag.places import place_fit

YEAR = re.compile(r"\b(?:1\d{3}|20\d{2})\b")


def answer_candidates(span, qtype: QuestionType, title: str = "") -> list[tuple[str, float, int, int]]:
    """(surface, type fit, first token, end token) of the sentence's entities, and of its noun chunks for untyped questions.
    Fit: 1 for the expected label next to the focus noun ("14 islands", "Hale County") or with no
    focus to look for, 0.75 for the label alone, 0.5 for the focus alone, 0.25 an untyped noun chunk."""
    found = []
    misplaced, confirmed, named = place_fit(span, qtype.focus)
    for ent in span.ents:
        if ent.label_ == "ORDINAL":
            continue
        near_focus = bool(qtype.focus) and (
            qtype.focus in _lemmas_around(ent) or ent.start in confirmed or _defined_as(ent.root, qtype.focus)
        )
        if ent.label_ in qtype.labels or ent.start in named:
            fit = 1.0 if near_focus or not qtype.focus else 0.75
        else:  # a name beside the focus noun may be of it; a date or an amount never names a place or a person
            fit = 0.5 if near_focus and ent.label_ not in VALUE_LABELS else 0.0
        if ent.start in misplaced or (qtype.kind == PERSON and ent.label_ == "ORG"):
            fit /= 2  # the wrong kind of place; "who" asks for a person more often than for a band or firm
        surface = trim(ent.text)
        if (
            qtype.kind == NUMBER and qtype.focus and surface.lower().endswith(" " + qtype.focus)
        ):  # "14 islands" answers "how many islands" as "14"
            surface = surface[: -len(qtype.focus) - 1]
        if qtype.focus == "year" and ent.label_ == "DATE":  # "what year" asks for the year of "7 December 1988"
            surface = next(iter(YEAR.findall(surface)), surface)
        found.append((surface, fit, ent.start, ent.end))
    if qtype.kind == THING or (qtype.focus and qtype.kind not in (NUMBER, DATE)):  # a number or a date is an entity
        entity_tokens = {t.i for ent in span.ents for t in ent}
        for chunk in span.noun_chunks:
            if any(t.i in entity_tokens for t in chunk) or chunk.root.pos_ == "PRON":
                continue
            fit = (
                0.5
                if qtype.focus and chunk.root.lemma_.lower() == stem(qtype.focus)
                else 0.25
                if qtype.kind == THING
                else 0.0
            )
            if fit > 0:
                found.append((trim(chunk.text), fit, chunk.start, chunk.end))
    if title:
        found += _title_candidate(span, title, qtype, {(c[2], c[3]) for c in found})
    return [c for c in found if c[0]]


def _defined_as(root, focus: str) -> bool:
    """The sentence defines the candidate as a focus noun: "Last Vegas is a 2013 comedy film",
    "Winner, a city in Tripp County"."""
    focus = stem(focus)
    defined = (
        [c for c in root.head.children if c.dep_ == "attr"] if root.dep_ == "nsubj" and root.head.lemma_ == "be" else []
    )
    defined += [c for c in root.children if c.dep_ == "appos"]
    return any(stem(c.lemma_.lower()) == focus or stem(c.lower_) == focus for c in defined)


def bare_title(title: str) -> str:
    """A passage's title without its parenthesised qualifiers: "Theodred II (Bishop of Elmham)" -> "Theodred II"."""
    return re.sub(r"\s*\(.*?\)\s*", " ", title).strip()


def _title_candidate(span, title: str, qtype: QuestionType, taken: set) -> list:
    """A passage's first sentence usually opens with its subject, the title ("Last Vegas is ..."),
    which the entity recogniser may miss; it is a candidate when the sentence defines it as the focus."""
    name = bare_title(title).split(",")[0].strip()
    if not name or not span.text.lower().startswith(name.lower()):
        return []
    count = len(span.doc.text[span.start_char : span.start_char + len(name)].split())
    end = span.start + max(1, len([t for t in span[: count + 3] if t.idx < span.start_char + len(name)]))
    if (span.start, end) in taken or not qtype.focus or not _defined_as(span.doc[end - 1], qtype.focus):
        return []
    return [(trim(span.doc[span.start : end].text), 1.0, span.start, end)]


def _lemmas_around(ent) -> set[str]:
    """The entity's own head word, its syntactic head and the word after it, as lemmas."""
    doc = ent.doc
    # a name ending in the plural of a noun names several of them ("United States" is no "state")
    # (so its own head word counts as written, not by lemma)
    around = {ent.root.text.lower(), ent.root.head.lemma_.lower()}
    if ent.end < len(doc):
        around |= {doc[ent.end].lemma_.lower(), doc[ent.end].text.lower()}
    return around


def trim(text: str) -> str:
    """The candidate without a leading article or possessive tail."""
    text = re.sub(r"^(the|a|an)\s+", "", " ".join(text.split()), flags=re.I)
    return re.sub(r"\s*'s$", "", text).strip(" ,.;:")


def stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
