"""Read-only look-ups of documents and entities in a workspace's DuckDB (for the HTTP API and the MCP tools).

Each function takes a connection (or cursor) and returns plain JSON-ready values; an unknown id raises KeyError.
"""

from __future__ import annotations

import json

import duckdb

FACT_LIMIT = 50  # facts listed per entity: enough to read, small enough to send
NEIGHBOUR_LIMIT = 30
DOCUMENT_LIMIT = 50


def document(con: duckdb.DuckDBPyConnection, doc_id: str) -> dict:
    """A document with its text, its chunks and the entities it mentions most."""
    rows = con.execute(
        "SELECT doc_id, title, text, source, date, year, metadata FROM documents WHERE doc_id = ?", [doc_id]
    ).fetchall()
    if not rows:
        raise KeyError(f"no document {doc_id!r}")
    doc_id, title, text, source, date, year, metadata = rows[0]
    chunks = con.execute(
        "SELECT chunk_id, start_char, end_char FROM chunks WHERE doc_id = ? ORDER BY chunk_index", [doc_id]
    ).fetchall()
    entities = con.execute(
        """SELECT e.entity_id, e.name, e.type, count(*) AS n FROM mentions m JOIN entities e USING (entity_id)
           WHERE m.doc_id = ? GROUP BY ALL ORDER BY n DESC, e.name LIMIT ?""",
        [doc_id, NEIGHBOUR_LIMIT],
    ).fetchall()
    return {
        "doc_id": doc_id,
        "title": title,
        "text": text,
        "source": source,
        "date": date.isoformat() if date else None,
        "year": year,
        "metadata": json.loads(metadata) if metadata else None,
        "chunks": [{"chunk_id": c, "start_char": s, "end_char": e} for c, s, e in chunks],
        "entities": [{"entity_id": i, "name": n, "type": t, "mentions": m} for i, n, t, m in entities],
    }


def search_entities(con: duckdb.DuckDBPyConnection, query: str, limit: int = 20) -> list[dict]:
    """Entities whose name contains the query (case-insensitive, every character literal: `%` and `_` are no
    wildcards), most mentioned first."""
    rows = con.execute(
        """SELECT e.entity_id, e.name, e.type, count(m.mention_id) AS n FROM entities e LEFT JOIN mentions m USING (entity_id)
           WHERE contains(lower(e.name), lower($1)) OR contains(lower(e.norm_name), lower($1))
           GROUP BY e.entity_id, e.name, e.type ORDER BY (lower(e.name) = lower($1)) DESC, n DESC, e.name LIMIT $2""",
        [query, limit],
    ).fetchall()
    return [{"entity_id": i, "name": n, "type": t, "mentions": m} for i, n, t, m in rows]


def entity(con: duckdb.DuckDBPyConnection, entity_id: str) -> dict:
    """An entity with its facts (triplets it takes part in), its neighbours and its documents by year."""
    rows = con.execute("SELECT entity_id, name, type FROM entities WHERE entity_id = ?", [entity_id]).fetchall()
    if not rows:
        raise KeyError(f"no entity {entity_id!r}")
    _, name, kind = rows[0]
    mentions = con.execute("SELECT count(*) FROM mentions WHERE entity_id = ?", [entity_id]).fetchall()[0][0]
    return {
        "entity_id": entity_id,
        "name": name,
        "type": kind,
        "mentions": mentions,
        "facts": _facts(con, entity_id),
        "neighbours": _neighbours(con, entity_id),
        "synonyms": _synonyms(con, entity_id),
        "documents_by_year": _documents_by_year(con, entity_id),
        "documents": _documents(con, entity_id),
    }


def _facts(con: duckdb.DuckDBPyConnection, entity_id: str) -> list[dict]:
    rows = con.execute(
        """SELECT s.entity_id, s.name, t.relation, t.predicate, o.entity_id, o.name, t.doc_id, t.chunk_id, t.sent_index
           FROM triplets t JOIN entities s ON s.entity_id = t.subject_id JOIN entities o ON o.entity_id = t.object_id
           WHERE ? IN (t.subject_id, t.object_id) ORDER BY t.doc_id, t.chunk_id, t.sent_index, t.triplet_id LIMIT ?""",
        [entity_id, FACT_LIMIT],
    ).fetchall()
    keys = ("subject_id", "subject", "relation", "predicate", "object_id", "object", "doc_id", "chunk_id", "sent_index")
    return [dict(zip(keys, row)) for row in rows]


def _neighbours(con: duckdb.DuckDBPyConnection, entity_id: str) -> list[dict]:
    """Entities linked to this one by a triplet, with how many triplets link them."""
    rows = con.execute(
        """WITH linked AS (
               SELECT CASE WHEN subject_id = ? THEN object_id ELSE subject_id END AS other, relation
               FROM triplets WHERE ? IN (subject_id, object_id) AND subject_id <> object_id)
           SELECT e.entity_id, e.name, e.type, count(*) AS n, list(DISTINCT relation ORDER BY relation) AS relations
           FROM linked JOIN entities e ON e.entity_id = linked.other GROUP BY e.entity_id, e.name, e.type
           ORDER BY n DESC, e.name LIMIT ?""",
        [entity_id, entity_id, NEIGHBOUR_LIMIT],
    ).fetchall()
    return [{"entity_id": i, "name": n, "type": t, "triplets": c, "relations": r} for i, n, t, c, r in rows]


def _synonyms(con: duckdb.DuckDBPyConnection, entity_id: str) -> list[dict]:
    rows = con.execute(
        """SELECT e.entity_id, e.name, s.similarity FROM synonyms s
           JOIN entities e ON e.entity_id = CASE WHEN s.entity_a = ? THEN s.entity_b ELSE s.entity_a END
           WHERE ? IN (s.entity_a, s.entity_b) ORDER BY s.similarity DESC, e.name LIMIT ?""",
        [entity_id, entity_id, NEIGHBOUR_LIMIT],
    ).fetchall()
    return [{"entity_id": i, "name": n, "similarity": round(float(s), 4)} for i, n, s in rows]


def _documents_by_year(con: duckdb.DuckDBPyConnection, entity_id: str) -> list[dict]:
    rows = con.execute(
        """SELECT d.year, count(DISTINCT d.doc_id) FROM mentions m JOIN documents d USING (doc_id)
           WHERE m.entity_id = ? GROUP BY d.year ORDER BY d.year NULLS LAST""",
        [entity_id],
    ).fetchall()
    return [{"year": year, "documents": n} for year, n in rows]


def _documents(con: duckdb.DuckDBPyConnection, entity_id: str) -> list[dict]:
    rows = con.execute(
        """SELECT d.doc_id, d.title, d.year, count(*) AS n FROM mentions m JOIN documents d USING (doc_id)
           WHERE m.entity_id = ? GROUP BY ALL ORDER BY n DESC, d.doc_id LIMIT ?""",
        [entity_id, DOCUMENT_LIMIT],
    ).fetchall()
    return [{"doc_id": i, "title": t, "year": y, "mentions": n} for i, t, y, n in rows]
