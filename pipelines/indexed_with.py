"""What the stored documents were indexed with (chunking, schema, extractor, embedder), so a run whose
settings differ says so before it starts. Reprocessing what is stale is the fingerprints' job; this
only reports the change, and records the settings after each successful run (meta `indexed_with`)."""

from __future__ import annotations

import json

import duckdb

from fieldmap.settings import Settings
from fieldmap.store import connect, get_meta, set_meta, writer
from schemas import load_schema

META_KEY = "indexed_with"


def indexing_settings(settings: Settings) -> dict[str, str | int]:
    """The settings that shape stored rows; the schema by name and content fingerprint."""
    schema = load_schema(settings.schema_name)
    return {
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "schema": f"{schema.name} ({schema.fingerprint})",
        "extractor": f"llm {settings.llm_model}" if settings.llm_enabled else "spacy",
        "embedder": settings.embedder,
    }


def indexing_changes(settings: Settings) -> list[str]:
    """One line per indexing setting that differs from what the stored documents were indexed with."""
    if not settings.duckdb_path.exists():
        return []
    con = connect(settings.duckdb_path, read_only=True)
    try:
        stored, documents = _stored(con)
    finally:
        con.close()
    if not stored or not documents:
        return []
    now = indexing_settings(settings)
    return [
        f"{name} is {now[name]} now; the {documents} stored documents were indexed with {stored[name]}"
        for name in now
        if name in stored and stored[name] != now[name]
    ]


def record_indexing(settings: Settings) -> None:
    """After a successful run: the settings the stored rows were made with."""
    with writer(settings.duckdb_path) as con:
        set_meta(con, META_KEY, json.dumps(indexing_settings(settings)))


def _stored(con: duckdb.DuckDBPyConnection) -> tuple[dict, int]:
    try:
        raw = get_meta(con, META_KEY)
        documents = con.execute("SELECT count(*) FROM documents").fetchall()[0][0]
    except duckdb.CatalogException:  # a database older than these tables
        return {}, 0
    return (json.loads(raw) if raw else {}), documents
