"""Read-only look-ups the web app needs beyond app/lookup.py: one passage with where it comes from, and an
entity's neighbourhood as a graph. Plain JSON-ready values; an unknown id raises KeyError."""

from __future__ import annotations

import json

import duckdb

GRAPH_NEIGHBOURS = 20  # nodes around the centre: readable in a 600-pixel panel


def _link(doc_id: str, metadata: dict) -> str | None:
    """A web address for the document: its id when it is one (arXiv records), or a url the source gave."""
    for candidate in (metadata.get("url"), metadata.get("link"), doc_id):
        if isinstance(candidate, str) and candidate.startswith(("https://", "http://")):
            return candidate
    return None


def passage(con: duckdb.DuckDBPyConnection, chunk_id: str) -> dict:
    """A chunk's text with its document's title, link, date, source and (for a PDF) pages."""
    rows = con.execute(
        """SELECT c.chunk_id, c.doc_id, c.text, d.title, d.source, d.date, d.year, d.metadata
           FROM chunks c JOIN documents d USING (doc_id) WHERE c.chunk_id = ?""",
        [chunk_id],
    ).fetchall()
    if not rows:
        raise KeyError(f"no passage {chunk_id!r}")
    chunk_id, doc_id, text, title, source, date, year, metadata = rows[0]
    metadata = json.loads(metadata) if metadata else {}
    pages = con.execute("SELECT first_page, last_page FROM chunk_pages WHERE chunk_id = ?", [chunk_id]).fetchall()
    return {
        "chunk_id": chunk_id,
        "doc_id": doc_id,
        "text": text,
        "title": title,
        "source": source,
        "date": date.isoformat() if date else None,
        "year": year,
        "link": _link(doc_id, metadata),
        "pages": [pages[0][0], pages[0][1]] if pages else None,
    }


def neighbourhood(con: duckdb.DuckDBPyConnection, entity_id: str, limit: int = GRAPH_NEIGHBOURS) -> dict:
    """The entity, its most linked neighbours (by triplets, then synonyms), and the edges among all of them."""
    if not con.execute("SELECT 1 FROM entities WHERE entity_id = ?", [entity_id]).fetchall():
        raise KeyError(f"no entity {entity_id!r}")
    rows = con.execute(
        """WITH linked AS (
               SELECT CASE WHEN subject_id = ? THEN object_id ELSE subject_id END AS other, 1.0 AS weight
               FROM triplets WHERE ? IN (subject_id, object_id) AND subject_id <> object_id
               UNION ALL
               SELECT CASE WHEN entity_a = ? THEN entity_b ELSE entity_a END, 0.5 FROM synonyms WHERE ? IN (entity_a, entity_b))
           SELECT other, sum(weight) AS w FROM linked GROUP BY other ORDER BY w DESC, other LIMIT ?""",
        [entity_id, entity_id, entity_id, entity_id, limit],
    ).fetchall()
    ids = [entity_id] + [other for other, _ in rows]
    nodes = con.execute(
        """SELECT e.entity_id, e.name, e.type, (SELECT count(*) FROM mentions m WHERE m.entity_id = e.entity_id)
           FROM entities e WHERE e.entity_id IN (SELECT unnest(?::VARCHAR[]))""",
        [ids],
    ).fetchall()
    edges = con.execute(
        """SELECT least(subject_id, object_id), greatest(subject_id, object_id), mode(predicate), count(*), 'relation'
           FROM triplets WHERE subject_id IN (SELECT unnest(?::VARCHAR[])) AND object_id IN (SELECT unnest(?::VARCHAR[]))
             AND subject_id <> object_id GROUP BY 1, 2
           UNION ALL
           SELECT entity_a, entity_b, 'synonym', 1, 'synonym' FROM synonyms
           WHERE entity_a IN (SELECT unnest(?::VARCHAR[])) AND entity_b IN (SELECT unnest(?::VARCHAR[]))""",
        [ids, ids, ids, ids],
    ).fetchall()
    order = {eid: i for i, eid in enumerate(ids)}
    return {
        "centre": entity_id,
        "nodes": sorted(
            ({"id": i, "name": n, "type": t, "mentions": m} for i, n, t, m in nodes), key=lambda node: order[node["id"]]
        ),
        "edges": [{"source": a, "target": b, "label": p, "count": c, "kind": k} for a, b, p, c, k in edges],
    }
