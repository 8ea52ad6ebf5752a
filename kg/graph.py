"""The knowledge graph as HippoRAG 2 builds it, in igraph: passage (chunk) nodes and entity
nodes; passage-entity edges, relation edges weighted by count, synonym edges by similarity.

Built from the DuckDB tables in one pass of vectorised queries, so it always agrees with them.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import duckdb
import igraph as ig
import numpy as np


@dataclass
class KnowledgeGraph:
    graph: ig.Graph  # vertex attrs: key ("p:<chunk_id>" / entity id), kind; edge attrs: weight, kind
    passage_ids: list[str]  # chunk ids; vertex i is passage_ids[i]
    entity_ids: list[str]  # entity vertex len(passage_ids) + j is entity_ids[j]

    @property
    def n_passages(self) -> int:
        return len(self.passage_ids)

    def entity_vertex(self) -> dict[str, int]:
        offset = self.n_passages
        return {eid: offset + j for j, eid in enumerate(self.entity_ids)}

    def passage_vertex(self) -> dict[str, int]:
        return {cid: i for i, cid in enumerate(self.passage_ids)}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)  # readers never see half a graph

    @staticmethod
    def load(path: Path) -> "KnowledgeGraph":
        if not path.exists():
            raise FileNotFoundError(f"no graph at {path}: run `fieldmap run` first")
        with open(path, "rb") as handle:
            return pickle.load(handle)

    def stats(self) -> dict[str, int]:
        kinds = self.graph.es["kind"] if self.graph.ecount() else []
        return {
            "passages": self.n_passages,
            "entities": len(self.entity_ids),
            "passage_entity_edges": kinds.count("mention"),
            "relation_edges": kinds.count("relation"),
            "synonym_edges": kinds.count("synonym"),
        }


MENTION_WEIGHTS = {
    # every passage-entity edge weighs 1 (HippoRAG 2)
    "one": "SELECT DISTINCT chunk_id, entity_id, 1.0 FROM mentions",
    # LinearRAG's weighting: the entity's share of the passage's mentions, times the number of distinct
    # entities of the passage, so a passage's edges still sum to its entity count (their balance with
    # relation and synonym edges is kept) and only the split among its entities changes
    "share": """SELECT chunk_id, entity_id, count(*) / sum(count(*)) OVER (PARTITION BY chunk_id) * count(*) OVER (PARTITION BY chunk_id)
                FROM mentions GROUP BY chunk_id, entity_id""",
}


def build_graph(con: duckdb.DuckDBPyConnection, mention_weight: str = "one") -> KnowledgeGraph:
    """The graph of the tables; mention_weight names the passage-entity edge weights (MENTION_WEIGHTS)."""
    if mention_weight not in MENTION_WEIGHTS:
        raise ValueError(f"unknown mention weighting {mention_weight!r}: use one of {', '.join(MENTION_WEIGHTS)}")
    passage_ids = [r[0] for r in con.execute("SELECT chunk_id FROM chunks ORDER BY chunk_id").fetchall()]
    entity_ids = [r[0] for r in con.execute("SELECT entity_id FROM entities ORDER BY entity_id").fetchall()]
    index = {cid: i for i, cid in enumerate(passage_ids)}
    index.update({eid: len(passage_ids) + j for j, eid in enumerate(entity_ids)})
    edges: list[tuple[int, int]] = []
    weights: list[float] = []
    kinds: list[str] = []

    def add(rows: list[tuple], kind: str) -> None:
        for a, b, weight in rows:
            if a in index and b in index:
                edges.append((index[a], index[b]))
                weights.append(float(weight))
                kinds.append(kind)

    add(con.execute(MENTION_WEIGHTS[mention_weight]).fetchall(), "mention")
    add(
        con.execute(
            """SELECT least(subject_id, object_id), greatest(subject_id, object_id), count(*)
               FROM triplets WHERE subject_id <> object_id GROUP BY ALL"""
        ).fetchall(),
        "relation",
    )
    add(con.execute("SELECT entity_a, entity_b, similarity FROM synonyms").fetchall(), "synonym")
    graph = ig.Graph(n=len(passage_ids) + len(entity_ids), edges=edges, directed=False)
    graph.vs["key"] = passage_ids + entity_ids
    graph.vs["kind"] = ["passage"] * len(passage_ids) + ["entity"] * len(entity_ids)
    graph.es["weight"] = weights
    graph.es["kind"] = kinds
    return KnowledgeGraph(graph, passage_ids, entity_ids)


def personalized_pagerank(kg: KnowledgeGraph, reset: np.ndarray, damping: float = 0.5) -> np.ndarray:
    """PageRank mass of every vertex for a restart distribution `reset` (one weight per vertex)."""
    if reset.sum() <= 0:
        raise ValueError("personalized PageRank needs at least one seed with positive weight")
    scores = kg.graph.personalized_pagerank(
        directed=False,
        damping=damping,
        reset=reset.tolist(),
        weights="weight" if kg.graph.ecount() else None,
        implementation="prpack",
    )
    return np.asarray(scores)


def neighbourhood(kg: KnowledgeGraph, seeds: list[int], hops: int, max_degree: int | None = None) -> np.ndarray:
    """The sorted vertices within `hops` edges of any seed, the seeds included. Vertices with more
    than max_degree edges (hubs: entities in many passages) are included but not expanded, else two
    hops through a hub reach a large part of a big graph."""
    reached = {int(v) for v in seeds}
    frontier = list(reached)
    for _ in range(hops):
        if max_degree is not None and frontier:
            frontier = [v for v, d in zip(frontier, kg.graph.degree(frontier)) if d <= max_degree]
        if not frontier:
            break
        new = {v for group in kg.graph.neighborhood(vertices=frontier, order=1) for v in group} - reached
        reached |= new
        frontier = list(new)
    return np.asarray(sorted(reached), dtype=np.int64)


@dataclass
class Adjacency:
    """The graph as compressed sparse rows (each edge in both directions) with weighted degrees,
    built once per graph, so a restricted PPR touches only the rows of its own vertices."""

    offsets: np.ndarray  # the edges of vertex v are rows offsets[v]:offsets[v + 1]
    targets: np.ndarray
    weights: np.ndarray
    strength: np.ndarray  # weighted degree of every vertex in the whole graph

    @staticmethod
    def of(kg: KnowledgeGraph) -> "Adjacency":
        n = kg.graph.vcount()
        edges = np.asarray(kg.graph.get_edgelist(), dtype=np.int64).reshape(-1, 2)
        weights = np.asarray(kg.graph.es["weight"], dtype=float) if kg.graph.ecount() else np.zeros(0)
        source = np.concatenate([edges[:, 0], edges[:, 1]])
        order = np.argsort(source, kind="stable")
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(source, minlength=n), out=offsets[1:])
        both = np.concatenate([weights, weights])
        return Adjacency(
            offsets,
            np.concatenate([edges[:, 1], edges[:, 0]])[order],
            both[order],
            np.bincount(source, weights=both, minlength=n),
        )

    def rows(self, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(source, target, weight) of every edge of the vertices; source as a position in `vertices`."""
        starts = self.offsets[vertices]
        counts = self.offsets[vertices + 1] - starts
        index = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        return np.repeat(np.arange(len(vertices)), counts), self.targets[index], self.weights[index]


def restricted_pagerank(
    kg: KnowledgeGraph,
    reset: np.ndarray,
    vertices: np.ndarray,
    damping: float = 0.5,
    adjacency: Adjacency | None = None,
    tolerance: float = 1e-10,
    max_iterations: int = 1000,
) -> np.ndarray:
    """Personalized PageRank computed on `vertices` only, with the whole graph's transition
    probabilities: a walk that leaves the vertices is dropped, restart weight outside them is
    ignored (a local approximation from below). One score per vertex of the whole graph, 0 outside,
    on the whole-graph scale; equal to personalized_pagerank when the vertices hold whole
    components. Pass `adjacency` (Adjacency.of(kg), built once) when calling more than once."""
    vertices = np.unique(np.asarray(vertices, dtype=np.int64))
    total = float(reset.sum())
    if total <= 0 or reset[vertices].sum() <= 0:
        raise ValueError("personalized PageRank needs at least one seed with positive weight")
    adjacency = adjacency or Adjacency.of(kg)
    restart = reset[vertices] / total
    source, target, weight = adjacency.rows(vertices)
    local = np.full(kg.graph.vcount(), -1, dtype=np.int64)
    local[vertices] = np.arange(len(vertices))
    target = local[target]
    inside = target >= 0  # edges between two of the vertices
    source_local, target_local = source[inside], target[inside]
    strength = adjacency.strength[vertices]
    step = weight[inside] / strength[source_local]
    mass = _power_iteration(
        lambda m: np.bincount(target_local, weights=m[source_local] * step, minlength=len(vertices)),
        restart,
        strength == 0,
        damping,
        tolerance,
        max_iterations,
    )
    scores = np.zeros(kg.graph.vcount())
    scores[vertices] = mass
    return scores


class WholeGraphPageRank:
    """Personalized PageRank on the whole graph by power iteration over a sparse transition matrix
    built once per graph: igraph's PRPACK scores (to `tolerance`) at a fraction of the cost per
    query, since PRPACK re-prepares the graph on every call (MuSiQue's 23,800 vertices: BENCHMARKS.md)."""

    def __init__(self, kg: KnowledgeGraph, adjacency: Adjacency | None = None):
        from scipy.sparse import csr_matrix

        adjacency = adjacency or Adjacency.of(kg)
        n = kg.graph.vcount()
        source = np.repeat(np.arange(n), np.diff(adjacency.offsets))
        step = adjacency.weights / np.where(adjacency.strength > 0, adjacency.strength, 1.0)[source]
        self.transition = csr_matrix(
            (step, (adjacency.targets, source)), shape=(n, n)
        )  # column v: where a walk at v goes
        self.dangling = adjacency.strength == 0  # as igraph does: a walk with nowhere to go restarts

    def __call__(
        self, reset: np.ndarray, damping: float = 0.5, tolerance: float = 1e-10, max_iterations: int = 1000
    ) -> np.ndarray:
        total = float(reset.sum())
        if total <= 0:
            raise ValueError("personalized PageRank needs at least one seed with positive weight")
        return _power_iteration(
            self.transition.__matmul__, reset / total, self.dangling, damping, tolerance, max_iterations
        )


def _power_iteration(
    spread, restart: np.ndarray, dangling: np.ndarray, damping: float, tolerance: float, max_iterations: int
) -> np.ndarray:
    """Personalized PageRank mass for the restart distribution: `spread(mass)` moves mass one step
    along the edges; a walk at a dangling vertex restarts, as igraph does. Stops when the mass moves
    less than `tolerance` (L1) in a step."""
    mass = restart.copy()
    for _ in range(max_iterations):
        following = (1 - damping) * restart + damping * (spread(mass) + mass[dangling].sum() * restart)
        change = float(np.abs(following - mass).sum())
        mass = following
        if change < tolerance:
            break
    return mass
