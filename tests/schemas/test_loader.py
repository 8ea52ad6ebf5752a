from pathlib import Path

import pytest

from schemas import SchemaError, load_schema

SHARED_SCHEMA = Path(__file__).parents[2] / "schemas" / "science.yaml"


def test_science_schema_has_the_nine_types_and_relation_types():
    schema = load_schema("science")
    assert schema.type_names == [
        "model",
        "task",
        "dataset",
        "field",
        "modality",
        "method",
        "object",
        "property",
        "instrument",
    ]
    assert schema.relation_for_verb("employ") == "uses"
    assert schema.relation_for_verb("frobnicate") == "related_to"


def test_kg_for_science_type_map_is_accepted(tmp_path: Path):
    path = tmp_path / "types.json"
    path.write_text('{"object": "an entity that can be studied", "method": "an approach"}')
    schema = load_schema(path)
    assert schema.type_names == ["object", "method"] and schema.default_type == "object"
    assert "related_to" in [r.name for r in schema.relation_types]


def test_invalid_schema_names_the_file_and_the_problem(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ndefault_type: missing\nentity_types:\n  - name: thing\n    description: a thing\n")
    with pytest.raises(SchemaError, match="bad.yaml.*default_type 'missing'"):
        load_schema(path)
    with pytest.raises(SchemaError, match="no such built-in schema"):
        load_schema("nonexistent")


def test_fingerprint_changes_with_the_schema(tmp_path: Path):
    text = SHARED_SCHEMA.read_text()
    path = tmp_path / "s.yaml"
    path.write_text(text.replace("an academic (sub)discipline", "an academic discipline"))
    assert load_schema(path).fingerprint != load_schema("science").fingerprint
