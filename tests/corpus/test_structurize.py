from corpus.chunking import split_sentences
from corpus.models import Aspect, Document, Structure
from corpus.structurize import check_coverage, structurize

ABSTRACT = (
    "We present a new survey of dwarf galaxies in the Virgo cluster. "
    "The survey covers forty square degrees of sky. "
    "Using deep imaging we measure the luminosity function of the dwarfs. "
    "We find that the faint end slope is steeper than in the field. "
    "We conclude that environment shapes the dwarf population."
)


def test_aspects_cover_all_sentences_without_gaps_and_keep_text_verbatim():
    doc = Document("d", "Virgo dwarfs", ABSTRACT, "src")
    sentences = split_sentences(doc)
    structure = structurize(doc, sentences)
    assert structure.scope == "Virgo dwarfs"
    assert check_coverage(structure, len(sentences)) is None
    titles = [a.title for a in structure.aspects]
    assert titles[0] == "Aim" and "Results" in titles and titles[-1] == "Implications"
    rendered = structure.render(sentences)
    assert rendered.startswith("Virgo dwarfs.\n1. Aim: We present")
    assert all(s.text in rendered for s in sentences)


def test_coverage_check_names_the_gap():
    structure = Structure("d", "s", (Aspect("a", 0, 2), Aspect("b", 3, 5)), "offline")
    assert "starts at sentence 3, expected 2" in check_coverage(structure, 5)
    assert "end at sentence 2 of 5" in check_coverage(Structure("d", "s", (Aspect("a", 0, 2),), "offline"), 5)
