"""The rag stage over a workspace: keep the LanceDB tables in step with DuckDB."""
from __future__ import annotations

from dataclasses import dataclass

import duckdb

from fieldmap.progress import Progress, batches, silent
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
        table.add([{"id": cid, "doc_id": doc_id, "title": title, "text": text} for cid, doc_id, title, text in batch], vectors)
        progress("embed chunks", min((done + 1) * BATCH, len(missing)), len(missing))
    if missing or stale:
        table.build_fulltext()
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
