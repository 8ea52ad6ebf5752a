"""Synonym candidates from an approximate-nearest-neighbour index in LanceDB, re-scored exactly.

The brute force in kg.synonyms compares every new entity with every entity: quadratic on a first
scan (~1.6 h extrapolated at 818k entities). Here each new entity asks a LanceDB vector index over
the entity vectors for a few candidates (more only when its candidates are still above the
threshold), and every candidate is re-scored with kg.pair_scores.exact_similarity, the same function
the brute force stores, so a pair found by both carries the same similarity and the threshold and
top_k decide on exact values. The index only proposes; a pair it misses is lost (recall is
measured in benchmarks/synonym_ann.py, BENCHMARKS.md "Synonyms by approximate nearest neighbours").
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kg.pair_scores import exact_similarity, select_pairs

INDEX_TYPES = ("IVF_HNSW_SQ", "IVF_PQ")
# most entities have a handful of neighbours above the threshold: ask for this many first, and for
# top_k + 1 + MORE_CANDIDATES only for entities whose last candidate is still near the threshold
FIRST_CANDIDATES = 32
MORE_CANDIDATES = 32
NEAR_THRESHOLD = 0.05  # the index's quantised distances err by less than this (8-bit SQ: ~0.01), so a
# candidate list ending this far below the threshold holds every neighbour above it that the index found
QUERY_BATCH = 2048  # query vectors sent to LanceDB at once
REBUILD_UNINDEXED = 0.2  # rows added since the index was built are searched flat; past this share, rebuild


@dataclass(frozen=True)
class AnnParams:
    index_type: str = "IVF_HNSW_SQ"
    rows_per_partition: int = 250_000  # IVF cells: one HNSW graph per cell; fewer, larger cells keep recall
    ef: int = 200  # HNSW search breadth (candidates examined); the requested limit if larger
    nprobes: int = 32  # IVF cells searched per query (IVF_PQ has ~sqrt(n) cells)
    # LanceDB answers the queries of one call mostly one after another; 4 calls at once took 2,000
    # queries on 10k names from 2.9-4.5 s to 1.65 s on 2 cores (BENCHMARKS.md, "Synonyms by approximate nearest neighbours")
    search_threads: int = 4


class LanceNeighbours:
    """Candidate neighbours of query vectors among the rows of a LanceDB table (columns id, vector),
    through its vector index; ids maps a row's id to its position in the caller's vectors."""

    def __init__(self, table, ids: list[str], params: AnnParams = AnnParams()):
        self.table = table
        self.params = params
        self._ids = pa.array(ids, type=pa.string())
        self.built_seconds: float | None = None

    def ensure_index(self) -> bool:
        """Build the index when there is none of this type or too many rows came after it; True if built."""
        rows = self.table.count_rows()
        for index in self.table.list_indices():
            if index.columns == ["vector"]:
                stats = self.table.index_stats(index.name)
                fresh = stats is not None and stats.num_unindexed_rows <= REBUILD_UNINDEXED * rows
                if fresh and stats.index_type == self.params.index_type:
                    return False
        self.build_index()
        return True

    def build_index(self) -> None:
        from lancedb.index import HnswSq, IvfPq

        rows = self.table.count_rows()
        started = time.perf_counter()
        if self.params.index_type == "IVF_HNSW_SQ":
            partitions = max(1, round(rows / self.params.rows_per_partition))
            config = HnswSq(distance_type="cosine", num_partitions=partitions)
        elif self.params.index_type == "IVF_PQ":
            dim = self.table.schema.field("vector").type.list_size
            config = IvfPq(
                distance_type="cosine", num_partitions=max(1, int(np.sqrt(rows))), num_sub_vectors=max(1, dim // 8)
            )
        else:
            raise ValueError(f"unknown ANN index type {self.params.index_type!r}; one of {INDEX_TYPES}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.table.create_index("vector", config=config, replace=True)
        self.built_seconds = time.perf_counter() - started

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(query rows, candidate positions), up to k candidates a query, nearest first by the index;
        the queries go in search_threads concurrent calls."""
        from concurrent.futures import ThreadPoolExecutor

        parts = np.array_split(np.arange(len(queries)), max(1, min(len(queries), self.params.search_threads)))
        with ThreadPoolExecutor(len(parts)) as pool:
            answers = list(pool.map(lambda part: self._search(queries[part], k), parts))
        rows = np.concatenate([part[found_rows] for part, (found_rows, _) in zip(parts, answers)])
        return rows, np.concatenate([positions for _, positions in answers])

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        query = (
            self.table.search(np.asarray(queries, dtype=np.float32))
            .distance_type("cosine")
            .limit(k)
            .select(["id", "_distance"])
        )
        if self.params.index_type == "IVF_HNSW_SQ":
            query = query.ef(max(self.params.ef, k))
        else:
            query = query.nprobes(self.params.nprobes)
        result = query.to_arrow()
        if len(queries) == 1 and "query_index" not in result.column_names:
            rows = np.zeros(result.num_rows, dtype=np.int64)
        else:
            rows = result.column("query_index").to_numpy().astype(np.int64)
        positions = pc.index_in(result.column("id"), value_set=self._ids).to_numpy(zero_copy_only=False)
        known = ~np.isnan(positions) if positions.dtype.kind == "f" else positions >= 0
        return rows[known], positions[known].astype(np.int64)


@dataclass
class AnnChoice:
    """When and over what update_synonyms uses the index: a LanceDB table holding (id, vector) of
    exactly the entities passed to it; the index is built, or rebuilt when stale, on first use."""

    table: object
    min_entities: int
    params: AnnParams = AnnParams()

    def wanted(self, new: int, total: int) -> bool:
        """The brute force compares new x total pairs; a first scan of min_entities compares min_entities^2."""
        return new * total >= self.min_entities**2

    def neighbours(self, ids: list[str]) -> LanceNeighbours:
        neighbours = LanceNeighbours(self.table, ids, self.params)
        neighbours.ensure_index()
        return neighbours


def ann_pairs(
    new_ids: list[str],
    new_vectors: np.ndarray,
    all_ids: list[str],
    all_vectors: np.ndarray,
    threshold: float,
    top_k: int,
    neighbours: LanceNeighbours,
) -> list[tuple[str, str, float]]:
    """What kg.synonyms.nearest_pairs returns, from the index's candidates re-scored exactly."""
    all_vectors = np.asarray(all_vectors, dtype=np.float32)
    new_vectors = np.asarray(new_vectors, dtype=np.float32)
    wanted = top_k + 1
    pairs: dict[tuple[str, str], float] = {}
    for start in range(0, len(new_ids), QUERY_BATCH):
        queries = new_vectors[start : start + QUERY_BATCH]
        pending, k = np.arange(len(queries)), min(FIRST_CANDIDATES, wanted)
        while len(pending):
            rows, columns = neighbours.search(queries[pending], k)
            rows = pending[rows]
            values = exact_similarity(queries[rows], all_vectors[columns])
            more = np.zeros(len(queries), dtype=bool)
            if k < wanted + MORE_CANDIDATES:
                counts = np.bincount(rows, minlength=len(queries))
                lowest = np.full(len(queries), np.inf)
                np.minimum.at(lowest, rows, values)
                more[pending] = (counts[pending] >= k) & (lowest[pending] >= threshold - NEAR_THRESHOLD)
            done = ~more[rows]
            select_pairs(start + rows[done], columns[done], values[done], threshold, top_k, new_ids, all_ids, pairs)
            pending, k = np.flatnonzero(more), wanted + MORE_CANDIDATES
    return [(a, b, s) for (a, b), s in pairs.items()]


def vector_table(db_path: str, name: str, ids: list[str], vectors: np.ndarray):
    """A LanceDB table of (id, vector) for callers whose vectors are not in a workspace's store."""
    import lancedb

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    flat = pa.array(vectors.reshape(-1))
    data = pa.table(
        {"id": pa.array(ids, type=pa.string()), "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])}
    )
    return lancedb.connect(db_path).create_table(name, data=data, mode="overwrite")
