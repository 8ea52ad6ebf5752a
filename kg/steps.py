"""The kg stage over a workspace: extract pending chunks, keep entities tidy, build the graph."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import islice

import duckdb

from fieldmap.progress import Progress, batches, silent
from kg.extract import SpacyExtractor
from kg.graph import KnowledgeGraph, build_graph
from kg.store import FailedChunk, pending_chunks, refresh_entities, write_extractions

BATCH = 64
log = logging.getLogger(__name__)


@dataclass
class ExtractReport:
    chunks: int
    failed: int
    mentions: int
    triplets: int


def extract_pending(con: duckdb.DuckDBPyConnection, extractor: SpacyExtractor, progress: Progress = silent) -> ExtractReport:
    """Extract every chunk not yet extracted, one transaction per batch (a crash loses one batch at most).

    A chunk that raises is logged as failed with its reason; the others go on."""
    pending = pending_chunks(con)
    report = ExtractReport(len(pending), 0, 0, 0)
    parses = extractor.parse_all(pending) if isinstance(extractor, SpacyExtractor) else None  # parsed ahead, maybe in workers
    for done, batch in enumerate(batches(pending, BATCH)):
        parsed = None
        if parses is not None:
            try:
                parsed = list(islice(parses, len(batch)))
            except Exception as exc:  # noqa: BLE001 - a worker died: parse the rest here, batch by batch
                log.warning("spaCy workers failed (%s: %s); parsing in this process", type(exc).__name__, exc)
                parses = None
        try:
            if hasattr(extractor, "extract_with_failures"):  # an LLM extractor reports its failed chunks itself
                extractions, failures = extractor.extract_with_failures(batch)
            elif parsed is not None:
                extractions, failures = extractor.extract(batch, parsed), []
            else:
                extractions, failures = extractor.extract(batch), []
        except Exception:  # noqa: BLE001 - isolate the failing chunk(s), keep the rest of the batch
            extractions, failures = [], []
            for chunk in batch:
                try:
                    extractions += extractor.extract([chunk])
                except Exception as exc:  # noqa: BLE001
                    failures.append(FailedChunk(chunk.chunk_id, chunk.doc_id, f"{type(exc).__name__}: {exc}"))
        write_extractions(con, extractions, failures, extractor.method)
        report.failed += len(failures)
        report.mentions += sum(len(e.mentions) for e in extractions)
        report.triplets += sum(len(e.relations) for e in extractions)
        progress("extract", min((done + 1) * BATCH, len(pending)), len(pending))
    if pending:
        refresh_entities(con)
    return report


def rebuild_graph(con: duckdb.DuckDBPyConnection) -> KnowledgeGraph:
    return build_graph(con)
