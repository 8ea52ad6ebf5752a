"""Sentence-aware chunking: whole sentences packed up to a word budget, with sentence overlap.

Chunk ids are `<doc_id>#<index>`: stable across runs for the same text and settings.
"""
from __future__ import annotations

from corpus.models import Chunk, Document, Sentence
from fieldmap.nlp import sentence_splitter


def split_sentences(document: Document) -> list[Sentence]:
    spacy_doc = sentence_splitter()(document.text)
    sentences = []
    for span in spacy_doc.sents:
        text = span.text.strip()
        if text:
            start = span.start_char + (len(span.text) - len(span.text.lstrip()))
            sentences.append(Sentence(document.doc_id, len(sentences), start, start + len(text), text))
    return sentences


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
        while end < len(sentences) and (end == own_first or words + len(sentences[end].text.split()) <= chunk_size):
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
        while first < own_first and sum(len(s.text.split()) for s in sentences[first:own_first]) > chunk_size // 2:
            first += 1
    return chunks


def chunk_document(document: Document, chunk_size: int = 200, overlap: int = 1) -> tuple[list[Sentence], list[Chunk]]:
    sentences = split_sentences(document)
    return sentences, chunk_sentences(document, sentences, chunk_size, overlap)
