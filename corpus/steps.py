"""The corpus stage over a workspace: ingest, chunk and structure whatever is not done yet."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import duckdb

from corpus.chunking import chunk_document
from corpus.loaders import load_corpus
from corpus.models import Document, Sentence, Structure
from corpus.store import SyncReport, documents_without, load_sentences_of, sync_documents, write_chunks, write_structures
from corpus.structurize import structurize_batch
from fieldmap.progress import Progress, batches, silent
from fieldmap.settings import Settings

BATCH = 100


def ingest(con: duckdb.DuckDBPyConnection, paths: list[str]) -> SyncReport:
    loaded = load_corpus(paths)
    return sync_documents(con, loaded.documents, loaded.bad, [str(Path(p)) for p in paths])


def chunk_pending(con: duckdb.DuckDBPyConnection, settings: Settings, progress: Progress = silent, fingerprint: str | None = None) -> int:
    """Chunk every document that has no chunks, stamping them with `fingerprint`; returns how many
    (corpus.store.clear_stale first makes the ones chunked under other settings pending)."""
    pending = documents_without(con, "chunks")
    for done, batch in enumerate(batches(pending, BATCH)):
        write_chunks(con, [chunk_document(doc, settings.chunk_size, settings.chunk_overlap) for doc in batch], fingerprint)
        progress("chunk", min((done + 1) * BATCH, len(pending)), len(pending))
    return len(pending)


# a batch of (document, its sentences) in, one Structure each out (e.g. corpus.llm_structurize.LLMStructurizer)
Structurizer = Callable[[list[tuple[Document, list[Sentence]]]], list[Structure]]


def structure_pending(con: duckdb.DuckDBPyConnection, progress: Progress = silent, structurizer: Structurizer | None = None,
                      fingerprint: str | None = None) -> int:
    """Structure every document that has none (offline unless a structurizer is given), stamped with
    `fingerprint`; returns how many."""
    pending = documents_without(con, "structures")
    structure_batch = structurizer or structurize_batch
    for done, batch in enumerate(batches(pending, BATCH)):
        write_structures(con, structure_batch(list(zip(batch, load_sentences_of(con, [(d.doc_id, d.text) for d in batch])))), fingerprint)
        progress("structure", min((done + 1) * BATCH, len(pending)), len(pending))
    return len(pending)
