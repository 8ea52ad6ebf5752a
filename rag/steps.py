"""The rag stage over a workspace: keep the LanceDB tables in step with DuckDB."""
from __future__ import annotations

from dataclasses import dataclass

import hashlib

import duckdb

from fieldmap.progress import Progress, batches, silent
from kg.synonyms import SynonymReport, update_synonyms
from rag.index import VectorStore

BATCH = 256


@dataclass
class SyncCounts:
    added: int
    removed: int
    total: int


def passage_text(title: str, text: str) -> str:
    """What a chunk's vector encodes: its document's title, then its text."""
    return f"{title}\n{text}" if title else text


def sync_chunk_vectors(con: duckdb.DuckDBPyConnection, store: VectorStore, progress: Progress = silent) -> SyncCounts:
    """Embed chunks that have no vector, drop vectors whose chunk is gone, refresh the full-text index."""
    table = store.table("chunks")
    indexed = table.ids()
    rows = con.execute("SELECT c.chunk_id, c.doc_id, d.title, c.text FROM chunks c JOIN documents d USING (doc_id) ORDER BY c.chunk_id").fetchall()
    wanted = {r[0] for r in rows}
    stale = sorted(indexed - wanted)
    if stale:
        table.delete_ids(stale)
    missing = [r for r in rows if r[0] not in indexed]
    for done, batch in enumerate(batches(missing, BATCH)):
        vectors = store.embedder.passages([passage_text(title, text) for _, _, title, text in batch])
        table.add(
            [{"id": cid, "doc_id": doc_id, "title": title, "text": text, "search_text": passage_text(title, text)} for cid, doc_id, title, text in batch],
            vectors,
        )
        progress("embed chunks", min((done + 1) * BATCH, len(missing)), len(missing))
    if missing or stale:
        table.build_fulltext("search_text")  # titles are searched with the text
    return SyncCounts(len(missing), len(stale), table.count())


def sync_entity_vectors(con: duckdb.DuckDBPyConnection, store: VectorStore, progress: Progress = silent) -> SyncCounts:
    """Embed entities that have no vector (by normalised name), drop vectors of entities that are gone."""
    table = store.table("entities")
    indexed = table.ids()
    rows = con.execute("SELECT entity_id, norm_name FROM entities ORDER BY entity_id").fetchall()
    wanted = {r[0] for r in rows}
    stale = sorted(indexed - wanted)
    if stale:
        table.delete_ids(stale)
    missing = [r for r in rows if r[0] not in indexed]
    for done, batch in enumerate(batches(missing, BATCH * 4)):
        vectors = store.embedder.passages([name for _, name in batch])
        table.add([{"id": eid, "doc_id": "", "text": name} for eid, name in batch], vectors)
        progress("embed entities", min((done + 1) * BATCH * 4, len(missing)), len(missing))
    return SyncCounts(len(missing), len(stale), table.count())


def fact_id(subject_id: str, predicate: str, object_id: str) -> str:
    return "f:" + hashlib.sha1(f"{subject_id}|{predicate}|{object_id}".encode()).hexdigest()[:16]


def sync_fact_vectors(con: duckdb.DuckDBPyConnection, store: VectorStore, progress: Progress = silent) -> SyncCounts:
    """Embed each distinct fact ("subject predicate object") once; drop facts no triplet states any more."""
    table = store.table("facts")
    indexed = table.ids()
    rows = con.execute(
        """SELECT t.subject_id, t.predicate, t.object_id, s.name, o.name
           FROM triplets t JOIN entities s ON s.entity_id = t.subject_id JOIN entities o ON o.entity_id = t.object_id
           GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    facts = {fact_id(sub, pred, obj): (sub, pred, obj, f"{sname} {pred} {oname}") for sub, pred, obj, sname, oname in rows}
    stale = sorted(indexed - facts.keys())
    if stale:
        table.delete_ids(stale)
    missing = [(fid, *fact) for fid, fact in facts.items() if fid not in indexed]
    for done, batch in enumerate(batches(missing, BATCH * 4)):
        vectors = store.embedder.passages([text for *_, text in batch])
        table.add([{"id": fid, "doc_id": "", "text": text, "subject_id": sub, "object_id": obj} for fid, sub, _, obj, text in batch], vectors)
        progress("embed facts", min((done + 1) * BATCH * 4, len(missing)), len(missing))
    return SyncCounts(len(missing), len(stale), table.count())


def sync_synonyms(con: duckdb.DuckDBPyConnection, store: VectorStore, top_k: int, threshold: float | None = None) -> SynonymReport:
    """Synonym edges for entities not scanned before (kg.synonyms), from the entity vectors."""
    ids, vectors = store.table("entities").matrix()
    return update_synonyms(con, ids, vectors, top_k, threshold)
