"""Asset checks: the workspace's invariants, evaluated after the assets that could break them."""
from __future__ import annotations

import dagster as dg

from pipelines.assets import graph, triplets, vector_index
from pipelines.resources import FieldmapResource
from rag.index import read_meta

MAX_DUPLICATE_RATE = 0.02
MAX_FAILURE_RATE = 0.05


def _scalar(con, sql: str):
    return con.execute(sql).fetchall()[0][0]


@dg.asset_check(asset=triplets, description="Every triplet and mention points at a stored chunk.")
def triplets_have_chunks(fieldmap: FieldmapResource) -> dg.AssetCheckResult:
    with fieldmap.writer() as con:
        orphans = _scalar(con, "SELECT count(*) FROM triplets t WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.chunk_id = t.chunk_id)")
        orphans += _scalar(con, "SELECT count(*) FROM mentions m WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.chunk_id = m.chunk_id)")
    return dg.AssetCheckResult(passed=orphans == 0, metadata={"rows_without_chunk": orphans})


@dg.asset_check(asset=triplets, description="No entity without a mention.")
def no_orphan_entities(fieldmap: FieldmapResource) -> dg.AssetCheckResult:
    with fieldmap.writer() as con:
        orphans = _scalar(con, "SELECT count(*) FROM entities e WHERE NOT EXISTS (SELECT 1 FROM mentions m WHERE m.entity_id = e.entity_id)")
    return dg.AssetCheckResult(passed=orphans == 0, metadata={"orphan_entities": orphans})


@dg.asset_check(asset=triplets, description=f"Entities whose names differ only in case, spacing or punctuation stay under {MAX_DUPLICATE_RATE:.0%}.")
def duplicate_entity_rate(fieldmap: FieldmapResource) -> dg.AssetCheckResult:
    with fieldmap.writer() as con:
        total, duplicated = con.execute(
            """SELECT count(*), coalesce(sum(n - 1), 0) FROM (
                   SELECT regexp_replace(lower(norm_name), '[^a-z0-9]', '', 'g') AS key, count(*) AS n FROM entities GROUP BY key)"""
        ).fetchall()[0]
    rate = duplicated / total if total else 0.0
    return dg.AssetCheckResult(passed=rate <= MAX_DUPLICATE_RATE, metadata={"entities": total, "duplicates": int(duplicated), "rate": round(rate, 4)})


@dg.asset_check(asset=triplets, description=f"Chunks whose extraction failed stay under {MAX_FAILURE_RATE:.0%}.")
def extraction_failure_rate(fieldmap: FieldmapResource) -> dg.AssetCheckResult:
    with fieldmap.writer() as con:
        total, failed = con.execute("SELECT count(*), count(*) FILTER (WHERE status = 'failed') FROM extractions").fetchall()[0]
    rate = failed / total if total else 0.0
    return dg.AssetCheckResult(passed=rate <= MAX_FAILURE_RATE, metadata={"chunks": total, "failed": failed, "rate": round(rate, 4)})


@dg.asset_check(asset=vector_index, description="One vector per chunk, and the index built by the configured embedder.")
def vectors_match_chunks(fieldmap: FieldmapResource) -> dg.AssetCheckResult:
    import lancedb

    settings = fieldmap.settings()
    with fieldmap.writer() as con:
        chunk_ids = {r[0] for r in con.execute("SELECT chunk_id FROM chunks").fetchall()}
    db = lancedb.connect(settings.lancedb_uri)
    vector_ids = set(db.open_table("chunks").to_arrow().column("id").to_pylist()) if "chunks" in db.list_tables().tables else set()
    meta = read_meta(settings.lancedb_uri) or {}
    same_embedder = meta.get("embedder") == settings.embedder or (not chunk_ids and not meta)
    return dg.AssetCheckResult(
        passed=vector_ids == chunk_ids and same_embedder,
        metadata={"chunks": len(chunk_ids), "vectors": len(vector_ids), "missing": len(chunk_ids - vector_ids), "stale": len(vector_ids - chunk_ids),
                  "index_embedder": str(meta.get("embedder")), "index_dim": int(meta.get("dim", 0)), "configured_embedder": settings.embedder},
    )


@dg.asset_check(asset=graph, description="The saved graph has exactly the stored chunks and entities as nodes.")
def graph_matches_store(fieldmap: FieldmapResource) -> dg.AssetCheckResult:
    from kg.graph import KnowledgeGraph

    settings = fieldmap.settings()
    knowledge_graph = KnowledgeGraph.load(settings.graph_path)
    with fieldmap.writer() as con:
        chunk_ids = {r[0] for r in con.execute("SELECT chunk_id FROM chunks").fetchall()}
        entity_ids = {r[0] for r in con.execute("SELECT entity_id FROM entities").fetchall()}
    passed = set(knowledge_graph.passage_ids) == chunk_ids and set(knowledge_graph.entity_ids) == entity_ids
    return dg.AssetCheckResult(passed=passed, metadata={"passage_nodes": knowledge_graph.n_passages, "entity_nodes": len(knowledge_graph.entity_ids)})


ALL_CHECKS = [triplets_have_chunks, no_orphan_entities, duplicate_entity_rate, extraction_failure_rate, vectors_match_chunks, graph_matches_store]
