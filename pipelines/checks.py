"""Asset checks: the workspace's invariants, evaluated after the assets that could break them."""

from __future__ import annotations

import json

import dagster as dg

from fieldmap.store import get_meta
from pipelines.assets import graph, memory, triplets, vector_index
from pipelines.fingerprints import LLM_STEPS
from pipelines.resources import FieldmapResource
from rag.index import read_meta

MAX_DUPLICATE_RATE = 0.02
MAX_FAILURE_RATE = 0.05


def _scalar(con, sql: str):
    return con.execute(sql).fetchall()[0][0]


@dg.asset_check(asset=triplets, description="Every triplet and mention points at a stored chunk.")
def triplets_have_chunks(fieldmap: FieldmapResource) -> dg.AssetCheckResult:
    with fieldmap.writer() as con:
        orphans = _scalar(
            con,
            "SELECT count(*) FROM triplets t WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.chunk_id = t.chunk_id)",
        )
        orphans += _scalar(
            con,
            "SELECT count(*) FROM mentions m WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.chunk_id = m.chunk_id)",
        )
    return dg.AssetCheckResult(passed=orphans == 0, metadata={"rows_without_chunk": orphans})


@dg.asset_check(asset=triplets, description="No entity without a mention.")
def no_orphan_entities(fieldmap: FieldmapResource) -> dg.AssetCheckResult:
    with fieldmap.writer() as con:
        orphans = _scalar(
            con,
            "SELECT count(*) FROM entities e WHERE NOT EXISTS (SELECT 1 FROM mentions m WHERE m.entity_id = e.entity_id)",
        )
    return dg.AssetCheckResult(passed=orphans == 0, metadata={"orphan_entities": orphans})


@dg.asset_check(
    asset=triplets,
    description=f"Entities whose names differ only in case, spacing or punctuation stay under {MAX_DUPLICATE_RATE:.0%}.",
)
def duplicate_entity_rate(fieldmap: FieldmapResource) -> dg.AssetCheckResult:
    with fieldmap.writer() as con:
        total, duplicated = con.execute(
            """SELECT count(*), coalesce(sum(n - 1), 0) FROM (
                   SELECT regexp_replace(lower(norm_name), '[^a-z0-9]', '', 'g') AS key, count(*) AS n FROM entities GROUP BY key)"""
        ).fetchall()[0]
    rate = duplicated / total if total else 0.0
    return dg.AssetCheckResult(
        passed=rate <= MAX_DUPLICATE_RATE,
        metadata={"entities": total, "duplicates": int(duplicated), "rate": round(rate, 4)},
    )


@dg.asset_check(asset=triplets, description=f"Chunks whose extraction failed stay under {MAX_FAILURE_RATE:.0%}.")
def extraction_failure_rate(fieldmap: FieldmapResource) -> dg.AssetCheckResult:
    with fieldmap.writer() as con:
        total, failed = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'failed') FROM extractions"
        ).fetchall()[0]
    rate = failed / total if total else 0.0
    return dg.AssetCheckResult(
        passed=rate <= MAX_FAILURE_RATE, metadata={"chunks": total, "failed": failed, "rate": round(rate, 4)}
    )


@dg.asset_check(
    asset=vector_index,
    description="One vector per chunk, holding the chunk's current text, and the index built by the configured embedder.",
)
def vectors_match_chunks(fieldmap: FieldmapResource) -> dg.AssetCheckResult:
    import lancedb

    from rag.steps import passage_text

    settings = fieldmap.settings()
    with fieldmap.writer() as con:
        chunks = {
            cid: passage_text(title, text)
            for cid, title, text in con.execute(
                "SELECT c.chunk_id, d.title, c.text FROM chunks c JOIN documents d USING (doc_id)"
            ).fetchall()
        }
    db = lancedb.connect(settings.lancedb_uri)
    vectors = {}
    if "chunks" in db.list_tables().tables:
        arrow = db.open_table("chunks").to_arrow().select(["id", "search_text"])
        vectors = dict(zip(arrow.column("id").to_pylist(), arrow.column("search_text").to_pylist()))
    outdated = sum(1 for cid, text in vectors.items() if cid in chunks and chunks[cid] != text)
    meta = read_meta(settings.lancedb_uri) or {}
    same_embedder = meta.get("embedder") == settings.embedder or (not chunks and not meta)
    return dg.AssetCheckResult(
        passed=vectors == chunks and same_embedder,
        metadata={
            "chunks": len(chunks),
            "vectors": len(vectors),
            "missing": len(chunks.keys() - vectors.keys()),
            "stale": len(vectors.keys() - chunks.keys()),
            "outdated_text": outdated,
            "index_embedder": str(meta.get("embedder")),
            "index_dim": int(meta.get("dim", 0)),
            "configured_embedder": settings.embedder,
        },
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
    return dg.AssetCheckResult(
        passed=passed,
        metadata={"passage_nodes": knowledge_graph.n_passages, "entity_nodes": len(knowledge_graph.entity_ids)},
    )


@dg.asset_check(
    asset=memory,
    blocking=True,
    description="With an LLM configured, at least one of this run's LLM requests was answered; a run in which every one failed (an outage) fails.",
)
def llm_answered(context, fieldmap: FieldmapResource) -> dg.AssetCheckResult:
    with fieldmap.writer() as con:
        health = {
            step: json.loads(get_meta(con, f"llm_health:{step}") or '{"requests": 0, "answered": 0, "failures": {}}')
            for step in LLM_STEPS
        }
    requests = sum(h["requests"] for h in health.values())
    answered = sum(h["answered"] for h in health.values())
    passed = requests == 0 or answered > 0
    failures = {f"{step}: {kind}": n for step, h in health.items() for kind, n in h["failures"].items()}
    reason = ""
    if not passed:
        listed = ", ".join(f"{kind} {n}" for kind, n in sorted(failures.items()))
        reason = (
            f"every LLM request of this run failed ({requests} requests; {listed}): the LLM is unreachable or broken. "
            "Offline results stand in meanwhile; the next run (or `fieldmap retry-failed`) asks the LLM again."
        )
        context.log.error(reason)
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"requests": requests, "answered": answered, "failures": json.dumps(failures), "reason": reason},
    )


ALL_CHECKS = [
    triplets_have_chunks,
    no_orphan_entities,
    duplicate_entity_rate,
    extraction_failure_rate,
    vectors_match_chunks,
    graph_matches_store,
    llm_answered,
]
