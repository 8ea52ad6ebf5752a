"""The LLM path's pieces that need no server: prompt files and code versions, answer models,
alignment of names to offsets, few-shot examples, prices."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from corpus.llm_structurize import OFFLINE_VERSION, LLMStructure, fit_ranges, structures_code_version
from corpus.models import Sentence
from fieldmap.llm_cache import price_for
from fieldmap.llm_endpoint import _retry_after
from fieldmap.prompts import llm_code_version, load_prompt, parse_prompt
from fieldmap.settings import Settings
from kg.extract import ChunkText
from kg.llm_extract import align, extraction_model, find_spans, load_examples, triplets_code_version
from schemas import load_schema

LOCAL = {"openai_base_url": "http://127.0.0.1:1/v1", "llm_model": "m1"}


def test_prompt_files_carry_a_version_and_their_sections():
    for package, stem, sections in (
        ("kg", "extract", {"system", "user", "repair"}),
        ("corpus", "structurize", {"system", "user", "repair", "example_user", "example_assistant"}),
    ):
        prompt = load_prompt(package, stem)
        assert prompt.version >= 1 and set(prompt.sections) == sections
    with pytest.raises(KeyError, match="text"):
        load_prompt("kg", "extract").render("user")
    with pytest.raises(ValueError, match="version"):
        parse_prompt("x", "no version line\n=== user\nhi")


def test_code_version_follows_prompt_and_model_and_stays_offline_without_llm():
    offline = Settings(**{k: v for k, v in LOCAL.items() if k == "llm_model"})
    assert (
        triplets_code_version(offline, "spacy-1") == "spacy-1" and structures_code_version(offline) == OFFLINE_VERSION
    )
    prompt = load_prompt("kg", "extract")
    base = llm_code_version(prompt, Settings(**LOCAL), "spacy-1")
    assert base.startswith(f"llm-extract-v{prompt.version}-")
    assert llm_code_version(prompt, Settings(**{**LOCAL, "llm_model": "m2"}), "spacy-1") != base
    text = load_prompt("kg", "extract").sections["system"]
    edited = parse_prompt("kg/extract", f"version: {prompt.version}\n=== system\n{text} Be brief.\n=== user\n$text")
    bumped = parse_prompt("kg/extract", f"version: {prompt.version + 1}\n=== system\n{text}\n=== user\n$text")
    assert (
        len({base, llm_code_version(edited, Settings(**LOCAL), ""), llm_code_version(bumped, Settings(**LOCAL), "")})
        == 3
    )


def test_names_align_to_document_offsets_and_missing_ones_are_counted():
    document = "Intro sentence here. We observed the Crab  Nebula with NuSTAR. The crab nebula is bright."
    start = document.index("We")
    text = document[start:]
    chunk = ChunkText("d#1", "d", text, start, (start, document.index("The crab")), 1)
    schema = load_schema("science")
    answer = extraction_model(schema).model_validate(
        {
            "entities": [
                {"name": "Crab Nebula", "type": "object"},
                {"name": "NuSTAR", "type": "instrument"},
                {"name": "Chandra", "type": "instrument"},
            ],
            "triplets": [
                {"subject": "NuSTAR", "relation": "observes", "predicate": "observed", "object": "Crab Nebula"},
                {"subject": "NuSTAR", "relation": "looks_at", "predicate": "", "object": "Crab Nebula"},
                {"subject": "Chandra", "relation": "observes", "predicate": "observed", "object": "Crab Nebula"},
            ],
        },
        context={"text": text},
    )
    extraction, dropped_spans, dropped_triplets = align(chunk, answer, schema.default_type)
    assert (dropped_spans, dropped_triplets) == (1, 1)  # Chandra is not in the text
    found = [(m.text, document[m.start : m.end], m.sent_index, m.type) for m in extraction.mentions]
    assert found == [
        ("Crab  Nebula", "Crab  Nebula", 1, "object"),
        ("crab nebula", "crab nebula", 2, "object"),
        ("NuSTAR", "NuSTAR", 1, "instrument"),
    ]
    assert {m.norm_name for m in extraction.mentions[:2]} == {"crab nebula"}
    relations = [
        (r.relation, r.predicate, extraction.mentions[r.subject].text, extraction.mentions[r.object].text)
        for r in extraction.relations
    ]
    assert relations == [
        ("observes", "observed", "NuSTAR", "Crab  Nebula"),
        ("related_to", "looks at", "NuSTAR", "Crab  Nebula"),
    ]
    assert find_spans("a b-c d", "b") == []  # whole words only


def test_an_answer_must_use_schema_types_and_name_something_in_the_text():
    model = extraction_model(load_schema("science"))
    with pytest.raises(ValidationError, match="type"):
        model.model_validate({"entities": [{"name": "x", "type": "person"}], "triplets": []})
    with pytest.raises(ValidationError, match="none of the entity names occurs"):
        model.model_validate(
            {"entities": [{"name": "quasar", "type": "object"}], "triplets": []}, context={"text": "Galaxies merge."}
        )
    assert model.model_json_schema()["additionalProperties"] is False  # strict json_schema servers need it


def test_science_examples_are_checked_against_the_schema():
    examples = load_examples("science", load_schema("science"))
    assert len(examples) == 3
    for example in examples:
        assert example["answer"]["entities"] and example["answer"]["triplets"]
        assert all(find_spans(example["text"], e["name"]) for e in example["answer"]["entities"])


def test_structure_answers_must_cover_every_sentence_once():
    answer = {
        "scope": "Dust",
        "aspects": [
            {"title": "Aim", "first": 1, "last": 1, "sub_aspects": []},
            {
                "title": "Method",
                "first": 2,
                "last": 3,
                "sub_aspects": [{"title": "Data", "first": 2, "last": 2}, {"title": "Fits", "first": 3, "last": 3}],
            },
        ],
    }
    structure = LLMStructure.model_validate(answer, context={"n_sentences": 3}).to_structure("d", "llm:m")
    sentences = [Sentence("d", i, 0, 0, f"S{i}.") for i in range(3)]
    assert structure.render(sentences) == "Dust.\n1. Aim: S0.\n2. Method: S1. S2."
    assert [a.parent for a in structure.aspects] == [None, None, 1, 1]
    # ranges that stop short, run past the last sentence or overlap are fitted to the sentences, titles and order kept
    short = LLMStructure.model_validate(answer, context={"n_sentences": 4})
    assert [(a.first, a.last) for a in short.aspects] == [(1, 1), (2, 4)]
    assert [(s.first, s.last) for s in short.aspects[1].sub_aspects] == [(2, 2), (3, 4)]
    past = LLMStructure.model_validate(answer, context={"n_sentences": 1})  # "Method" starts past the only sentence
    assert [(a.title, a.first, a.last) for a in past.aspects] == [("Aim", 1, 1)]
    answer["aspects"][1]["sub_aspects"][1]["first"] = 2
    overlapping = LLMStructure.model_validate(answer, context={"n_sentences": 3})
    assert [(s.first, s.last) for s in overlapping.aspects[1].sub_aspects] == [(2, 2), (3, 3)]
    assert fit_ranges([{"first": 3, "last": 9}, {"first": 1, "last": 1}], 1, 5) == [
        {"first": 1, "last": 1},
        {"first": 2, "last": 5},
    ]
    # what cannot be fitted is still refused: no aspect at all, a range that is not a number
    with pytest.raises(ValidationError, match="cover sentences 1 to 3.*yours cover nothing"):
        LLMStructure.model_validate({"scope": "Dust", "aspects": []}, context={"n_sentences": 3})
    with pytest.raises(ValidationError):
        LLMStructure.model_validate(
            {
                "scope": "Dust",
                "aspects": [
                    {"title": "A", "first": "one", "last": 3, "sub_aspects": [{"title": "B", "first": 1, "last": 3}]}
                ],
            },
            context={"n_sentences": 3},
        )
    with pytest.raises(ValidationError):
        LLMStructure.model_validate({"scope": "Dust", "aspects": ["Aim"]}, context={"n_sentences": 3})


def test_prices_and_retry_after():
    assert price_for("gpt-4o-mini-2024-07-18") == price_for("gpt-4o-mini") == (0.15, 0.60)
    assert price_for("smollm2-135m") == (0.0, 0.0)
    assert price_for("my-model", {"my-model": [1.0, 2.0]}) == (1.0, 2.0)

    class Response:
        def __init__(self, headers):
            self.headers = headers

    assert _retry_after(Response({"retry-after": "3"})) == 3.0
    assert _retry_after(Response({"retry-after-ms": "250"})) == 0.25
    assert _retry_after(Response({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0  # a date in the past
    assert _retry_after(Response({})) is None


def test_length_limits_are_checked_after_the_answer_not_sent_to_the_server():
    """llama.cpp's server turned GistReply's maxLength 1200 into a grammar it could not parse, then
    died (SIGSEGV): lengths and patterns stay out of the schema sent and pydantic still checks them."""
    from fieldmap.llm_endpoint import sendable_schema
    from rag.memory import GistReply

    full = GistReply.model_json_schema()
    assert full["properties"]["gist"]["maxLength"] == 1200
    sent = sendable_schema(full)
    assert sent["properties"]["gist"] == {"title": "Gist", "type": "string"} and sent["required"] == ["gist"]
    assert sendable_schema({"properties": {"pattern": {"type": "string", "pattern": "a+"}}}) == {
        "properties": {"pattern": {"type": "string"}}
    }
    with pytest.raises(ValidationError, match="at least 10"):
        GistReply.model_validate_json('{"gist": "short"}')
