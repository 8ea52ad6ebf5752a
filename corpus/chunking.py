"""Sentence-aware chunking: whole sentences packed up to a word budget, with sentence overlap.

Chunk ids are `<doc_id>#<index>`: stable across runs for the same text and settings.

Very long documents are parsed in pieces: spaCy refuses a text over `nlp.max_length` characters
(1,000,000 by default, error E088), and its parser needs about 1 GB per 100,000 characters, so
  - the splitter runs on pieces of at most PIECE_CHARS characters, cut at a paragraph, line,
    sentence or word break (a document under that size is one piece, as before);
  - a "sentence" longer than MAX_SENTENCE_CHARS (a table, a log dump, text without full stops)
    is cut at spaces into parts no longer than that;
  - a chunk spans at most MAX_CHUNK_CHARS characters, overlap and whitespace between sentences
    included, so every text the extractor's parser sees stays small whatever the document.
"""

from __future__ import annotations

import re
from typing import Iterator

from corpus.models import Chunk, Document, Sentence
from fieldmap.nlp import sentence_splitter

PIECE_CHARS = 100_000  # well under spaCy's 1,000,000 and cheap for the sentencizer; abstracts and papers are one piece
MAX_SENTENCE_CHARS = 5_000  # ~750 words: no prose sentence is longer, and a parse of this size takes a few MB
MAX_CHUNK_CHARS = (
    20_000  # 200 words of prose are ~1,300 characters: this binds only on very long words or wide whitespace
)
BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"[.!?]\s"), re.compile(r"\s"))


def split_sentences(document: Document) -> list[Sentence]:
    """The document's sentences with exact character offsets, however long the document."""
    splitter = sentence_splitter()
    limit = min(PIECE_CHARS, splitter.max_length - 1)  # never hand spaCy more than it accepts
    sentences: list[Sentence] = []
    for offset, piece in _pieces(document.text, limit):
        for span in splitter(piece).sents:
            for start, end in _parts(piece, span.start_char, span.end_char, MAX_SENTENCE_CHARS):
                sentences.append(
                    Sentence(document.doc_id, len(sentences), offset + start, offset + end, piece[start:end])
                )
    return sentences


def _pieces(text: str, limit: int) -> Iterator[tuple[int, str]]:
    """(offset, piece) covering `text` in order, each at most `limit` characters."""
    for start, end in _parts(text, 0, len(text), limit, strip=False):
        yield start, text[start:end]


def _parts(text: str, start: int, end: int, limit: int, strip: bool = True) -> Iterator[tuple[int, int]]:
    """[start, end) cut into spans of at most `limit` characters at the latest break in the second
    half of each window (paragraph, then line, sentence end, space; else a hard cut); with `strip`,
    whitespace at either end of a span is left out and spans of whitespace only are dropped."""
    while start < end:
        while strip and start < end and text[start].isspace():
            start += 1
        if start == end:
            return
        cut = end if end - start <= limit else _break(text, start, start + limit)
        stop = cut
        while strip and stop > start and text[stop - 1].isspace():
            stop -= 1
        if stop > start:
            yield start, stop
        start = cut


def _break(text: str, start: int, stop: int) -> int:
    """The position just after the latest break in text[(start+stop)/2 : stop], else `stop`."""
    middle = (start + stop) // 2
    for pattern in BREAKS:
        found = [m.end() for m in pattern.finditer(text, middle, stop)]
        if found:
            return found[-1]
    return stop


def chunk_sentences(document: Document, sentences: list[Sentence], chunk_size: int, overlap: int) -> list[Chunk]:
    """Pack sentences into chunks of at most chunk_size words (a longer sentence stands alone)."""
    if chunk_size < 1 or overlap < 0:
        raise ValueError("chunk_size must be >= 1 and overlap >= 0")
    chunks: list[Chunk] = []
    first = 0
    own_first = 0
    while own_first < len(sentences):
        end = own_first
        words = sum(len(s.text.split()) for s in sentences[first:own_first])
        while end < len(sentences) and (
            end == own_first
            or (
                words + len(sentences[end].text.split()) <= chunk_size
                and sentences[end].end - sentences[first].start <= MAX_CHUNK_CHARS
            )
        ):
            words += len(sentences[end].text.split())
            end += 1
        start_char, end_char = sentences[first].start, sentences[end - 1].end
        chunks.append(
            Chunk(
                chunk_id=f"{document.doc_id}#{len(chunks)}",
                doc_id=document.doc_id,
                index=len(chunks),
                text=document.text[start_char:end_char],
                start=start_char,
                end=end_char,
                sent_start=first,
                sent_end=end,
                own_sent_start=own_first,
            )
        )
        own_first = end
        first = max(end - overlap, 0) if end < len(sentences) else end
        # overlap must never swallow a whole budget; shrink it when the tail is long
        while first < own_first and (
            sum(len(s.text.split()) for s in sentences[first:own_first]) > chunk_size // 2
            or sentences[own_first].end - sentences[first].start > MAX_CHUNK_CHARS
        ):
            first += 1
    return chunks


def chunk_document(document: Document, chunk_size: int = 200, overlap: int = 1) -> tuple[list[Sentence], list[Chunk]]:
    sentences = split_sentences(document)
    return sentences, chunk_sentences(document, sentences, chunk_size, overlap)
