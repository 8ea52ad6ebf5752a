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


def build_graph(con: duckdb.DuckDBPyConnection) -> KnowledgeGraph:
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

    add(con.execute("SELECT DISTINCT chunk_id, entity_id, 1.0 FROM mentions").fetchall(), "mention")
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
        directed=False, damping=damping, reset=reset.tolist(), weights="weight" if kg.graph.ecount() else None, implementation="prpack"
    )
    return np.asarray(scores)
