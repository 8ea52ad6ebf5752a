"""Which passages mention which entities, as sparse matrices over the graph's mention edges, for the
LinearRAG-style seeds (arXiv 2510.10114): semantic bridging and activation of passages."""
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
        edges = np.asarray([e.tuple for e in kg.graph.es.select(kind_eq="mention")] if kg.graph.ecount() else [], dtype=np.int64).reshape(-1, 2)
        passage, entity = edges.min(axis=1), edges.max(axis=1) - n  # passage vertices come first
        matrix = csr_matrix((np.ones(len(edges)), (passage, entity)), shape=(n, len(kg.entity_ids)))
        matrix.data[:] = 1.0  # duplicate edges count once
        return Mentions(matrix, matrix.tocsc(), n)

    def activation(self, entity_seeds: dict[int, float]) -> np.ndarray:
        """Per passage: the number of seeded entities it mentions over the largest such number (0..1),
        so a passage that joins several of the question's entities restarts the walk more often."""
        active = np.zeros(self.by_passage.shape[1])
        for vertex in entity_seeds:
            active[vertex - self.n_passages] = 1.0
        counts = self.by_passage @ active
        top = counts.max() if len(counts) else 0.0
        return counts / top if top > 0 else counts

    def bridge(self, named: dict[int, float], dense: np.ndarray, params) -> dict[int, float]:
        """Semantic bridging at passage grain: from each entity the question names, to its
        bridging_passages passages most similar to the question (dense score), to the other entities
        of those passages, score x dense score x bridging_decay per hop, for bridging_hops hops; the
        best score reaching each new entity vertex. (LinearRAG walks sentences; we keep no sentence
        vectors, so the passage's similarity stands in for its sentence's.)"""
        reached: dict[int, float] = {}
        frontier = {v - self.n_passages: w for v, w in named.items()}
        seen = set(frontier)
        for _ in range(params.bridging_hops):
            following: dict[int, float] = {}
            for entity, score in frontier.items():
                passages = self.by_entity.indices[self.by_entity.indptr[entity] : self.by_entity.indptr[entity + 1]]
                if not len(passages):
                    continue
                best = passages[np.argsort(-dense[passages])[: params.bridging_passages]]
                for passage in best:
                    carried = score * params.bridging_decay * float(dense[passage])
                    row = self.by_passage.indices[self.by_passage.indptr[passage] : self.by_passage.indptr[passage + 1]]
                    for other in row:
                        if other not in seen and carried > following.get(other, 0.0):
                            following[other] = carried
            frontier = dict(sorted(following.items(), key=lambda item: -item[1])[:20])  # the strongest 20 go on
            seen |= set(following)
            for entity, score in following.items():
                reached[entity + self.n_passages] = max(reached.get(entity + self.n_passages, 0.0), score)
        return reached
