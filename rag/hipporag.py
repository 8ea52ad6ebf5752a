"""HippoRAG 2 retrieval (arXiv 2502.14802) over fieldmap's graph, without an LLM at query time.

1. embed the query and score every fact ("subject predicate object");
2. recognition memory keeps the relevant ones among the top linking_top_k (offline: a rule, see
   `recognise`; the paper uses an LLM filter here);
3. seeds: the entities of the kept facts, weighted by the fact's normalised score divided by the
   number of passages the entity occurs in; entities the query names exactly are seeded too;
   every passage gets passage_node_weight x its min-max normalised dense score;
4. Personalized PageRank (damping 0.5) on the undirected weighted graph; passages ranked by mass;
5. no fact survives and no entity is named: plain dense retrieval.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from kg.graph import Adjacency, KnowledgeGraph, WholeGraphPageRank, neighbourhood, restricted_pagerank
from rag.index import VectorTable
from rag.linking import EntityLinker
from rag.retrievers import DenseRetriever, Hit


@dataclass(frozen=True)
class HippoParams:
    linking_top_k: int = 5  # facts considered per query (the paper's default)
    passage_node_weight: float = 0.3
    damping: float = 0.5
    recognition: str = "overlap"  # none | threshold | overlap
    fact_threshold: float = 0.5  # for recognition="threshold"
    query_entity_weight: float = 1.0  # seed weight of an entity the query names exactly (0: off)
    # > 0: PPR only on the entity seeds' k-hop neighbourhood plus the top neighbourhood_passages
    # dense passages and their entities (for large graphs; 0: the whole graph); vertices with more
    # than neighbourhood_max_degree edges are included but not expanded
    neighbourhood_hops: int = 0
    neighbourhood_passages: int = 100
    neighbourhood_max_degree: int = 150
    whole_graph_below: int = 0  # graphs with fewer vertices than this get whole-graph PPR even when hops > 0


def _minmax(values: np.ndarray) -> np.ndarray:
    spread = float(np.ptp(values)) if len(values) else 0.0
    return (values - values.min()) / spread if spread > 1e-12 else np.ones_like(values)


class HippoRAGRetriever:
    name = "hipporag"

    def __init__(self, kg: KnowledgeGraph, facts: VectorTable, linker: EntityLinker, dense: DenseRetriever, params: HippoParams = HippoParams()):
        self.kg = kg
        self.linker = linker
        self.dense = dense
        self.params = params
        self.fact_ids, self.fact_vectors = facts.matrix()
        self.fact_subjects = facts.column("subject_id")
        self.fact_objects = facts.column("object_id")
        self.fact_texts = facts.column("text")
        self._entity_vertex = kg.entity_vertex()
        self._passage_vertex = kg.passage_vertex()
        mention_edges = [edge.tuple for edge in kg.graph.es.select(kind_eq="mention")] if kg.graph.ecount() else []
        counts = np.bincount(np.asarray(mention_edges, dtype=int).reshape(-1), minlength=kg.graph.vcount())
        self._passages_of = np.maximum(counts, 1).astype(float)  # passages each entity occurs in
        self._adjacency: Adjacency | None = None  # the graph as sparse rows, built on first use
        self._whole: WholeGraphPageRank | None = None  # the whole-graph PPR operator, built on first use
        self.recent_mass: OrderedDict[str, np.ndarray] = OrderedDict()  # query -> PPR mass of every vertex, last few queries (the reader's entity scores)

    def recognise(self, query: str, candidates: list[int]) -> list[int]:
        """The offline recognition memory: which of the top facts to keep."""
        rule = self.params.recognition
        if rule == "none":
            return candidates
        if rule == "threshold":
            return [i for i in candidates if self._fact_score(i) >= self.params.fact_threshold]
        if rule == "overlap":  # keep facts that share a content word with the query
            query_words = _content_words(query)
            return [i for i in candidates if _content_words(self.fact_texts[i]) & query_words]
        raise ValueError(f"unknown recognition rule {rule!r}")

    def _fact_score(self, index: int) -> float:
        return float(self._last_scores[index])

    def seeds(self, query: str, query_vector: np.ndarray) -> dict[int, float]:
        """Entity vertex -> restart weight."""
        weights: dict[int, float] = {}
        if len(self.fact_ids):
            self._last_scores = self.fact_vectors @ query_vector
            top = list(np.argsort(-self._last_scores)[: self.params.linking_top_k])
            kept = self.recognise(query, top)
            normalised = _minmax(self._last_scores[top])
            score_of = dict(zip(top, normalised))
            for index in kept:
                for entity_id in (self.fact_subjects[index], self.fact_objects[index]):
                    vertex = self._entity_vertex.get(entity_id)
                    if vertex is not None:
                        weights[vertex] = weights.get(vertex, 0.0) + score_of[index] / self._passages_of[vertex]
        if self.params.query_entity_weight > 0:
            for phrase in self.linker.phrases(query):
                entity_id = self.linker.norm_to_entity.get(phrase)
                vertex = self._entity_vertex.get(entity_id) if entity_id else None
                if vertex is not None:
                    weights[vertex] = weights.get(vertex, 0.0) + self.params.query_entity_weight / self._passages_of[vertex]
        return weights

    @property
    def restricted(self) -> bool:
        """Whether PPR runs on the seeds' neighbourhood instead of the whole graph."""
        return self.params.neighbourhood_hops > 0 and self.kg.graph.vcount() >= self.params.whole_graph_below

    def neighbourhood(self, entity_seeds: dict[int, float], reset: np.ndarray, k: int) -> np.ndarray:
        """The vertices of the restricted PPR: the entity seeds' neighbourhood_hops-hop neighbourhood,
        and the top passages by restart weight (at least k) with their entities."""
        passages = reset[: self.kg.n_passages]
        count = min(max(self.params.neighbourhood_passages, k), len(passages))
        top = np.argpartition(-passages, count - 1)[:count] if count else np.zeros(0, dtype=int)
        cap = self.params.neighbourhood_max_degree
        return np.union1d(neighbourhood(self.kg, list(entity_seeds), self.params.neighbourhood_hops, cap), neighbourhood(self.kg, top.tolist(), 1, cap))

    def retrieve(self, query: str, k: int) -> list[Hit]:
        query_vector = self.dense.embedder.queries([query])[0]
        entity_seeds = self.seeds(query, query_vector)
        if not entity_seeds:
            return self.dense.retrieve(query, k)
        reset = np.zeros(self.kg.graph.vcount())
        for vertex, weight in entity_seeds.items():
            reset[vertex] = weight
        ids, dense_scores = self.dense.scores(query_vector)
        if len(ids):
            for chunk_id, score in zip(ids, _minmax(dense_scores)):
                vertex = self._passage_vertex.get(chunk_id)
                if vertex is not None:
                    reset[vertex] += self.params.passage_node_weight * score
        if self._adjacency is None:
            self._adjacency = Adjacency.of(self.kg)
        if self.restricted:
            vertices = self.neighbourhood(entity_seeds, reset, k)
            mass = restricted_pagerank(self.kg, reset, vertices, self.params.damping, self._adjacency)
        else:
            if self._whole is None:
                self._whole = WholeGraphPageRank(self.kg, self._adjacency)
            mass = self._whole(reset, self.params.damping)
        self.recent_mass[query] = mass
        while len(self.recent_mass) > 8:
            self.recent_mass.popitem(last=False)
        mass = mass[: self.kg.n_passages]
        top = np.argsort(-mass)[:k]
        return [Hit(self.kg.passage_ids[i], float(mass[i])) for i in top]


STOP = frozenset(
    "a an the of in on at to for from by with and or is was were be been are who what when where which whose how why "
    "did does do that this these those as its it his her their he she they".split()
)


def _content_words(text: str) -> set[str]:
    return {w for w in "".join(c.lower() if c.isalnum() else " " for c in text).split() if w not in STOP and len(w) > 2}
