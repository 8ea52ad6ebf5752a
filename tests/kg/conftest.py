import pytest

from fieldmap.nlp import english
from kg.extract import ChunkText, SpacyExtractor
from schemas import load_schema


@pytest.fixture(scope="session")
def extractor() -> SpacyExtractor:
    return SpacyExtractor(load_schema("science"), english(), embedder=None)


def chunk_text(chunk_id: str, doc_id: str, text: str, offset: int = 0, first_sentence: int = 0) -> ChunkText:
    from corpus.chunking import split_sentences
    from corpus.models import Document

    sentences = split_sentences(Document(doc_id, "", text, "src"))
    return ChunkText(chunk_id, doc_id, text, offset, tuple(offset + s.start for s in sentences), first_sentence)
