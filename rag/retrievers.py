"""Retrievers behind one interface: a query in, ranked chunk ids with scores out."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fieldmap.embedders import Embedder
from kg.graph import KnowledgeGraph, personalized_pagerank
from rag.index import VectorTable
from rag.linking import EntityLinker


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    score: float


class Retriever(Protocol):
    name: str

    def retrieve(self, query: str, k: int) -> list[Hit]: ...


class DenseRetriever:
    name = "dense"

    def __init__(self, chunks: VectorTable, embedder: Embedder):
        self.chunks = chunks
        self.embedder = embedder

    def retrieve(self, query: str, k: int) -> list[Hit]:
        return [Hit(cid, score) for cid, score in self.chunks.dense(self.embedder.queries([query])[0], k)]

    def scores(self, query_vector: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Cosine similarity of the query to every chunk (for seeding passage nodes)."""
        ids, matrix = self.chunks.matrix()
        return ids, matrix @ query_vector


class FullTextRetriever:
    name = "bm25"

    def __init__(self, chunks: VectorTable):
        self.chunks = chunks

    def retrieve(self, query: str, k: int) -> list[Hit]:
        return [Hit(cid, score) for cid, score in self.chunks.fulltext(_fts_safe(query), k)]


def _fts_safe(query: str) -> str:
    """Plain words only: the full-text parser treats quotes, colons and operators as syntax."""
    return " ".join("".join(c if c.isalnum() else " " for c in query).split())


class GraphRetriever:
    """Personalized PageRank over the knowledge graph: entity seeds from the query, plus every
    passage seeded with a small weight times its normalised dense score (HippoRAG 2)."""

    name = "graph"

    def __init__(self, kg: KnowledgeGraph, linker: EntityLinker, dense: DenseRetriever, passage_weight: float = 0.05, damping: float = 0.5):
        self.kg = kg
        self.linker = linker
        self.dense = dense
        self.passage_weight = passage_weight
        self.damping = damping
        self._entity_vertex = kg.entity_vertex()
        self._passage_vertex = kg.passage_vertex()
        # how many passages each entity occurs in: a seed's weight is divided by it
        mention_edges = [edge.tuple for edge in kg.graph.es.select(kind_eq="mention")] if kg.graph.ecount() else []
        counts = np.bincount(np.asarray(mention_edges, dtype=int).reshape(-1), minlength=kg.graph.vcount())
        self._entity_passages = np.maximum(counts, 1).astype(float)

    def retrieve(self, query: str, k: int) -> list[Hit]:
        query_vector = self.dense.embedder.queries([query])[0]
        reset = np.zeros(self.kg.graph.vcount())
        for entity_id, score in self.linker.link(query, query_vector).items():
            vertex = self._entity_vertex.get(entity_id)
            if vertex is not None:
                reset[vertex] += score / self._entity_passages[vertex]
        if not reset.any():
            return self.dense.retrieve(query, k)  # nothing to seed the graph with
        ids, dense_scores = self.dense.scores(query_vector)
        if len(ids):
            normalised = (dense_scores - dense_scores.min()) / max(float(np.ptp(dense_scores)), 1e-9)
            for cid, score in zip(ids, normalised):
                vertex = self._passage_vertex.get(cid)
                if vertex is not None:
                    reset[vertex] += self.passage_weight * score
        mass = personalized_pagerank(self.kg, reset, self.damping)[: self.kg.n_passages]
        top = np.argsort(-mass)[:k]
        return [Hit(self.kg.passage_ids[i], float(mass[i])) for i in top]


class HybridRetriever:
    """Reciprocal-rank fusion of several retrievers (score = sum of 1 / (rrf_k + rank))."""

    name = "hybrid"

    def __init__(self, retrievers: list, rrf_k: int = 60, depth: int = 50):
        self.retrievers = retrievers
        self.rrf_k = rrf_k
        self.depth = depth

    def retrieve(self, query: str, k: int) -> list[Hit]:
        fused: dict[str, float] = {}
        for retriever in self.retrievers:
            for rank, hit in enumerate(retriever.retrieve(query, self.depth)):
                fused[hit.chunk_id] = fused.get(hit.chunk_id, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        ranked = sorted(fused.items(), key=lambda item: -item[1])[:k]
        return [Hit(cid, score) for cid, score in ranked]
