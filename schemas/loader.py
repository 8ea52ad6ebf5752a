"""Load and validate an extraction schema: entity types, relation types and their typing hints."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

BUILT_IN = Path(__file__).parent
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class SchemaError(ValueError):
    pass


class EntityType(BaseModel):
    model_config = {"extra": "forbid"}
    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field(min_length=3)
    examples: list[str] = Field(default_factory=list)
    head_words: list[str] = Field(default_factory=list)  # offline typer: the span's last word(s)
    ner_labels: list[str] = Field(default_factory=list)  # offline typer: spaCy entity labels

    @field_validator("head_words")
    @classmethod
    def lower(cls, words: list[str]) -> list[str]:
        return [w.lower() for w in words]


class RelationType(BaseModel):
    model_config = {"extra": "forbid"}
    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field(min_length=3)
    verbs: list[str] = Field(default_factory=list)  # lemmas that map a parsed predicate here


class Schema(BaseModel):
    model_config = {"extra": "forbid"}
    name: str
    version: int = 1
    default_type: str
    entity_types: list[EntityType] = Field(min_length=1)
    relation_types: list[RelationType] = Field(default_factory=list)

    @model_validator(mode="after")
    def consistent(self) -> "Schema":
        names = [t.name for t in self.entity_types]
        if len(set(names)) != len(names):
            raise ValueError(f"entity type names repeat: {sorted(n for n in names if names.count(n) > 1)}")
        if self.default_type not in names:
            raise ValueError(f"default_type {self.default_type!r} is not one of the entity types {names}")
        relations = [r.name for r in self.relation_types]
        if len(set(relations)) != len(relations):
            raise ValueError("relation type names repeat")
        if "related_to" not in relations:
            self.relation_types.append(RelationType(name="related_to", description="any other relation"))
        return self

    @property
    def type_names(self) -> list[str]:
        return [t.name for t in self.entity_types]

    def entity_type(self, name: str) -> EntityType:
        return next(t for t in self.entity_types if t.name == name)

    def relation_for_verb(self, lemma: str) -> str:
        for relation in self.relation_types:
            if lemma in relation.verbs:
                return relation.name
        return "related_to"

    @property
    def fingerprint(self) -> str:
        """Changes whenever the schema does; part of the extraction assets' code_version."""
        return hashlib.sha1(self.model_dump_json().encode()).hexdigest()[:12]


def load_schema(name_or_path: str | Path) -> Schema:
    """A built-in schema by name ("science", "general") or a YAML/JSON file; SchemaError names the problem."""
    path = Path(name_or_path)
    if not path.suffix and (BUILT_IN / f"{name_or_path}.yaml").exists():
        path = BUILT_IN / f"{name_or_path}.yaml"
    if not path.exists():
        raise SchemaError(f"schema {str(name_or_path)!r}: no such built-in schema or file")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SchemaError(f"schema {path}: cannot be read: {exc}") from exc
    if isinstance(data, dict) and "entity_types" not in data and all(isinstance(v, str) for v in data.values()):
        data = _from_type_map(data, path.stem)  # kg-for-science's own {type: definition} format
    try:
        return Schema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'schema'}: {e['msg']}" for e in exc.errors())
        raise SchemaError(f"schema {path}: {problems}") from exc


def _from_type_map(types: dict[str, str], name: str) -> dict:
    entity_types = [{"name": k, "description": v} for k, v in types.items()]
    default = "object" if "object" in types else next(iter(types))
    return {"name": name, "default_type": default, "entity_types": entity_types}
