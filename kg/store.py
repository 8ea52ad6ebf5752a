"""Extraction rows in DuckDB: entities, mentions, triplets and the per-chunk extraction log."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from fieldmap.store import insert_rows, transaction
from kg.extract import ChunkText, Extraction
from kg.normalize import entity_id


@dataclass(frozen=True)
class FailedChunk:
    chunk_id: str
    doc_id: str
    reason: str


RETRY_OFFLINE = ("failed",)  # statuses an offline extractor takes up again
RETRY_LLM = ("failed", "fallback")  # an LLM extractor also retries what spaCy did while the LLM was gone


def pending_chunks(
    con: duckdb.DuckDBPyConnection, retry: tuple[str, ...] = RETRY_OFFLINE, fingerprint: str | None = None
) -> list[ChunkText]:
    """Chunks the extractor has not finished with (no row in extractions, or one whose status is in
    `retry`: failed, or extracted offline as a fallback; or, given the configured extractor's
    `fingerprint`, one another extractor made), owned text only."""
    rows = con.execute(
        """
        SELECT c.chunk_id, c.doc_id, d.text, c.end_char, c.own_sent_start,
               list(s.start_char ORDER BY s.sent_index)
        FROM chunks c
        JOIN documents d USING (doc_id)
        JOIN sentences s ON s.doc_id = c.doc_id AND s.sent_index >= c.own_sent_start AND s.sent_index < c.sent_end
        WHERE NOT EXISTS (SELECT 1 FROM extractions e WHERE e.chunk_id = c.chunk_id AND e.status NOT IN (SELECT unnest(?::VARCHAR[]))
                          AND (?::VARCHAR IS NULL OR e.fingerprint IS NULL OR e.fingerprint = ?))
        GROUP BY ALL
        ORDER BY c.doc_id, c.chunk_id
        """,
        [list(retry), fingerprint, fingerprint],
    ).fetchall()
    return [
        ChunkText(chunk_id, doc_id, text[starts[0] : end], starts[0], tuple(starts), own)
        for chunk_id, doc_id, text, end, own, starts in rows
    ]


def write_extractions(
    con: duckdb.DuckDBPyConnection,
    extractions: list[Extraction],
    failures: list[FailedChunk],
    method: str,
    status: str = "ok",
    reasons: dict[str, str] | None = None,
    fingerprint: str | None = None,
) -> None:
    """One transaction for the batch: entities (merged by normalised name), mentions, triplets, log.
    Rows an earlier attempt left for these chunks (failed, or a fallback) are replaced in the same
    transaction. `status` "fallback" marks extractions made offline because the LLM failed
    (`reasons`: chunk id -> the LLM's failure), which an LLM run takes up again."""
    entity_rows, mention_rows, triplet_rows, log_rows = {}, [], [], []
    for extraction in extractions:
        mention_ids = []
        for mention in extraction.mentions:
            eid = entity_id(mention.norm_name)
            entity_rows.setdefault(eid, (eid, mention.text, mention.norm_name, mention.type))
            mention_id = f"{extraction.chunk_id}:{mention.start}:{mention.end}"
            mention_ids.append((mention_id, eid))
            mention_rows.append(
                (
                    mention_id,
                    eid,
                    extraction.doc_id,
                    extraction.chunk_id,
                    mention.sent_index,
                    mention.start,
                    mention.end,
                    mention.text,
                    mention.type,
                    mention.type_score,
                    mention.origin,
                )
            )
        for n, relation in enumerate(extraction.relations):
            (sub_mid, sub_eid), (obj_mid, obj_eid) = mention_ids[relation.subject], mention_ids[relation.object]
            triplet_rows.append(
                (
                    f"{extraction.chunk_id}:{relation.sent_index}:{n}",
                    extraction.doc_id,
                    extraction.chunk_id,
                    relation.sent_index,
                    sub_eid,
                    relation.relation,
                    relation.predicate,
                    obj_eid,
                    sub_mid,
                    obj_mid,
                    method,
                )
            )
        log_rows.append(
            (
                extraction.chunk_id,
                extraction.doc_id,
                status,
                (reasons or {}).get(extraction.chunk_id),
                method,
                len(extraction.mentions),
                len(extraction.relations),
                fingerprint,
            )
        )
    log_rows += [(f.chunk_id, f.doc_id, "failed", f.reason, method, 0, 0, fingerprint) for f in failures]
    chunk_ids = [row[0] for row in log_rows]
    with transaction(con):
        for table in ("triplets", "mentions", "extractions"):
            con.execute(f"DELETE FROM {table} WHERE chunk_id IN (SELECT unnest(?::VARCHAR[]))", [chunk_ids])
        insert_rows(
            con,
            "entities",
            ["entity_id", "name", "norm_name", "type"],
            list(entity_rows.values()),
            "ON CONFLICT DO NOTHING",
        )
        insert_rows(con, "mentions", MENTION_COLUMNS, mention_rows)
        insert_rows(con, "triplets", TRIPLET_COLUMNS, triplet_rows)
        insert_rows(
            con,
            "extractions",
            ["chunk_id", "doc_id", "status", "reason", "method", "mentions", "triplets", "fingerprint"],
            log_rows,
        )


MENTION_COLUMNS = [
    "mention_id",
    "entity_id",
    "doc_id",
    "chunk_id",
    "sent_index",
    "start_char",
    "end_char",
    "text",
    "type",
    "type_score",
    "origin",
]
TRIPLET_COLUMNS = [
    "triplet_id",
    "doc_id",
    "chunk_id",
    "sent_index",
    "subject_id",
    "relation",
    "predicate",
    "object_id",
    "subject_mention_id",
    "object_mention_id",
    "origin",
]


def refresh_entities(con: duckdb.DuckDBPyConnection) -> None:
    """Entities whose mentions were all replaced go (with their synonym rows); an entity's name and type are its mentions' most frequent surface form and type. Ties are
    broken by rule, never by scan order (DuckDB's mode() picks any of the tied values, which made
    one clean run name an entity "SMA" and the next "Submillimeter Array"): the longer name, then
    the alphabetically first; the type with the higher total typing score, then the first."""
    con.execute(
        """
        UPDATE entities SET type = m.t, name = m.n
        FROM (
            SELECT n.entity_id, n.text AS n, t.type AS t
            FROM (SELECT entity_id, text FROM mentions GROUP BY entity_id, text
                  QUALIFY row_number() OVER (PARTITION BY entity_id ORDER BY count(*) DESC, length(text) DESC, text) = 1) n
            JOIN (SELECT entity_id, type FROM mentions GROUP BY entity_id, type
                  QUALIFY row_number() OVER (PARTITION BY entity_id ORDER BY count(*) DESC, round(sum(coalesce(type_score, 0)), 6) DESC, type) = 1) t
            USING (entity_id)
        ) m
        WHERE entities.entity_id = m.entity_id AND (entities.type <> m.t OR entities.name <> m.n)
        """
    )
    if con.execute("SELECT count(*) FROM entities WHERE entity_id NOT IN (SELECT entity_id FROM mentions)").fetchall()[
        0
    ][0]:
        with transaction(con):
            con.execute("DELETE FROM entities WHERE entity_id NOT IN (SELECT entity_id FROM mentions)")
            con.execute("DELETE FROM synonym_scanned WHERE entity_id NOT IN (SELECT entity_id FROM entities)")
            con.execute(
                "DELETE FROM synonyms WHERE entity_a NOT IN (SELECT entity_id FROM entities) OR entity_b NOT IN (SELECT entity_id FROM entities)"
            )


def retry_failed(con: duckdb.DuckDBPyConnection) -> int:
    """How many chunks the next extraction takes up again: failed ones always, offline fallbacks when
    an LLM is configured (pending_chunks selects them; nothing is deleted before they are redone)."""
    return con.execute("SELECT count(*) FROM extractions WHERE status IN ('failed', 'fallback')").fetchall()[0][0]
