"""Which passages mention which entities, as sparse matrices over the graph's mention edges (the chain order of
rag/hops.py reads them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csc_matrix, csr_matrix

from kg.graph import KnowledgeGraph


@dataclass
class Mentions:
    by_passage: csr_matrix  # passages x entities, 1 where the passage mentions the entity
    by_entity: csc_matrix  # the same, column-major: the passages of an entity
    n_passages: int

    @staticmethod
    def of(kg: KnowledgeGraph) -> "Mentions":
        n = kg.n_passages
        edges = np.asarray(
            [e.tuple for e in kg.graph.es.select(kind_eq="mention")] if kg.graph.ecount() else [], dtype=np.int64
        ).reshape(-1, 2)
        passage, entity = edges.min(axis=1), edges.max(axis=1) - n  # passage vertices come first
        matrix = csr_matrix((np.ones(len(edges)), (passage, entity)), shape=(n, len(kg.entity_ids)))
        matrix.data[:] = 1.0  # duplicate edges count once
        return Mentions(matrix, matrix.tocsc(), n)
