import itertools

from kg.normalize import entity_id, normalize_name
from tests.kg.conftest import chunk_text

TEXT = "Massive galaxies heat the surrounding gas. The Hubble Space Telescope observed the Crab Nebula in 2004."


def test_mentions_are_typed_by_the_schema_and_point_at_their_text_and_sentence(extractor):
    [extraction] = extractor.extract([chunk_text("d#0", "d", TEXT)])
    by_name = {m.norm_name: m for m in extraction.mentions}
    telescope = by_name["hubble space telescope"]
    assert telescope.type == "instrument"
    assert TEXT[telescope.start : telescope.end] == "Hubble Space Telescope"
    assert telescope.sent_index == 1
    assert by_name["massive galaxy"].type == "object" and by_name["massive galaxy"].sent_index == 0
    assert not any(m.norm_name in ("2004", "the") for m in extraction.mentions)


def test_offsets_are_document_offsets_when_the_chunk_starts_later(extractor):
    [extraction] = extractor.extract([chunk_text("d#1", "d", TEXT, offset=100, first_sentence=5)])
    telescope = next(m for m in extraction.mentions if m.norm_name == "hubble space telescope")
    assert telescope.start == 100 + TEXT.index("Hubble") and telescope.sent_index == 6


def test_subject_verb_object_maps_the_verb_to_a_schema_relation(extractor):
    [extraction] = extractor.extract([chunk_text("d#0", "d", TEXT)])
    facts = {
        (extraction.mentions[r.subject].norm_name, r.relation, r.predicate, extraction.mentions[r.object].norm_name)
        for r in extraction.relations
    }
    assert ("hubble space telescope", "observes", "observe", "crab nebula") in facts
    assert ("massive galaxy", "produces", "heat", "surrounding gas") in facts  # "heat" is one of produces' verbs


def test_passive_voice_puts_the_agent_first(extractor):
    [extraction] = extractor.extract([chunk_text("d#0", "d", "The pulsar was detected by the Fermi satellite.")])
    facts = {
        (extraction.mentions[r.subject].norm_name, r.relation, extraction.mentions[r.object].norm_name)
        for r in extraction.relations
    }
    assert ("fermi satellite", "measures", "pulsar") in facts


def test_names_normalise_case_determiners_whitespace_and_plural_heads():
    assert normalize_name("The  Galaxies", "galaxy") == "galaxy"
    assert normalize_name("these dark-matter halos", "halo") == "dark-matter halo"
    assert normalize_name("SNRs", "snr") == "snr"
    assert entity_id("galaxy") == entity_id(normalize_name("Galaxy"))


def test_parsing_in_worker_processes_gives_the_same_extractions(extractor, monkeypatch):
    import kg.extract

    texts = [
        "The Chandra telescope observed the Crab Nebula.",
        "We measure the spectral index of the supernova remnant (SNR).",
        "The SNR emits X-rays.",
        "Gaia measures stellar parallaxes with high precision.",
    ]
    chunks = [chunk_text(f"d{i}#0", f"d{i}", text) for i, text in enumerate(texts)]
    here = extractor.extract(chunks)
    monkeypatch.setattr(kg.extract, "PARALLEL_MIN", 2)
    parallel = kg.extract.SpacyExtractor(extractor.schema, extractor.nlp, None, processes=2)
    parses = parallel.parse_all(chunks)
    assert not isinstance(parses, list)  # lazy: consumed batch by batch
    assert parallel.extract(chunks[:2], list(itertools.islice(parses, 2))) + parallel.extract(
        chunks[2:], list(parses)
    ) == extractor.extract(chunks[:2]) + extractor.extract(chunks[2:])
    assert [m.text for e in here for m in e.mentions]  # something was extracted at all
