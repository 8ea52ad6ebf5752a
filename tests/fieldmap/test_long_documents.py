"""A record of 2,000,000 characters (twice spaCy's max_length, error E088 on main) is parsed in pieces and indexed in full."""

import json
from pathlib import Path

import pytest

from corpus.chunking import MAX_CHUNK_CHARS, MAX_SENTENCE_CHARS, chunk_document
from corpus.models import Document
from fieldmap.nlp import sentence_splitter
from fieldmap.store import connect
from pipelines.run import run_pipeline
from tests.conftest import FIXTURES, make_settings

LENGTH = 2_000_000
PROSE = (
    "Submillimetre interferometric observations characterise protoplanetary disks around young stars. "
    "The Atacama Large Millimeter Array resolved rings and gaps in the dust continuum.\n\n"
)


def _covers(document: Document, sentences, chunks) -> None:
    """Sentences are verbatim, in order, without overlap, and lose nothing but whitespace; chunks are verbatim and reach the end."""
    assert all(document.text[s.start : s.end] == s.text for s in sentences)
    assert all(a.end <= b.start for a, b in zip(sentences, sentences[1:]))
    assert "".join("".join(s.text.split()) for s in sentences) == "".join(document.text.split())
    assert all(c.text == document.text[c.start : c.end] for c in chunks) and chunks[-1].sent_end == len(sentences)


def test_prose_over_spacys_limit_is_split_into_whole_sentences():
    text = (PROSE * (LENGTH // len(PROSE) + 1))[:LENGTH]
    assert len(text) > sentence_splitter().max_length
    document = Document("long", "Long", text, "src")
    sentences, chunks = chunk_document(document, 200, 1)
    _covers(document, sentences, chunks)
    whole = {
        "Submillimetre interferometric observations characterise protoplanetary disks around young stars.",
        "The Atacama Large Millimeter Array resolved rings and gaps in the dust continuum.",
    }
    assert {s.text for s in sentences[:-1]} == whole  # no sentence is cut where the pieces meet
    assert max(len(c.text.split()) for c in chunks) <= 200 + 20


def test_text_without_sentence_ends_or_spaces_is_cut_below_the_limits():
    document = Document("dump", "Dump", "x" * LENGTH, "src")
    sentences, chunks = chunk_document(document, 200, 1)
    _covers(document, sentences, chunks)
    assert max(len(s.text) for s in sentences) <= MAX_SENTENCE_CHARS
    assert max(c.end - c.start for c in chunks) <= MAX_CHUNK_CHARS


def _layout(sentences: int, gap: int) -> str:
    """Text as a layout-keeping PDF converter writes it: short lines of prose between wide runs of whitespace."""
    return "".join(
        f"The Chandra telescope observed the Crab Nebula and its pulsar on night {i}." + " " * gap + "\n"
        for i in range(sentences)
    )


@pytest.mark.slow  # 12 million characters: benchmark-sized, out of the fast tier
def test_wide_whitespace_between_sentences_never_makes_a_chunk_over_the_limit():
    document = Document("layout", "Layout", _layout(40, 300_000), "src")  # 12 million characters
    sentences, chunks = chunk_document(document, 200, 1)
    _covers(document, sentences, chunks)
    assert len(sentences) == 40 and max(c.end - c.start for c in chunks) <= MAX_CHUNK_CHARS


def test_a_two_million_character_record_does_not_stop_the_run(tmp_path: Path):
    # a sequence appendix (the loader folds whitespace, so the 2,000,000 characters are text): long tokens keep the parse quick
    text = ("Appendix: the repeat region. " + " ".join(["GATTACA" * 70] * (LENGTH // 491 + 1)))[:LENGTH]
    corpus = tmp_path / "corpus.jsonl"
    normal = (FIXTURES / "arxiv-20.jsonl").read_text().splitlines()[:2]
    corpus.write_text(
        "\n".join([normal[0], json.dumps({"id": "huge", "title": "Huge", "text": text}), normal[1]]) + "\n"
    )
    settings = make_settings(
        tmp_path / "ws", corpus, spacy_processes=1, max_document_chars=LENGTH
    )  # over the default limit: raised
    result = run_pipeline(settings)
    assert result.success
    con = connect(settings.duckdb_path, read_only=True)
    try:
        per_document = dict(con.execute("SELECT doc_id, count(*) FROM chunks GROUP BY doc_id").fetchall())
        stored = con.execute("SELECT text FROM documents WHERE doc_id = 'huge'").fetchall()[0][0]
        skipped = con.execute("SELECT count(*) FROM skipped").fetchall()[0][0]
    finally:
        con.close()
    assert len(stored) == LENGTH and skipped == 0
    assert per_document["huge"] == len(
        chunk_document(Document("huge", "Huge", stored, str(corpus)), settings.chunk_size, settings.chunk_overlap)[1]
    )
    assert len(per_document) == 3 and all(n > 0 for n in per_document.values())  # the other documents are indexed too
