from corpus.chunking import split_sentences
from corpus.models import Aspect, Document, Structure
from corpus.structurize import check_coverage, structurize, structurize_batch

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


def test_cues_match_whole_words_only():
    from corpus.structurize import _cue

    assert _cue("The claim rests on two observations.") is None  # "aim" inside "claim"
    assert _cue("Our aim is to map the halo.") == "Aim"
    assert _cue("These results suggest a young population.") in ("Results", "Implications")
    assert _cue("The methodology is described.") is None  # "method" inside "methodology"


def test_titles_are_cues_or_key_noun_phrases_and_never_repeat_within_a_document():
    text = (
        "We find that the dust temperature rises towards the cluster core. "
        "The dust temperature profile is flat beyond one megaparsec. "
        "Magnetic fields thread the intracluster medium. Faraday rotation maps trace these magnetic fields. "
        "We find that the radio halo brightness follows the gas pressure. The radio halo spectrum steepens outwards. "
        "Satellite galaxies arrived late. Blue satellite galaxies dominate the outskirts."
    )
    doc = Document("d2", "", text, "src")
    sentences = split_sentences(doc)
    structure = structurize(doc, sentences)
    titles = [a.title for a in structure.aspects]
    assert len(titles) == len({t.lower() for t in titles}) >= 3
    assert titles.count("Results") <= 1
    words = " ".join(s.text for s in sentences)
    for title in titles:
        if title not in ("Aim", "Method", "Results", "Implications"):
            assert title.lower() in words.lower()  # a phrase of the text, not a bag of frequent words
    assert any("magnetic field" in t.lower() for t in titles)
    assert structure.scope and structure.scope.lower() in words.lower()


def test_a_batch_structures_each_document_as_it_would_alone():
    """The step tags a batch's aspects in one spaCy pipe; each document's structure must not depend on
    the others (titled and untitled documents mixed, an untitled one's scope read from its tags)."""
    import json
    from pathlib import Path

    records = [json.loads(line) for line in (Path(__file__).parents[1] / "fixtures" / "arxiv-20.jsonl").open()]
    docs = [Document(r["id"], r["title"] if i % 3 else "", r["summary"], "src") for i, r in enumerate(records)]
    items = [(doc, split_sentences(doc)) for doc in docs]
    batch = structurize_batch(items)
    assert batch == [structurize(doc, sentences) for doc, sentences in items]
    assert all(check_coverage(s, len(sentences)) is None for s, (_, sentences) in zip(batch, items))
    assert all(s.scope for s in batch) and any(not doc.title for doc in docs)


def test_worker_processes_give_the_structures_of_one_process():
    """Tagged in two spaCy worker processes (the step's default on large inputs), streamed in order:
    the same structures as in this process, and a stream that ends mid-batch still ends with its last document."""
    import json
    from pathlib import Path

    from corpus.structurize import structurize_stream

    records = [json.loads(line) for line in (Path(__file__).parents[1] / "fixtures" / "arxiv-20.jsonl").open()]
    docs = [Document(r["id"], r["title"] if i % 4 else "", r["summary"], "src") for i, r in enumerate(records)]
    items = [(doc, split_sentences(doc)) for doc in docs]
    streamed = list(structurize_stream(iter(items), processes=2))
    assert [s.doc_id for s in streamed] == [doc.doc_id for doc in docs]
    assert streamed == structurize_batch(items)
