"""The kg stage over a workspace: extract pending chunks, keep entities tidy, build the graph."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import islice
from typing import Callable

import duckdb

from fieldmap.progress import Progress, silent
from kg.extract import ChunkText, SpacyExtractor
from kg.graph import KnowledgeGraph, build_graph
from kg.parses import model_name, write_parses
from kg.store import RETRY_LLM, RETRY_OFFLINE, FailedChunk, pending_chunks, refresh_entities, write_extractions

BATCH = 64
log = logging.getLogger(__name__)


@dataclass
class ExtractReport:
    chunks: int
    failed: int  # chunks the extractor failed on (before any fallback)
    mentions: int
    triplets: int
    fallback: int = 0  # of the failed ones, extracted by the fallback extractor instead
    retried: int = 0  # chunks taken up again: failed, fallback or stale rows of an earlier run
    stale: int = 0  # of them, extracted before by another extractor, schema or prompt (another fingerprint)
    reasons: dict[str, int] = field(default_factory=dict)  # failure reason kind -> chunks

    @property
    def all_failed(self) -> bool:
        """Every chunk this run asked the extractor for failed (an LLM outage)."""
        return self.chunks > 0 and self.failed == self.chunks


def document_batches(chunks: list[ChunkText], size: int) -> list[list[ChunkText]]:
    """Batches of about `size` chunks that never split a document: an acronym defined in one chunk
    then names the document's other chunks too, whatever else is pending (batches used to be cut
    every `size` chunks, so an incremental run and a clean one could name an entity differently)."""
    found: list[list[ChunkText]] = []
    for chunk in chunks:
        starts_document = not found or found[-1][-1].doc_id != chunk.doc_id
        if not found or (starts_document and len(found[-1]) >= size):
            found.append([])
        found[-1].append(chunk)
    return found


def extract_pending(
    con: duckdb.DuckDBPyConnection,
    extractor,
    progress: Progress = silent,
    fallback: Callable[[], SpacyExtractor] | None = None,
    fingerprint: str | None = None,
    fallback_fingerprint: str | None = None,
) -> ExtractReport:
    """Extract every chunk not yet extracted (and every failed one again), one transaction per batch
    (a crash loses one batch at most).

    A chunk that raises is logged as failed with its reason; the others go on. With `fallback` (how
    to make the offline extractor), chunks an LLM extractor failed on are extracted offline instead
    and marked "fallback", so an outage still leaves a graph; an LLM run takes them up again.
    `extractor` may also be how to make the offline extractor: it is then made only when a chunk is
    pending (loading spaCy and the embedder costs seconds a re-run with nothing new need not pay).
    `fingerprint` (of the configured extractor) makes chunks another extractor did pending too; rows
    from before fingerprints were recorded adopt it."""
    make = None if hasattr(extractor, "extract") else extractor
    uses_llm = hasattr(extractor, "extract_with_failures")
    if fingerprint is not None:
        con.execute("UPDATE extractions SET fingerprint = ? WHERE fingerprint IS NULL AND status = 'ok'", [fingerprint])
    pending = pending_chunks(con, RETRY_LLM if uses_llm else RETRY_OFFLINE, fingerprint)
    report = ExtractReport(len(pending), 0, 0, 0)
    report.retried, report.stale = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'ok') FROM extractions WHERE chunk_id IN (SELECT unnest(?::VARCHAR[]))",
        [[c.chunk_id for c in pending]],
    ).fetchall()[0]
    if make is not None:
        extractor = make() if pending else None
    parses = (
        extractor.parse_all(pending) if isinstance(extractor, SpacyExtractor) else None
    )  # parsed ahead, maybe in workers
    offline: SpacyExtractor | None = None
    done = 0
    for batch in document_batches(pending, BATCH):
        parsed = None
        if parses is not None:
            try:
                parsed = list(islice(parses, len(batch)))
            except Exception as exc:  # noqa: BLE001 - a worker died: parse the rest here, batch by batch
                log.warning("spaCy workers failed (%s: %s); parsing in this process", type(exc).__name__, exc)
                parses = None
        extractions, failures = _extract_batch(extractor, batch, parsed, uses_llm)
        if parsed is not None:  # kept for the answer reader, which would otherwise parse them again
            write_parses(con, [(c.chunk_id, c.doc_id, doc) for c, doc in zip(batch, parsed)], model_name(extractor.nlp))
        write_extractions(
            con, extractions, failures if not (failures and fallback) else [], extractor.method, fingerprint=fingerprint
        )
        report.failed += len(failures)
        for failure in failures:
            kind = failure.reason.split(":", 1)[0].strip() or "unknown"
            report.reasons[kind] = report.reasons.get(kind, 0) + 1
        if failures and fallback is not None:
            offline = offline or fallback()
            failed_ids = {f.chunk_id: f.reason for f in failures}
            rescued, still_failed = _extract_batch(offline, [c for c in batch if c.chunk_id in failed_ids], None, False)
            write_extractions(con, rescued, still_failed, offline.method, "fallback", failed_ids, fallback_fingerprint)
            report.fallback += len(rescued)
            extractions = extractions + rescued
        report.mentions += sum(len(e.mentions) for e in extractions)
        report.triplets += sum(len(e.relations) for e in extractions)
        done += len(batch)
        progress("extract", done, len(pending))
    refresh_entities(con)  # also after deletes and replacements, so names never depend on the history
    return report


def _extract_batch(extractor, batch: list[ChunkText], parsed: list | None, uses_llm: bool):
    """(extractions, failures) of one batch; a batch that raises is retried chunk by chunk."""
    try:
        if uses_llm:  # an LLM extractor reports its failed chunks itself
            return extractor.extract_with_failures(batch)
        if parsed is not None:
            return extractor.extract(batch, parsed), []
        return extractor.extract(batch), []
    except Exception:  # noqa: BLE001 - isolate the failing chunk(s), keep the rest of the batch
        extractions, failures = [], []
        for chunk in batch:
            try:
                extractions += extractor.extract([chunk])
            except Exception as exc:  # noqa: BLE001
                failures.append(FailedChunk(chunk.chunk_id, chunk.doc_id, f"{type(exc).__name__}: {exc}"))
        return extractions, failures


def rebuild_graph(con: duckdb.DuckDBPyConnection) -> KnowledgeGraph:
    return build_graph(con)
