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

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from fieldmap.settings import Settings
from kg.graph import Adjacency, KnowledgeGraph, WholeGraphPageRank, neighbourhood, restricted_pagerank
from rag.hops import chain_fill, chain_order, topic_vertices
from rag.index import VectorTable
from rag.linking import EntityLinker
from rag.mentions import Mentions
from rag.retrievers import DenseRetriever, Hit
from rag.words import fact_words


@dataclass(frozen=True)
class HippoParams:
    """The retrieval fields of Settings, under the same names (their help and defaults are there, written once)."""

    linking_top_k: int
    passage_node_weight: float
    ppr_damping: float
    recognition: str
    fact_threshold: float
    query_entity_weight: float
    ppr_neighbourhood_hops: int
    ppr_neighbourhood_passages: int
    ppr_neighbourhood_max_degree: int
    ppr_whole_graph_below: int
    fuse_dense: float
    fuse_depth: int
    rrf_k: int
    named_first: bool
    chain_second: bool
    chain_fill: bool

    @classmethod
    def of(cls, settings: Settings) -> "HippoParams":
        return cls(**{field.name: getattr(settings, field.name) for field in dataclasses.fields(cls)})


def _minmax(values: np.ndarray) -> np.ndarray:
    spread = float(np.ptp(values)) if len(values) else 0.0
    return (values - values.min()) / spread if spread > 1e-12 else np.ones_like(values)


class PPROrder:
    """A hipporag retriever whose lists keep PPR's order (HippoRAGRetriever.retrieve, reorder False)."""

    def __init__(self, inner: "HippoRAGRetriever"):
        self.inner = inner

    def retrieve(self, query: str, k: int) -> list[Hit]:
        return self.inner.retrieve(query, k, reorder=False)


class HippoRAGRetriever:
    name = "hipporag"

    def __init__(
        self, kg: KnowledgeGraph, facts: VectorTable, linker: EntityLinker, dense: DenseRetriever, params: HippoParams
    ):
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
        self.recent_mass: OrderedDict[str, np.ndarray] = (
            OrderedDict()
        )  # query -> PPR mass of every vertex, last few queries (the reader's entity scores)
        self._mentions: Mentions | None = None  # passage x entity incidence, built on first use
        self._aligned: tuple[list[str], np.ndarray] | None = None  # dense ids -> passage vertices
        self._named: tuple[str, dict[int, float]] | None = None  # the last query and the entity vertices it names
        self._topics: np.ndarray | None = (
            None  # passage vertex -> the entity vertex its title names (-1: none), built on first use
        )

    def recognise(self, query: str, candidates: list[int]) -> list[int]:
        """The offline recognition memory: which of the top facts to keep."""
        rule = self.params.recognition
        if rule == "none":
            return candidates
        if rule == "threshold":
            return [i for i in candidates if self._fact_score(i) >= self.params.fact_threshold]
        if rule == "overlap":  # keep facts that share a content word with the query
            query_words = fact_words(query)
            return [i for i in candidates if fact_words(self.fact_texts[i]) & query_words]
        raise ValueError(f"unknown recognition rule {rule!r}")

    def _fact_score(self, index: int) -> float:
        return float(self._last_scores[index])

    def seeds(self, query: str, query_vector: np.ndarray) -> dict[int, float]:
        """Entity vertex -> restart weight: entities of the kept facts, and the entities the query names."""
        weights: dict[int, float] = {}
        if len(self.fact_ids):
            self._last_scores = self.fact_vectors @ query_vector
            top = list(_top(self._last_scores, self.params.linking_top_k))
            kept = self.recognise(query, top)
            normalised = _minmax(self._last_scores[top])
            score_of = dict(zip(top, normalised))
            for index in kept:
                for entity_id in (self.fact_subjects[index], self.fact_objects[index]):
                    vertex = self._entity_vertex.get(entity_id)
                    if vertex is not None:
                        weights[vertex] = weights.get(vertex, 0.0) + score_of[index] / self._passages_of[vertex]
        for vertex, weight in self.named(query).items():
            weights[vertex] = weights.get(vertex, 0.0) + weight / self._passages_of[vertex]
        return weights

    def named(self, query: str) -> dict[int, float]:
        """Entity vertices the query names exactly (an exact noun phrase), with their seed weight before the
        division by the entity's passage count. The last query's answer is kept (seeds and the chain order ask for it)."""
        if self._named is not None and self._named[0] == query:
            return self._named[1]
        weight, found = self.params.query_entity_weight, {}
        if weight > 0:
            for entity_id, score in self.linker.exact(self.linker.phrases(query)).items():
                vertex = self._entity_vertex.get(entity_id)
                if vertex is not None:
                    found[vertex] = max(found.get(vertex, 0.0), weight * score)
        self._named = (query, found)
        return found

    @property
    def restricted(self) -> bool:
        """Whether PPR runs on the seeds' neighbourhood instead of the whole graph."""
        return self.params.ppr_neighbourhood_hops > 0 and self.kg.graph.vcount() >= self.params.ppr_whole_graph_below

    def neighbourhood(self, entity_seeds: dict[int, float], reset: np.ndarray, k: int) -> np.ndarray:
        """The vertices of the restricted PPR: the entity seeds' ppr_neighbourhood_hops-hop neighbourhood,
        and the top passages by restart weight (at least k) with their entities."""
        passages = reset[: self.kg.n_passages]
        count = min(max(self.params.ppr_neighbourhood_passages, k), len(passages))
        top = np.argpartition(-passages, count - 1)[:count] if count else np.zeros(0, dtype=int)
        cap = self.params.ppr_neighbourhood_max_degree
        return np.union1d(
            neighbourhood(self.kg, list(entity_seeds), self.params.ppr_neighbourhood_hops, cap),
            neighbourhood(self.kg, top.tolist(), 1, cap),
        )

    def dense_by_passage(self, query_vector: np.ndarray) -> np.ndarray:
        """Min-max normalised cosine of every passage vertex (0 for a passage without a vector)."""
        ids, scores = self.dense.scores(query_vector)
        if self._aligned is None or self._aligned[0] is not ids:
            self._aligned = (ids, np.asarray([self._passage_vertex.get(cid, -1) for cid in ids], dtype=np.int64))
        vertices = self._aligned[1]
        out = np.zeros(self.kg.n_passages)
        if len(ids):
            known = vertices >= 0
            out[vertices[known]] = _minmax(np.asarray(scores))[known]
        return out

    def retrieve(self, query: str, k: int, reorder: bool = True) -> list[Hit]:
        """The top k passages; `reorder` False: in PPR order even with fuse_depth (for callers that
        fuse or extend lists themselves, such as memorag's clues, and were tuned on PPR's order)."""
        p = (
            self.params
            if reorder or self.params.fuse_depth <= 0
            else dataclasses.replace(
                self.params, fuse_dense=0.0, named_first=False, chain_second=False, chain_fill=False
            )
        )
        query_vector = self.dense.embedder.queries([query])[0]
        entity_seeds = self.seeds(query, query_vector)
        dense = self.dense_by_passage(query_vector)
        passage_reset = p.passage_node_weight * dense
        if not entity_seeds:
            mass = passage_reset if passage_reset.any() else dense
        else:
            full = self.pagerank(entity_seeds, passage_reset, k)
            self.recent_mass[query] = full
            while len(self.recent_mass) > 8:
                self.recent_mass.popitem(last=False)
            mass = full[: self.kg.n_passages]
        return self.fuse(mass, dense, k, p, set(self.named(query)) if p.named_first else set())

    def pagerank(self, entity_seeds: dict[int, float], passage_reset: np.ndarray, k: int) -> np.ndarray:
        """PPR mass of every vertex (passages first) for the entity seeds and the passages' restart weights."""
        reset = np.zeros(self.kg.graph.vcount())
        reset[: self.kg.n_passages] = passage_reset
        for vertex, weight in entity_seeds.items():
            reset[vertex] += weight
        if self.restricted:
            vertices = self.neighbourhood(entity_seeds, reset, k)
            return restricted_pagerank(self.kg, reset, vertices, self.params.ppr_damping, self.adjacency())
        if self._whole is None:
            self._whole = WholeGraphPageRank(self.kg, self.adjacency())
        return self._whole(reset, self.params.ppr_damping)

    def fuse(
        self, mass: np.ndarray, dense: np.ndarray, k: int, p: HippoParams, named: set[int] = frozenset()
    ) -> list[Hit]:
        """The top k passages by PPR mass, or, with fuse_dense, by reciprocal-rank fusion of the PPR
        rank (weight 1) with the dense rank, each list counted to depth max(100, 4k). With
        fuse_depth, only PPR's first fuse_depth passages are reordered so (ranks within them), and
        the rest follow in PPR order: PPR chooses the set, the fusion its order. named_first and
        chain_second then move hop 1 and its chain-linked passage to the top, and chain_fill gives the
        last place of the head to the next hop (rag/hops.py; `named`: the entity vertices the query
        names); the scores stay in place, so they still descend."""
        if p.fuse_dense <= 0:
            top = np.argsort(-mass)[:k]
            return [Hit(self.kg.passage_ids[i], float(mass[i])) for i in top]
        if p.fuse_depth > 0:
            order = np.argsort(-mass, kind="stable")[: max(k, p.fuse_depth * (2 if p.chain_fill else 1))]
            head = order[: p.fuse_depth]
            fused = _rrf(head, ((mass, 1.0), (dense, p.fuse_dense)), len(head), p.rrf_k)
            head = head[np.argsort(-fused[head], kind="stable")]
            # the rest score as their PPR rank alone would, below every reordered one
            fused[order[len(head) :]] = 1.0 / (p.rrf_k + 1 + np.arange(len(head), len(order)))
            ranked = np.concatenate([head, order[len(head) :]]).tolist()
            scores = fused[ranked]  # the chain rules move passages, not scores: each place keeps its score
            if p.named_first or p.chain_second:
                ranked[: len(head)] = chain_order(
                    ranked[: len(head)], self.topics(), named, self.mentions(), p.named_first, p.chain_second
                )
            if p.chain_fill and len(head) == p.fuse_depth:
                ranked = chain_fill(ranked, self.topics(), self.mentions(), p.fuse_depth)
            fused[ranked] = scores
            return [Hit(self.kg.passage_ids[i], float(fused[i])) for i in ranked[:k]]
        every = np.arange(len(mass))
        fused = _rrf(every, ((mass, 1.0), (dense, p.fuse_dense)), min(max(100, 4 * k), len(mass)), p.rrf_k)
        order = np.argsort(-fused, kind="stable")[:k]
        return [Hit(self.kg.passage_ids[i], float(fused[i])) for i in order if fused[i] > 0]

    def entity_vertex(self) -> dict[str, int]:
        """Entity id -> its vertex in this retriever's graph (built once, with the retriever)."""
        return self._entity_vertex

    def adjacency(self) -> Adjacency:
        """The graph as sparse rows, built on first use (PPR and the reader's graph distances read it)."""
        if self._adjacency is None:
            self._adjacency = Adjacency.of(self.kg)
        return self._adjacency

    def mentions(self) -> "Mentions":
        if self._mentions is None:
            self._mentions = Mentions.of(self.kg)
        return self._mentions

    def topics(self) -> np.ndarray:
        """Per passage vertex, the entity vertex its document's title names (-1: none)."""
        if self._topics is None:
            self._topics = topic_vertices(
                self.dense.chunks.texts("title"), self.kg.passage_ids, self.linker.norm_to_entity, self._entity_vertex
            )
        return self._topics


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, highest first (a partition, then a sort of those k only)."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def _rrf(pool: np.ndarray, lists, depth: int, constant: int) -> np.ndarray:
    """Reciprocal-rank fusion over the pool's vertices: sum of weight / (constant + rank) of each
    (scores, weight) list's top `depth` positive scores within the pool."""
    fused = np.zeros(len(lists[0][0]))
    for values, weight in lists:
        if weight > 0 and depth:
            top = pool[np.argpartition(-values[pool], depth - 1)[:depth]] if depth < len(pool) else pool
            top = top[np.argsort(-values[top], kind="stable")]
            top = top[values[top] > 0]
            fused[top] += weight / (constant + 1 + np.arange(len(top)))
    return fused
