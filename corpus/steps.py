"""The corpus stage over a workspace: ingest, chunk and structure whatever is not done yet."""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Callable

import duckdb

from corpus.chunking import chunk_document
from corpus.loaders import Limits, load_corpus
from corpus.models import Document, Sentence, Structure
from corpus.store import (
    SyncReport,
    documents_without,
    load_sentences_of,
    sync_documents,
    write_chunks,
    write_structures,
)
from corpus.structurize import structurize_stream
from fieldmap.nlp import PARALLEL_MIN
from fieldmap.progress import Progress, batches, silent
from fieldmap.settings import Settings

BATCH = 100


def ingest(con: duckdb.DuckDBPyConnection, paths: list[str], limits: Limits = Limits()) -> SyncReport:
    loaded = load_corpus(paths, limits)
    return sync_documents(con, loaded.documents, loaded.bad, [str(Path(p)) for p in paths], loaded.cut)


def chunk_pending(
    con: duckdb.DuckDBPyConnection, settings: Settings, progress: Progress = silent, fingerprint: str | None = None
) -> int:
    """Chunk every document that has no chunks, stamping them with `fingerprint`; returns how many
    (corpus.store.clear_stale first makes the ones chunked under other settings pending)."""
    pending = documents_without(con, "chunks")
    for done, batch in enumerate(batches(pending, BATCH)):
        write_chunks(
            con, [chunk_document(doc, settings.chunk_size, settings.chunk_overlap) for doc in batch], fingerprint
        )
        progress("chunk", min((done + 1) * BATCH, len(pending)), len(pending))
    return len(pending)


# a batch of (document, its sentences) in, one Structure each out (e.g. corpus.llm_structurize.LLMStructurizer)
Structurizer = Callable[[list[tuple[Document, list[Sentence]]]], list[Structure]]


def structure_pending(
    con: duckdb.DuckDBPyConnection,
    progress: Progress = silent,
    structurizer: Structurizer | None = None,
    fingerprint: str | None = None,
    processes: int = 1,
) -> int:
    """Structure every document that has none (offline unless a structurizer is given), stamped with
    `fingerprint`, BATCH documents a transaction; returns how many. Offline, the pending documents are
    one stream through spaCy's tagger, in `processes` workers when PARALLEL_MIN or more wait."""
    pending = documents_without(con, "structures")

    def with_sentences(batch: list[Document]) -> list[tuple[Document, list[Sentence]]]:
        return list(zip(batch, load_sentences_of(con, [(d.doc_id, d.text) for d in batch])))

    if structurizer is None:
        items = (item for batch in batches(pending, BATCH) for item in with_sentences(batch))
        structures = structurize_stream(items, processes if len(pending) >= PARALLEL_MIN else 1)
    else:
        structures = (
            structure for batch in batches(pending, BATCH) for structure in structurizer(with_sentences(batch))
        )
    done = 0
    while batch := list(islice(structures, BATCH)):
        write_structures(con, batch, fingerprint)
        done += len(batch)
        progress("structure", done, len(pending))
    return len(pending)
