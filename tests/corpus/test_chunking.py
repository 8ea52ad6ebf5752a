from corpus.chunking import chunk_document, chunk_sentences, split_sentences
from corpus.models import Document

TEXT = " ".join(f"Sentence number {i} talks about galaxies and stars in some detail." for i in range(12))


def test_sentences_carry_exact_offsets():
    doc = Document("d", "t", TEXT, "src")
    sentences = split_sentences(doc)
    assert len(sentences) == 12
    assert all(doc.text[s.start : s.end] == s.text for s in sentences)


def test_chunks_respect_the_word_budget_overlap_by_one_sentence_and_cover_everything():
    doc = Document("d", "t", TEXT, "src")
    sentences, chunks = chunk_document(doc, chunk_size=30, overlap=1)
    assert len(chunks) > 3
    assert all(len(c.text.split()) <= 30 + 10 for c in chunks)
    assert chunks[0].own_sent_start == 0
    for previous, chunk in zip(chunks, chunks[1:]):
        assert chunk.sent_start == previous.sent_end - 1  # one sentence of overlap
        assert chunk.own_sent_start == previous.sent_end  # owned sentences never overlap
    assert chunks[-1].sent_end == len(sentences)
    assert all(c.text == doc.text[c.start : c.end] for c in chunks)


def test_chunk_ids_are_stable_across_runs():
    doc = Document("paper-7", "t", TEXT, "src")
    first = [c.chunk_id for c in chunk_document(doc, 30, 1)[1]]
    assert first == [c.chunk_id for c in chunk_document(doc, 30, 1)[1]]
    assert first[0] == "paper-7#0"


def test_a_sentence_longer_than_the_budget_stands_alone():
    doc = Document("d", "t", "Short one. " + "word " * 50 + "end. Another short one.", "src")
    sentences, chunks = chunk_document(doc, chunk_size=10, overlap=0)
    assert [(c.sent_start, c.sent_end) for c in chunks] == [(0, 1), (1, 2), (2, 3)]
    assert chunk_sentences(doc, sentences, 1000, 0)[0].sent_end == 3
