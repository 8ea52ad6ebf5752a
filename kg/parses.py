"""The spaCy parse of each chunk, kept from offline extraction so the reader need not parse again.

Extraction parses every chunk with fieldmap.nlp.english(); the answer reader (rag/reader.py) needs
the same parse of the passages it reads (sentences, entities, noun chunks, dependencies), and
parsing five passages cold cost it about 240 ms a question. A DocBin of one chunk is a few KB
(zlib, sorted strings: the same parse gives the same bytes). A stored parse is used only when it
was made by the same model and holds the chunk's exact text; otherwise the reader parses."""

from __future__ import annotations

from functools import lru_cache

import duckdb

from fieldmap.store import insert_rows


@lru_cache(maxsize=8)
def model_name(nlp) -> str:
    """The pipeline's name and version, which a stored parse must match (kept per pipeline: reading
    `nlp.meta` builds it anew, a millisecond on every reader call)."""
    return f"{nlp.meta.get('lang', '')}_{nlp.meta.get('name', '')}-{nlp.meta.get('version', '')}"


def pack(doc) -> bytes:
    from spacy.tokens import DocBin

    return DocBin(docs=[doc], store_user_data=False).to_bytes()


def unpack(data: bytes, vocab):
    from spacy.tokens import DocBin

    return next(iter(DocBin().from_bytes(data).get_docs(vocab)))


def write_parses(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, object]], model: str) -> None:
    """Store (chunk_id, doc_id, spaCy doc) rows, replacing any earlier parse of those chunks."""
    if not rows:
        return
    con.execute("DELETE FROM chunk_parses WHERE chunk_id IN (SELECT unnest(?::VARCHAR[]))", [[r[0] for r in rows]])
    insert_rows(
        con,
        "chunk_parses",
        ["chunk_id", "doc_id", "model", "parse"],
        [(cid, did, model, pack(doc)) for cid, did, doc in rows],
    )


def load_parses(con: duckdb.DuckDBPyConnection, texts: dict[str, str], nlp) -> dict[str, object]:
    """chunk id -> its stored doc, for the chunks (id -> text) whose parse is stored, by this model, of this text."""
    if not texts:
        return {}
    try:
        rows = con.execute(
            "SELECT chunk_id, parse FROM chunk_parses WHERE model = ? AND chunk_id IN (SELECT unnest(?::VARCHAR[]))",
            [model_name(nlp), list(texts)],
        ).fetchall()
    except duckdb.CatalogException:  # a workspace made before parses were kept, opened read-only
        return {}
    found = {}
    for chunk_id, data in rows:
        doc = unpack(bytes(data), nlp.vocab)
        if doc.text == texts[chunk_id]:
            found[chunk_id] = doc
    return found
