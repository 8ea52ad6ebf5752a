"""The graph's view of a candidate answer, from the retrieval that found its passages: the PPR mass
of its entity vertex (kept by HippoRAGRetriever.recent_mass, not recomputed) and its distance in
hops from the entities the question names."""

from __future__ import annotations

import numpy as np

from kg.graph import Adjacency, KnowledgeGraph
from kg.normalize import normalize_name


class RetrievalSignals:
    def __init__(
        self,
        kg: KnowledgeGraph,
        norm_to_entity: dict[str, str],
        mass: np.ndarray | None,
        question_entities: list[str],
        max_hops: int = 4,
        adjacency: Adjacency | None = None,
        vertex_of: dict[str, int] | None = None,
    ):
        self.kg = kg
        self.adjacency = (
            adjacency  # the graph's sparse rows, when the retriever has built them (else built on first use)
        )
        self.norm_to_entity = norm_to_entity
        self.vertex_of = (
            kg.entity_vertex() if vertex_of is None else vertex_of
        )  # the retriever's, built once (66 ms a question at 300k entities)
        self.mass_vector = mass
        self.sources = sorted({self.vertex_of[e] for e in question_entities if e in self.vertex_of})
        self.max_hops = max_hops
        self._hops: np.ndarray | None = None

    def vertex(self, name: str) -> int | None:
        entity = self.norm_to_entity.get(normalize_name(name))
        return self.vertex_of.get(entity) if entity else None

    def mass(self, name: str) -> float:
        vertex = self.vertex(name)
        return float(self.mass_vector[vertex]) if vertex is not None and self.mass_vector is not None else 0.0

    def distance(self, name: str) -> int | None:
        """Hops from the nearest question entity (entity - passage - entity is 2), None beyond max_hops."""
        vertex = self.vertex(name)
        if vertex is None or not self.sources:
            return None
        if self._hops is None:
            self._hops = self._bfs()
        hops = self._hops[vertex]
        return int(hops) if 0 < hops <= self.max_hops else None

    def _bfs(self) -> np.ndarray:
        """Hop counts from the question's entities to every vertex, up to max_hops (beyond: inf), a
        frontier at a time over the sparse rows (a Python loop over neighbours took ~25 ms a question)."""
        if self.adjacency is None:
            self.adjacency = Adjacency.of(self.kg)
        hops = np.full(self.kg.graph.vcount(), np.inf)
        frontier = np.asarray(self.sources, dtype=np.int64)
        hops[frontier] = 0
        for depth in range(1, self.max_hops + 1):
            _, reached, _ = self.adjacency.rows(frontier)
            hops[reached[hops[reached] == np.inf]] = depth
            frontier = np.flatnonzero(
                hops == depth
            )  # the vertices first reached now, sorted: marking beats np.unique on large frontiers
            if not len(frontier):
                break
        return hops
