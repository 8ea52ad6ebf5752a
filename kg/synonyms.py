"""Synonym edges between entities that are near neighbours under the embedder (HippoRAG 2).

Computed with blocked matrix products, only for entities not scanned before, so an incremental
run never re-adds existing edges (HippoRAG's own superlinear slowdown, its issue #170). The
threshold is calibrated per embedder: never below the paper's 0.8, and above the similarity of
nearly all random pairs (with e5-small, 90% of random pairs exceed 0.8)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np

from fieldmap.store import get_meta, insert_rows, set_meta, transaction
from kg.pair_scores import exact_similarity, select_pairs
from kg.synonym_ann import AnnChoice, ann_pairs

PAPER_THRESHOLD = 0.8


@dataclass
class SynonymReport:
    threshold: float
    scanned: int
    edges_added: int
    edges_total: int
    method: str = "exact"  # "exact" (brute force) or the ANN index type whose candidates were re-scored


SIMILARITY_BLOCK_BYTES = 2**30  # one block of similarities; at 818k entities 328 rows (a fixed 1,024 rows held 3.3 GB)


def calibrate_threshold(
    vectors: np.ndarray, quantile: float = 0.999, floor: float = PAPER_THRESHOLD, pairs: int = 200_000, seed: int = 0
) -> float:
    """The larger of the floor and the given quantile of random-pair cosine similarities."""
    if len(vectors) < 2:
        return floor
    rng = np.random.default_rng(seed)
    left = rng.integers(0, len(vectors), pairs)
    right = rng.integers(0, len(vectors), pairs)
    keep = left != right
    similarities = np.einsum("ij,ij->i", vectors[left[keep]], vectors[right[keep]])
    return float(max(floor, np.quantile(similarities, quantile)))


CANDIDATE_SLACK = (
    1e-4  # float32 products of unit vectors err by ~1e-6; pairs this close below the threshold are re-scored exactly
)


def nearest_pairs(
    new_ids: list[str],
    new_vectors: np.ndarray,
    all_ids: list[str],
    all_vectors: np.ndarray,
    threshold: float,
    top_k: int,
    block_bytes: int = SIMILARITY_BLOCK_BYTES,
) -> list[tuple[str, str, float]]:
    """(a, b, similarity) with a < b for each new entity's top_k neighbours at or above threshold, exactly.

    The new entities go in blocks of rows whose similarity matrix (float32) stays within
    block_bytes, whatever the number of entities; the pairs near or above the threshold are then
    re-scored with exact_similarity, which decides."""
    all_vectors = np.ascontiguousarray(all_vectors, dtype=np.float32)
    new_vectors = np.asarray(new_vectors, dtype=np.float32)
    block = max(1, min(4096, block_bytes // (4 * max(1, len(all_ids)))))
    pairs: dict[tuple[str, str], float] = {}
    for start in range(0, len(new_ids), block):
        similarities = new_vectors[start : start + block] @ all_vectors.T
        rows, columns = np.nonzero(similarities >= threshold - CANDIDATE_SLACK)
        del similarities
        if len(rows):
            values = exact_similarity(new_vectors[start + rows], all_vectors[columns])
            select_pairs(start + rows, columns, values, threshold, top_k, new_ids, all_ids, pairs)
    return [(a, b, s) for (a, b), s in pairs.items()]


def update_synonyms(
    con: duckdb.DuckDBPyConnection,
    ids: list[str],
    vectors: np.ndarray,
    top_k: int,
    threshold: float | None = None,
    ann: AnnChoice | None = None,
) -> SynonymReport:
    """Add synonym edges for entities never scanned; the calibrated threshold is kept in meta so
    later incremental runs use the same one (an explicit threshold overrides it). With `ann`
    (kg.synonym_ann.AnnChoice: a LanceDB table of these ids and vectors), the candidates come from
    its vector index whenever the brute force's comparisons would reach ann.min_entities squared."""
    if threshold is None:
        stored = get_meta(con, "synonym_threshold")
        threshold = float(stored) if stored else calibrate_threshold(vectors)
    scanned = {r[0] for r in con.execute("SELECT entity_id FROM synonym_scanned").fetchall()}
    new = [i for i, eid in enumerate(ids) if eid not in scanned]
    pairs, method = [], "exact"
    if new and ann is not None and ann.wanted(len(new), len(ids)):
        pairs, method = (
            ann_pairs([ids[i] for i in new], vectors[new], ids, vectors, threshold, top_k, ann.neighbours(ids)),
            ann.params.index_type,
        )
    elif new:
        pairs = nearest_pairs([ids[i] for i in new], vectors[new], ids, vectors, threshold, top_k)
    with transaction(con):
        set_meta(con, "synonym_threshold", repr(threshold))
        insert_rows(con, "synonyms", ["entity_a", "entity_b", "similarity"], pairs, "ON CONFLICT DO NOTHING")
        insert_rows(con, "synonym_scanned", ["entity_id"], [(ids[i],) for i in new], "ON CONFLICT DO NOTHING")
    total = con.execute("SELECT count(*) FROM synonyms").fetchall()[0][0]
    return SynonymReport(threshold, len(new), len(pairs), total, method)
