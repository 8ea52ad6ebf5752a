"""Retrievers behind one interface: a query in, ranked chunk ids with scores out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fieldmap.embedders import Embedder
from rag.index import VectorTable


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
