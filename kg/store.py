"""Extraction rows in DuckDB: entities, mentions, triplets and the per-chunk extraction log."""
from __future__ import annotations

from dataclasses import dataclass

import duckdb

from kg.extract import ChunkText, Extraction
from kg.normalize import entity_id
from fieldmap.store import insert_rows, transaction


@dataclass(frozen=True)
class FailedChunk:
    chunk_id: str
    doc_id: str
    reason: str


def pending_chunks(con: duckdb.DuckDBPyConnection) -> list[ChunkText]:
    """Chunks the extractor has not finished with (no row in extractions), owned text only."""
    rows = con.execute(
        """
        SELECT c.chunk_id, c.doc_id, d.text, c.end_char, c.own_sent_start,
               list(s.start_char ORDER BY s.sent_index)
        FROM chunks c
        JOIN documents d USING (doc_id)
        JOIN sentences s ON s.doc_id = c.doc_id AND s.sent_index >= c.own_sent_start AND s.sent_index < c.sent_end
        WHERE NOT EXISTS (SELECT 1 FROM extractions e WHERE e.chunk_id = c.chunk_id)
        GROUP BY ALL
        ORDER BY c.doc_id, c.chunk_id
        """
    ).fetchall()
    return [ChunkText(chunk_id, doc_id, text[starts[0] : end], starts[0], tuple(starts), own) for chunk_id, doc_id, text, end, own, starts in rows]


def write_extractions(con: duckdb.DuckDBPyConnection, extractions: list[Extraction], failures: list[FailedChunk], method: str) -> None:
    """One transaction for the batch: entities (merged by normalised name), mentions, triplets, log."""
    entity_rows, mention_rows, triplet_rows, log_rows = {}, [], [], []
    for extraction in extractions:
        mention_ids = []
        for mention in extraction.mentions:
            eid = entity_id(mention.norm_name)
            entity_rows.setdefault(eid, (eid, mention.text, mention.norm_name, mention.type))
            mention_id = f"{extraction.chunk_id}:{mention.start}:{mention.end}"
            mention_ids.append((mention_id, eid))
            mention_rows.append(
                (mention_id, eid, extraction.doc_id, extraction.chunk_id, mention.sent_index, mention.start, mention.end,
                 mention.text, mention.type, mention.type_score, mention.origin)
            )
        for n, relation in enumerate(extraction.relations):
            (sub_mid, sub_eid), (obj_mid, obj_eid) = mention_ids[relation.subject], mention_ids[relation.object]
            triplet_rows.append(
                (f"{extraction.chunk_id}:{relation.sent_index}:{n}", extraction.doc_id, extraction.chunk_id, relation.sent_index,
                 sub_eid, relation.relation, relation.predicate, obj_eid, sub_mid, obj_mid, method)
            )
        log_rows.append((extraction.chunk_id, extraction.doc_id, "ok", None, method, len(extraction.mentions), len(extraction.relations)))
    log_rows += [(f.chunk_id, f.doc_id, "failed", f.reason, method, 0, 0) for f in failures]
    with transaction(con):
        insert_rows(con, "entities", ["entity_id", "name", "norm_name", "type"], list(entity_rows.values()), "ON CONFLICT DO NOTHING")
        insert_rows(con, "mentions", MENTION_COLUMNS, mention_rows)
        insert_rows(con, "triplets", TRIPLET_COLUMNS, triplet_rows)
        insert_rows(con, "extractions", ["chunk_id", "doc_id", "status", "reason", "method", "mentions", "triplets"], log_rows)


MENTION_COLUMNS = ["mention_id", "entity_id", "doc_id", "chunk_id", "sent_index", "start_char", "end_char", "text", "type", "type_score", "origin"]
TRIPLET_COLUMNS = [
    "triplet_id", "doc_id", "chunk_id", "sent_index", "subject_id", "relation", "predicate", "object_id",
    "subject_mention_id", "object_mention_id", "origin",
]


def refresh_entities(con: duckdb.DuckDBPyConnection) -> None:
    """An entity's name and type are its mentions' most frequent surface form and type."""
    con.execute(
        """
        UPDATE entities SET type = m.t, name = m.n
        FROM (SELECT entity_id, mode(type) AS t, mode(text) AS n FROM mentions GROUP BY entity_id) m
        WHERE entities.entity_id = m.entity_id AND (entities.type <> m.t OR entities.name <> m.n)
        """
    )


def retry_failed(con: duckdb.DuckDBPyConnection) -> int:
    """Forget failed chunks so the next extraction run tries them again."""
    return con.execute("DELETE FROM extractions WHERE status = 'failed' RETURNING chunk_id").fetchall().__len__()
