"""MemoRAG's global memory, kept as text so any model (or none) can read it.

Per document a gist: with an LLM, a compressed summary that keeps every key fact; offline, the
structure's scope and aspect headings with the document's most mentioned entities. The corpus
memory groups the gists into topic clusters (k-means over gist vectors). Both are updated
incrementally: only documents without a gist are summarised; removed documents take theirs along,
and a changed document's gist (and its vector) is written again.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
from pydantic import BaseModel, Field

from fieldmap.progress import Progress, batches, silent
from fieldmap.prompts import load_prompt
from fieldmap.store import insert_rows, transaction
from rag.index import EMBED_WINDOW, VectorStore

TOP_ENTITIES = 6


class GistReply(BaseModel):
    gist: str = Field(min_length=10, max_length=1200)


@dataclass
class MemoryReport:
    gists_added: int
    gists_failed: int
    gist_vectors: int
    clusters: int


def offline_gists(con: duckdb.DuckDBPyConnection, doc_ids: list[str]) -> dict[str, str]:
    """Scope, aspect headings and top entities of each document, as one line of text."""
    rows = con.execute(
        """
        WITH top AS (
            SELECT m.doc_id, e.name, count(*) AS n, row_number() OVER (PARTITION BY m.doc_id ORDER BY count(*) DESC, e.name) AS rank
            FROM mentions m JOIN entities e USING (entity_id)
            WHERE m.doc_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY m.doc_id, e.name)
        SELECT d.doc_id, coalesce(s.scope, d.title),
               (SELECT string_agg(a.title, '; ' ORDER BY a.aspect_index) FROM aspects a WHERE a.doc_id = d.doc_id),
               (SELECT string_agg(t.name, ', ' ORDER BY t.rank) FROM top t WHERE t.doc_id = d.doc_id AND t.rank <= ?)
        FROM documents d LEFT JOIN structures s USING (doc_id)
        WHERE d.doc_id IN (SELECT unnest(?::VARCHAR[]))
        """,
        [doc_ids, TOP_ENTITIES, doc_ids],
    ).fetchall()
    return {
        doc_id: f"{scope}. Aspects: {aspects or 'none'}. Entities: {entities or 'none'}."
        for doc_id, scope, aspects, entities in rows
    }


GIST_TEXT_CHARS = 6000  # of a document's text shown to the LLM for its gist


def gist_messages(prompt, title: str, text: str) -> list[dict]:
    """The request for one document's gist (what `fieldmap run --dry-run` prices too)."""
    return [
        {"role": "system", "content": prompt.render("system")},
        {"role": "user", "content": prompt.render("user", title=title, text=text[:GIST_TEXT_CHARS])},
    ]


def llm_gists(client, con: duckdb.DuckDBPyConnection, doc_ids: list[str]) -> tuple[dict[str, str], list[str]]:
    """Gists written by the LLM; documents whose gist failed are returned for the offline gist."""
    prompt = load_prompt("rag", "gist")
    docs = con.execute(
        "SELECT doc_id, title, text FROM documents WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [doc_ids]
    ).fetchall()

    def ask(doc):
        doc_id, title, text = doc
        return doc_id, client.complete(
            gist_messages(prompt, title, text),
            GistReply,
            'Your reply was invalid: $error. Reply again as {"gist": "..."}.',
        )

    gists, failed = {}, []
    for doc_id, result in client.map(ask, docs):
        if result.value is not None:
            gists[doc_id] = result.value.gist
        else:
            failed.append(doc_id)
    return gists, failed


def update_memory(
    con: duckdb.DuckDBPyConnection,
    store: VectorStore,
    client=None,
    n_clusters: int | None = None,
    progress: Progress = silent,
    fingerprint: str | None = None,
) -> MemoryReport:
    """Gists for documents without one (stamped with `fingerprint`), their vectors, the clusters."""
    pending = [
        r[0]
        for r in con.execute(
            "SELECT doc_id FROM documents WHERE doc_id NOT IN (SELECT doc_id FROM gists) ORDER BY doc_id"
        ).fetchall()
    ]
    added, failed = 0, 0
    for done, batch in enumerate(batches(pending, 200)):
        rows: list[tuple[str, str, str]] = []
        fallback = batch
        if client is not None:
            gists, fallback = llm_gists(client, con, batch)
            failed += len(fallback)
            rows += [(d, g, client.method) for d, g in gists.items()]
        rows += [(d, g, "offline") for d, g in offline_gists(con, fallback).items()]
        with transaction(con):
            insert_rows(
                con, "gists", ["doc_id", "gist", "method", "fingerprint"], [(*row, fingerprint) for row in rows]
            )
        added += len(rows)
        progress("memory", min((done + 1) * 200, len(pending)), len(pending))
    table = store.table("gists")
    wanted = {
        d: {"doc_id": d, "text": g} for d, g in con.execute("SELECT doc_id, gist FROM gists ORDER BY doc_id").fetchall()
    }
    table.sync(
        wanted, "text", "text", EMBED_WINDOW, progress, "embed gists"
    )  # a changed document's new gist replaces its old vector
    ids, vectors = table.matrix()
    labels = (
        kmeans(vectors, n_clusters or max(1, int(round(np.sqrt(len(ids) / 2))))) if len(ids) else np.zeros(0, dtype=int)
    )
    with transaction(con):
        con.execute("DELETE FROM gist_clusters")
        insert_rows(con, "gist_clusters", ["doc_id", "cluster"], [(d, int(c)) for d, c in zip(ids, labels)])
    return MemoryReport(added, failed, table.count(), int(labels.max()) + 1 if len(labels) else 0)


def kmeans(vectors: np.ndarray, k: int, iterations: int = 20, seed: int = 0) -> np.ndarray:
    """Spherical k-means (cosine) labels; deterministic for a given seed."""
    k = max(1, min(k, len(vectors)))
    rng = np.random.default_rng(seed)
    centroids = vectors[rng.choice(len(vectors), k, replace=False)]
    labels = np.zeros(len(vectors), dtype=int)
    for _ in range(iterations):
        labels = np.argmax(vectors @ centroids.T, axis=1)
        for c in range(k):
            members = vectors[labels == c]
            if len(members):
                centroid = members.mean(axis=0)
                centroids[c] = centroid / max(np.linalg.norm(centroid), 1e-12)
    return labels
