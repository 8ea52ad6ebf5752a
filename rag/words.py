"""Content words: the one stop list, and a text's words without it, for the reader, the citations and hipporag's
recognition rule."""

from __future__ import annotations

import re

from rag.candidates import stem

STOP = frozenset(
    "a an the of in on at to for from by with and or is was were be been being are am who whom whose what when where which "
    "how why did does do that this these those as its it his her their he she they them there here into than then also "
    "not no but if so such can could would should will may might has have had what's name named called one her him its "
    "she he we you your our my me us".split()
)
WORD = re.compile(r"[A-Za-z0-9]+")


def content_words(text: str) -> set[str]:
    return {stem(w) for w in WORD.findall(text.lower()) if w not in STOP and (len(w) > 1 or w.isdigit())}


def lemma_words(span) -> set[str]:
    """content_words of a parsed text, by lemma ("received" and "receive" match), plus the words as written."""
    return {
        stem(t.lemma_.lower())
        for t in span
        if t.lower_ not in STOP and WORD.fullmatch(t.lower_) and (len(t) > 1 or t.is_digit)
    } | content_words(span.text)


def fact_words(text: str) -> set[str]:
    """The unstemmed words of three letters or more, not stop words: hipporag's recognition keeps a fact that shares one
    with the question (stemmed content_words would keep other facts: 18 of MuSiQue's 500 top facts)."""
    return {w for w in "".join(c.lower() if c.isalnum() else " " for c in text).split() if w not in STOP and len(w) > 2}
