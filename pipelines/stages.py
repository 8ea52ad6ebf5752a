"""The per-document steps on one DuckDB connection, as plain functions (no Dagster): the unpartitioned
assets run them on the workspace's database, the shard assets on a shard's file (pipelines/shards.py).
Each returns the metadata its asset reports."""

from __future__ import annotations

import json
import time

import duckdb

from corpus.llm_structurize import LLMStructurizer
from corpus.steps import chunk_pending, structure_pending
from corpus.store import CHUNK_DERIVED, clear_stale
from fieldmap.embedders import get_embedder
from fieldmap.llm import llm_client
from fieldmap.llm_guard import Breakers
from fieldmap.nlp import english
from fieldmap.progress import Progress, silent
from fieldmap.settings import Settings
from fieldmap.store import connect, set_meta
from kg.extract import SpacyExtractor
from kg.llm_extract import LLMExtractor, load_examples
from kg.steps import extract_pending
from pipelines.fingerprints import chunk_fingerprint, extraction_fingerprint, structure_fingerprint
from pipelines.shards import merge_shards, open_shard, shard_path, split_shard
from schemas import load_schema


def record_llm_health(con: duckdb.DuckDBPyConnection, step: str, client) -> None:
    """This run's requests and answers for `step`, which the llm_answered check reads."""
    health = client.usage.health() if client is not None else {"requests": 0, "answered": 0, "failures": {}}
    set_meta(con, f"llm_health:{step}", json.dumps(health))


def llm_offline(client) -> dict:
    """The metadata saying the run's endpoint went offline (its one line), when it did."""
    return {"llm_offline": client.offline} if client is not None and client.offline else {}


def chunk_step(con: duckdb.DuckDBPyConnection, settings: Settings, progress: Progress = silent) -> dict:
    fingerprint = chunk_fingerprint(settings)
    stale, adopted = clear_stale(
        con, "chunks", fingerprint, CHUNK_DERIVED
    )  # everything made from their chunks is redone
    chunked = chunk_pending(con, settings, progress, fingerprint)
    total = con.execute("SELECT count(*) FROM chunks").fetchall()[0][0]
    return {
        "documents_chunked": chunked,
        "stale_documents": stale,
        "adopted_chunks": adopted,
        "chunks_total": total,
        "fingerprint": fingerprint,
    }


def structure_step(
    con: duckdb.DuckDBPyConnection, settings: Settings, progress: Progress = silent, breakers: Breakers | None = None
) -> dict:
    with llm_client(settings, con, "structures", breakers) as client:
        structurizer = LLMStructurizer(client) if client else None
        fingerprint = structure_fingerprint(settings)
        stale, adopted = clear_stale(con, "structures", fingerprint, ("aspects", "structures"))
        done = structure_pending(con, progress, structurizer, fingerprint, settings.spacy_processes)
        record_llm_health(con, "structures", client)
    return {
        "documents_structured": done,
        "stale_documents": stale,
        "adopted_structures": adopted,
        "fingerprint": fingerprint,
        **(structurizer.metadata() if structurizer else {}),
        **llm_offline(client),
    }


def triplet_step(
    con: duckdb.DuckDBPyConnection, settings: Settings, progress: Progress = silent, breakers: Breakers | None = None
) -> tuple[dict, str | None]:
    """(metadata, the error line when every LLM extraction failed, else None)."""
    schema = load_schema(settings.schema_name)
    started = time.perf_counter()
    with llm_client(settings, con, "triplets", breakers) as client:

        def offline() -> SpacyExtractor:
            return SpacyExtractor(
                schema,
                english(),
                get_embedder(settings),
                settings.max_entity_words,
                settings.min_type_similarity,
                settings.spacy_processes,
            )

        extractor = (
            LLMExtractor(schema, client, load_examples(settings.schema_name, schema)[: settings.llm_examples])
            if client
            else offline
        )
        # chunks the LLM fails on are extracted by spaCy meanwhile, and asked of the LLM again next run
        fingerprint = extraction_fingerprint(settings, schema, client is not None)
        report = extract_pending(
            con,
            extractor,
            progress,
            fallback=offline if client else None,
            fingerprint=fingerprint,
            fallback_fingerprint=extraction_fingerprint(settings, schema, False),
        )
        record_llm_health(con, "triplets", client)
    error = None
    if report.all_failed and client is not None:
        error = (
            f"every LLM extraction failed ({report.failed} chunks: {report.reasons}); {report.fallback} extracted offline "
            "with spaCy instead, to be retried with the LLM on the next run."
        )
    metadata = {
        "chunks_extracted": report.chunks,
        "failed": report.failed,
        "fallback_offline": report.fallback,
        "retried": report.retried,
        "stale_chunks": report.stale,
        "fingerprint": fingerprint,
        "mentions_added": report.mentions,
        "triplets_added": report.triplets,
        "schema": f"{schema.name} ({schema.fingerprint})",
        "seconds": round(time.perf_counter() - started, 2),
        **(extractor.metadata() if client else {}),
        **llm_offline(client),
    }
    return metadata, error


def shard_step(
    settings: Settings, k: int, progress: Progress = silent, breakers: Breakers | None = None
) -> dict[str, dict]:
    """Shard `k` brought up to date in its own file: its documents mirrored from the workspace (read through
    the readers' snapshot, so shards run in parallel), then chunks, structures and triplets (shard_stages)."""
    shard = open_shard(shard_path(settings.shard_directory, k))
    try:
        workspace = connect(settings.duckdb_path, read_only=True)
        try:
            split = split_shard(workspace, shard, k, settings.shards)
        finally:
            workspace.close()
        return shard_stages(shard, settings, split, progress, breakers)
    finally:
        shard.close()


def shard_stages(
    shard: duckdb.DuckDBPyConnection,
    settings: Settings,
    split: dict[str, int],
    progress: Progress = silent,
    breakers: Breakers | None = None,
) -> dict[str, dict]:
    """Chunks, structures and triplets of a shard whose documents are split in; checkpointed (no WAL left)."""
    found = {
        "split": split,
        "chunks": chunk_step(shard, settings, progress),
        "structures": structure_step(shard, settings, progress, breakers),
    }
    found["triplets"], found["error"] = triplet_step(shard, settings, progress, breakers)
    shard.execute("CHECKPOINT")
    return found


def merge_step(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Every shard's rows into the workspace's tables (pipelines.shards.merge_shards)."""
    return merge_shards(con, [shard_path(settings.shard_directory, k) for k in range(settings.shards)])
