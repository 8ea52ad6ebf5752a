"""Corpus rows in DuckDB: documents (with change detection), sentences, chunks, structures."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb

from corpus.models import BadDocument, Chunk, Document, Sentence, Structure
from fieldmap.store import delete_document_rows, insert_rows, transaction

TOMBSTONED = "deleted with `fieldmap delete`, so not read back in (`fieldmap undelete ID` restores it)"


class UnknownDocument(ValueError):
    pass


@dataclass
class SyncReport:
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[BadDocument] = field(default_factory=list)
    tombstoned: int = 0  # deleted by the user earlier; not read back in


def sync_documents(
    con: duckdb.DuckDBPyConnection,
    documents: list[Document],
    bad: list[BadDocument],
    sources: list[str],
    cut: list[BadDocument] = (),
) -> SyncReport:
    """Store new documents, replace changed ones (all their derived rows go), and remove documents
    that vanished from a source read in full this time (a source with bad records keeps its rows).
    `cut`: documents stored up to the length limit, listed in `skipped` with the bad ones."""
    report = SyncReport(skipped=list(bad) + list(cut))
    stored = dict(con.execute("SELECT doc_id, content_hash FROM documents").fetchall())
    stored_sources = dict(con.execute("SELECT doc_id, source FROM documents").fetchall())
    incoming = []
    tombstones = {r[0] for r in con.execute("SELECT doc_id FROM tombstones").fetchall()}
    deleted = [BadDocument(d.source, TOMBSTONED, None, d.doc_id) for d in documents if d.doc_id in tombstones]
    report.tombstoned = len(deleted)
    report.skipped += deleted  # listed in `skipped` and `status`, not silently dropped
    documents = [d for d in documents if d.doc_id not in tombstones]
    for doc in documents:
        previous = stored.get(doc.doc_id)
        if previous == doc.content_hash:
            report.unchanged += 1
            continue
        (report.changed if previous else report.new).append(doc.doc_id)
        incoming.append(doc)
    loaded_ids = {d.doc_id for d in documents}
    sources_with_bad = {b.source for b in bad}
    clean_sources = {s for s in sources if s not in sources_with_bad}
    report.removed = [d for d, s in stored_sources.items() if s in clean_sources and d not in loaded_ids]
    with transaction(con):
        delete_document_rows(con, report.changed + report.removed)
        insert_rows(
            con,
            "documents",
            ["doc_id", "title", "text", "source", "date", "year", "content_hash", "metadata"],
            [
                (
                    d.doc_id,
                    d.title,
                    d.text,
                    d.source,
                    d.date,
                    d.date.year if d.date else None,
                    d.content_hash,
                    json.dumps(d.metadata, default=str),
                )
                for d in incoming
            ],
        )
        insert_rows(
            con,
            "pages",
            ["doc_id", "page", "start_char", "end_char"],
            [(d.doc_id, *r) for d in incoming for r in d.page_ranges()],
        )
        con.execute("DELETE FROM skipped")
        insert_rows(
            con,
            "skipped",
            ["source", "line", "doc_id", "reason"],
            [(b.source, b.line, b.doc_id, b.reason) for b in report.skipped],
        )
    return report


# what a document's chunks carry with them: re-chunking it redoes everything made from its sentences
CHUNK_DERIVED = (
    "chunk_parses",
    "triplets",
    "mentions",
    "extractions",
    "gists",
    "gist_clusters",
    "aspects",
    "structures",
    "chunks",
    "sentences",
)


def skipped_records(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The records and files the last run could not read (or deleted ids), by source and line."""
    rows = con.execute("SELECT source, line, doc_id, reason FROM skipped ORDER BY source, line").fetchall()
    return [
        {"source": source, "line": line, "doc_id": doc_id, "reason": reason} for source, line, doc_id, reason in rows
    ]


def clear_stale(
    con: duckdb.DuckDBPyConnection, table: str, fingerprint: str, derived: tuple[str, ...]
) -> tuple[int, int]:
    """Documents whose `table` rows another configuration made (another fingerprint) lose their rows
    in `derived` (their document row stays), so the step redoes them. Rows from before fingerprints
    were recorded adopt this one. Returns (stale documents, adopted rows)."""
    adopted = con.execute(f"SELECT count(*) FROM {table} WHERE fingerprint IS NULL").fetchall()[0][0]
    if adopted:
        con.execute(f"UPDATE {table} SET fingerprint = ? WHERE fingerprint IS NULL", [fingerprint])
    stale = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT doc_id FROM {table} WHERE fingerprint <> ? ORDER BY doc_id", [fingerprint]
        ).fetchall()
    ]
    if stale:
        with transaction(con):
            for name in derived:
                con.execute(f"DELETE FROM {name} WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [stale])
    return len(stale), adopted


def documents_without(con: duckdb.DuckDBPyConnection, table: str) -> list[Document]:
    """Documents that have no row yet in `table` (chunks or structures): the work still to do."""
    rows = con.execute(
        f"SELECT doc_id, title, text, source, date FROM documents d WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.doc_id = d.doc_id) ORDER BY doc_id"
    ).fetchall()
    return [Document(doc_id, title, text, source, date) for doc_id, title, text, source, date in rows]


def write_chunks(
    con: duckdb.DuckDBPyConnection, batch: list[tuple[list[Sentence], list[Chunk]]], fingerprint: str | None = None
) -> None:
    with transaction(con):
        insert_rows(
            con,
            "sentences",
            ["doc_id", "sent_index", "start_char", "end_char"],
            [(s.doc_id, s.index, s.start, s.end) for sents, _ in batch for s in sents],
        )
        insert_rows(
            con,
            "chunks",
            [
                "chunk_id",
                "doc_id",
                "chunk_index",
                "text",
                "start_char",
                "end_char",
                "sent_start",
                "sent_end",
                "own_sent_start",
                "fingerprint",
            ],
            [
                (
                    c.chunk_id,
                    c.doc_id,
                    c.index,
                    c.text,
                    c.start,
                    c.end,
                    c.sent_start,
                    c.sent_end,
                    c.own_sent_start,
                    fingerprint,
                )
                for _, chunks in batch
                for c in chunks
            ],
        )


def load_sentences(con: duckdb.DuckDBPyConnection, doc_id: str, text: str) -> list[Sentence]:
    return load_sentences_of(con, [(doc_id, text)])[0]


def load_sentences_of(con: duckdb.DuckDBPyConnection, documents: list[tuple[str, str]]) -> list[list[Sentence]]:
    """The stored sentences of each (doc_id, text), in one query, in the documents' order."""
    rows = con.execute(
        "SELECT doc_id, sent_index, start_char, end_char FROM sentences WHERE doc_id IN (SELECT unnest(?::VARCHAR[])) "
        "ORDER BY doc_id, sent_index",
        [[doc_id for doc_id, _ in documents]],
    ).fetchall()
    found: dict[str, list[tuple[int, int, int]]] = {}
    for doc_id, i, a, b in rows:
        found.setdefault(doc_id, []).append((i, a, b))
    return [[Sentence(doc_id, i, a, b, text[a:b]) for i, a, b in found.get(doc_id, [])] for doc_id, text in documents]


def write_structures(
    con: duckdb.DuckDBPyConnection, structures: list[Structure], fingerprint: str | None = None
) -> None:
    with transaction(con):
        insert_rows(
            con,
            "structures",
            ["doc_id", "scope", "method", "fingerprint"],
            [(s.doc_id, s.scope, s.method, fingerprint) for s in structures],
        )
        insert_rows(
            con,
            "aspects",
            ["doc_id", "aspect_index", "parent_index", "title", "sent_start", "sent_end"],
            [
                (s.doc_id, i, a.parent, a.title, a.sent_start, a.sent_end)
                for s in structures
                for i, a in enumerate(s.aspects)
            ],
        )


def delete_documents(con: duckdb.DuckDBPyConnection, doc_ids: list[str], force: bool = False) -> list[str]:
    """Remove these documents and everything derived from them, and remember them as deleted so a
    later run does not read them back from their source. Returns the ids that were stored.

    An id that is not stored is an error (a typo would otherwise hide a later document for good),
    unless `force`: then it is remembered as deleted all the same."""
    stored = [
        r[0]
        for r in con.execute(
            "SELECT doc_id FROM documents WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [doc_ids]
        ).fetchall()
    ]
    unknown = [d for d in doc_ids if d not in stored]
    if unknown and not force:
        raise UnknownDocument(
            f"no stored document has the id {', '.join(map(repr, unknown))}; nothing was deleted "
            "(use --force to remember the id as deleted anyway)"
        )
    with transaction(con):
        delete_document_rows(con, stored)
        insert_rows(con, "tombstones", ["doc_id"], [(d,) for d in doc_ids], "ON CONFLICT DO NOTHING")
    return stored


def undelete_documents(con: duckdb.DuckDBPyConnection, doc_ids: list[str]) -> list[str]:
    """Forget these deletions, so the next run reads the documents from their sources again.
    Returns the ids that were deleted; an id that was not is an error naming it."""
    known = [
        r[0]
        for r in con.execute(
            "SELECT doc_id FROM tombstones WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [doc_ids]
        ).fetchall()
    ]
    unknown = [d for d in doc_ids if d not in known]
    if unknown:
        raise UnknownDocument(
            f"{', '.join(map(repr, unknown))} {'was' if len(unknown) == 1 else 'were'} never deleted; nothing was undeleted"
        )
    con.execute("DELETE FROM tombstones WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [doc_ids])
    return known
