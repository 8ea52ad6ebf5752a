import json
from pathlib import Path

import pytest

from kg.evaluate import (
    NO_LLM,
    Span,
    evaluate_extraction,
    load_annotations,
    main,
    offline_extractor,
    parse_tagged,
    score,
)
from schemas import load_schema
from tests.conftest import make_settings

TYPES = load_schema("science").type_names


def spans_of(text: str, *phrases: tuple[str, str]) -> list[Span]:
    """Spans for (phrase, type) pairs at each phrase's first occurrence in text."""
    return [Span(text.index(phrase), text.index(phrase) + len(phrase), kind) for phrase, kind in phrases]


def test_tags_nest_and_a_closing_tag_without_bracket_still_closes():
    text, spans, problems = parse_tagged(
        "<dataset><instrument>ATCA</instrument> <modality>radio-continuum</modality> observations</dataset at 6-cm",
        TYPES,
    )
    assert text == "ATCA radio-continuum observations at 6-cm"
    assert {(text[s.start : s.end], s.type) for s in spans} == {
        ("ATCA radio-continuum observations", "dataset"),
        ("ATCA", "instrument"),
        ("radio-continuum", "modality"),
    }
    assert problems == ["tag '</dataset' without '>' at 33"]


def test_same_type_nesting_and_a_tag_reopened_where_it_should_close():
    text, spans, _ = parse_tagged(
        "<object><object>Oxygen</object> abundances</object> in <object>disks</object>", TYPES
    )
    assert sorted(text[s.start : s.end] for s in spans) == ["Oxygen", "Oxygen abundances", "disks"]
    text, spans, problems = parse_tagged(
        "from <dataset><instrument>Chandra<instrument> <modality>X-ray</modality> observations</dataset>", TYPES
    )
    assert {(text[s.start : s.end], s.type) for s in spans} == {
        ("Chandra X-ray observations", "dataset"),
        ("Chandra", "instrument"),
        ("X-ray", "modality"),
    }
    assert problems == ["<instrument> at 5 closed by a second <instrument>"]


def test_whitespace_inside_tags_is_trimmed_and_runs_collapse():
    text, spans, _ = parse_tagged("a very young  <object>remnant </object> and <property> strength</property>.", TYPES)
    assert text == "a very young remnant and strength."
    assert [text[s.start : s.end] for s in spans] == ["remnant", "strength"]


def test_gold_comes_from_the_tagged_abstract_not_the_title(fixtures: Path):
    first, second = load_annotations(fixtures / "annotations-tiny.jsonl", TYPES)
    assert first.text == "We observe radio emission from the Crab Nebula with the Very Large Array."
    assert len(first.gold) == 3 and len(second.gold) == 4  # the title's tags are not counted
    assert second.text.startswith("ATCA radio-continuum observations at 6-cm show a spectral index")


def test_exact_and_lenient_scores_by_hand(fixtures: Path):
    first, second = load_annotations(fixtures / "annotations-tiny.jsonl", TYPES)
    predicted = [
        spans_of(first.text, ("radio emission", "object"), ("Crab", "object"), ("Very Large Array", "property")),
        spans_of(
            second.text,
            ("radio-continuum observations", "dataset"),
            ("ATCA", "instrument"),
            ("spectral index", "property"),
        ),
    ]
    result = score([list(first.gold), list(second.gold)], predicted, TYPES)
    # gold 7, predicted 6; exact: radio emission, ATCA, spectral index
    exact = result["micro"]["exact"]
    assert exact["precision"] == pytest.approx(3 / 6) and exact["recall"] == pytest.approx(3 / 7)
    assert exact["f1"] == pytest.approx(2 * (3 / 6) * (3 / 7) / (3 / 6 + 3 / 7))
    # lenient also counts "Crab" (inside "Crab Nebula") and "radio-continuum observations" (inside the dataset span);
    # the property "Very Large Array" overlaps only an instrument, and no modality was predicted
    lenient = result["micro"]["lenient"]
    assert lenient["precision"] == pytest.approx(5 / 6) and lenient["recall"] == pytest.approx(5 / 7)
    assert lenient["f1"] == pytest.approx(2 * (5 / 6) * (5 / 7) / (5 / 6 + 5 / 7)) and lenient["f1"] > exact["f1"]
    per_type = result["per_type"]
    assert per_type["object"]["exact"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert per_type["object"]["lenient"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert (per_type["instrument"]["gold"], per_type["instrument"]["predicted"]) == (2, 1)
    assert per_type["instrument"]["exact"]["recall"] == 0.5 and per_type["property"]["exact"]["precision"] == 0.5
    assert per_type["modality"]["lenient"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert per_type["task"] == {
        "exact": per_type["modality"]["lenient"],
        "lenient": per_type["modality"]["lenient"],
        "gold": 0,
        "predicted": 0,
    }


def test_one_long_prediction_recalls_every_gold_span_it_overlaps():
    gold = [[Span(0, 5, "object"), Span(10, 15, "object")]]
    result = score(gold, [[Span(0, 15, "object")]])
    assert result["micro"]["lenient"]["recall"] == 1.0 and result["micro"]["lenient"]["precision"] == 1.0
    assert result["micro"]["exact"]["f1"] == 0.0


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("eval"))
    return settings, offline_extractor(settings, load_schema("science"))


@pytest.mark.slow
def test_offline_extraction_on_the_kg_for_science_annotations(fixtures: Path, offline):
    _, extractor = offline
    result = evaluate_extraction(fixtures / "annotations-kg4s.jsonl", extractor)
    assert (
        set(result) == {"mode", "micro", "per_type", "chunks", "failed_chunks", "failures_by_reason"}
        and result["mode"] == "offline"
    )
    assert result["chunks"] >= 13 and result["failed_chunks"] == 0
    assert set(result["per_type"]) == set(TYPES)
    assert result["micro"]["lenient"]["f1"] >= 0.45
    assert result["micro"]["exact"]["f1"] <= result["micro"]["lenient"]["f1"]
    held_out = evaluate_extraction(fixtures / "annotations-kg4s.jsonl", extractor, lines=range(4, 14))
    assert held_out["micro"]["lenient"]["f1"] >= 0.45  # lines 1-3 were kg-for-science's few-shot examples


def test_command_writes_the_scores_and_llm_mode_needs_an_llm(fixtures: Path, tmp_path: Path, offline):
    settings, _ = offline
    out = tmp_path / "scores.json"
    assert (
        main(
            ["--annotations", str(fixtures / "annotations-tiny.jsonl"), "--mode", "offline", "--json", str(out)],
            settings,
        )
        == 0
    )
    written = json.loads(out.read_text())
    assert written["mode"] == "offline" and set(written["micro"]) == {"exact", "lenient"}
    with pytest.raises(RuntimeError, match=r"no LLM configured \(set OPENAI_BASE_URL\)"):
        main(["--annotations", str(fixtures / "annotations-tiny.jsonl"), "--mode", "llm", "--json", str(out)], settings)
    assert NO_LLM == "no LLM configured (set OPENAI_BASE_URL)"
    with_llm = settings.model_copy(update={"openai_base_url": "http://127.0.0.1:9/v1"})
    args = [
        "--annotations",
        str(fixtures / "annotations-tiny.jsonl"),
        "--mode",
        "llm",
        "--json",
        str(out),
        "--schema",
        "science",
    ]
    assert main(args, with_llm, llm_factory=offline_extractor) == 0  # the factory decides what "llm" runs
    assert json.loads(out.read_text())["mode"] == "llm"
