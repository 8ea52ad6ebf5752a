"""Extraction schemas (YAML/JSON), their loader, and the DuckDB table DDL."""

from schemas.loader import EntityType, RelationType, Schema, SchemaError, load_schema

__all__ = ["EntityType", "RelationType", "Schema", "SchemaError", "load_schema"]
