"""Entity names normalised for exact merging: case, whitespace, determiners, plural heads."""

from __future__ import annotations

import hashlib
import re

LEADING = {
    "a",
    "an",
    "the",
    "this",
    "that",
    "these",
    "those",
    "our",
    "its",
    "their",
    "his",
    "her",
    "my",
    "your",
    "some",
    "any",
    "each",
    "every",
    "such",
    "both",
    "all",
    "several",
    "many",
    "various",
    "new",
    "other",
}
EDGE_PUNCT = " \t\n\"'`.,;:!?()[]{}<>-–—*_~"
# plurals the lemmatiser gets wrong: "data" is not "datum"; "physics", "dynamics", "statistics" are not plurals
KEEP_AS_IS = {"data", "series", "species", "news", "means", "physics", "mechanics"}
# Latin and Greek plurals the tagger often leaves as singular nouns
IRREGULAR = {
    "spectra": "spectrum",
    "phenomena": "phenomenon",
    "nebulae": "nebula",
    "supernovae": "supernova",
    "formulae": "formula",
    "criteria": "criterion",
    "antennae": "antenna",
    "maxima": "maximum",
    "minima": "minimum",
}


def normalize_name(text: str, head_lemma: str | None = None) -> str:
    """Lowercase, single-spaced, no leading determiners or edge punctuation; the last word replaced
    by its lemma when one is given (so "galaxies" and "galaxy" merge), except for words whose
    singular is not what they mean ("data", "-ics" disciplines and properties like "dynamics");
    Latin and Greek plurals ("spectra") become singular whatever the tagger said."""
    words = " ".join(text.lower().split()).strip(EDGE_PUNCT).split(" ")
    while len(words) > 1 and words[0] in LEADING:
        words = words[1:]
    if (
        head_lemma
        and words
        and re.fullmatch(r"[a-z]+", words[-1])
        and head_lemma.isalpha()
        and not _keeps_plural(words[-1])
    ):
        words[-1] = head_lemma.lower()
    if words and words[-1] in IRREGULAR:
        words[-1] = IRREGULAR[words[-1]]
    return " ".join(words).strip(EDGE_PUNCT)


def _keeps_plural(word: str) -> bool:
    return word in KEEP_AS_IS or word.endswith("ics")


def entity_id(norm_name: str) -> str:
    return "e:" + hashlib.sha1(norm_name.encode("utf-8")).hexdigest()[:16]
