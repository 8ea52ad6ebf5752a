"""The rag stage over a workspace: keep the LanceDB tables in step with DuckDB."""

from __future__ import annotations

import hashlib

import duckdb

from fieldmap.progress import Progress, silent
from kg.synonym_ann import AnnChoice, AnnParams
from kg.synonyms import SynonymReport, update_synonyms
from rag.index import EMBED_WINDOW, SyncCounts, VectorStore


def passage_text(title: str, text: str) -> str:
    """What a chunk's vector encodes: its document's title, then its text."""
    return f"{title}\n{text}" if title else text


def sync_chunk_vectors(con: duckdb.DuckDBPyConnection, store: VectorStore, progress: Progress = silent) -> SyncCounts:
    """Embed chunks that have no vector or whose text (or title) changed, drop vectors whose chunk is
    gone, refresh the full-text index when anything changed."""
    table = store.table("chunks")
    rows = con.execute(
        "SELECT c.chunk_id, c.doc_id, d.title, c.text FROM chunks c JOIN documents d USING (doc_id) ORDER BY c.chunk_id"
    ).fetchall()
    wanted = {
        cid: {"doc_id": doc_id, "title": title, "text": text, "search_text": passage_text(title, text)}
        for cid, doc_id, title, text in rows
    }
    counts = table.sync(wanted, "search_text", "search_text", EMBED_WINDOW, progress, "embed chunks")
    if counts.added or counts.removed:
        table.build_fulltext("search_text")  # titles are searched with the text
    return counts


def sync_entity_vectors(con: duckdb.DuckDBPyConnection, store: VectorStore, progress: Progress = silent) -> SyncCounts:
    """Embed entities that have no vector (by normalised name), drop vectors of entities that are gone."""
    rows = con.execute("SELECT entity_id, norm_name FROM entities ORDER BY entity_id").fetchall()
    wanted = {eid: {"doc_id": "", "text": name} for eid, name in rows}
    return store.table("entities").sync(wanted, "text", "text", EMBED_WINDOW, progress, "embed entities")


def fact_id(subject_id: str, predicate: str, object_id: str) -> str:
    return "f:" + hashlib.sha1(f"{subject_id}|{predicate}|{object_id}".encode()).hexdigest()[:16]


def fact_rows(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """Each distinct fact ("subject predicate object", with the entities' current names) by fact id."""
    rows = con.execute(
        """SELECT t.subject_id, t.predicate, t.object_id, s.name, o.name
           FROM triplets t JOIN entities s ON s.entity_id = t.subject_id JOIN entities o ON o.entity_id = t.object_id
           GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    return {
        fact_id(sub, pred, obj): {"doc_id": "", "text": f"{sname} {pred} {oname}", "subject_id": sub, "object_id": obj}
        for sub, pred, obj, sname, oname in rows
    }


def sync_fact_vectors(con: duckdb.DuckDBPyConnection, store: VectorStore, progress: Progress = silent) -> SyncCounts:
    """Embed each distinct fact once, again when an entity's name in it changed; drop facts no triplet states any more."""
    return store.table("facts").sync(fact_rows(con), "text", "text", EMBED_WINDOW, progress, "embed facts")


def sync_synonyms(
    con: duckdb.DuckDBPyConnection,
    store: VectorStore,
    top_k: int,
    threshold: float | None = None,
    ann_min_entities: int | None = None,
    ann_index: str = "IVF_HNSW_SQ",
) -> SynonymReport:
    """Synonym edges for entities not scanned before (kg.synonyms), from the entity vectors; with
    ann_min_entities, through a vector index on the entity table once the scan is that large (kg.synonym_ann)."""
    table = store.table("entities")
    ids, vectors = table.matrix()
    ann = None
    if ann_min_entities is not None and ids:
        ann = AnnChoice(table.lance_table(), ann_min_entities, AnnParams(index_type=ann_index))
    return update_synonyms(con, ids, vectors, top_k, threshold, ann)
