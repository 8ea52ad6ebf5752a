"""A workspace opened for questions: read-only DuckDB, the LanceDB tables, the graph, the retrievers."""
from __future__ import annotations

import time

from fieldmap.embedders import get_embedder
from fieldmap.nlp import english
from fieldmap.settings import Settings
from fieldmap.store import connect
from kg.graph import KnowledgeGraph
from rag.answer import Answer, Passage, extractive_answer
from rag.index import VectorStore
from rag.linking import EntityLinker
from rag.retrievers import DenseRetriever, FullTextRetriever, GraphRetriever, HybridRetriever, Retriever

MODES = ("hybrid", "graph", "dense", "bm25")


class QueryEngine:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.con = connect(settings.duckdb_path, read_only=True)
        self.embedder = get_embedder(settings)
        self.store = VectorStore(settings.lancedb_uri, self.embedder)
        self.chunks = self.store.table("chunks")
        self._retrievers: dict[str, Retriever] = {}

    def close(self) -> None:
        self.con.close()

    def retriever(self, mode: str) -> Retriever:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        if mode not in self._retrievers:
            self._retrievers[mode] = self._build(mode)
        return self._retrievers[mode]

    def _build(self, mode: str) -> Retriever:
        dense = DenseRetriever(self.chunks, self.embedder)
        if mode == "dense":
            return dense
        if mode == "bm25":
            return FullTextRetriever(self.chunks)
        norm_to_entity = dict(self.con.execute("SELECT norm_name, entity_id FROM entities").fetchall())
        linker = EntityLinker(norm_to_entity, self.store.table("entities"), english(), self.settings.linking_top_k)
        graph = GraphRetriever(
            KnowledgeGraph.load(self.settings.graph_path), linker, dense, self.settings.passage_node_weight, self.settings.ppr_damping
        )
        if mode == "graph":
            return graph
        return HybridRetriever([dense, FullTextRetriever(self.chunks), graph], self.settings.rrf_k)

    def passages(self, chunk_scores: list[tuple[str, float]]) -> list[Passage]:
        if not chunk_scores:
            return []
        rows = self.con.execute(
            "SELECT c.chunk_id, c.doc_id, d.title, c.text FROM chunks c JOIN documents d USING (doc_id) WHERE c.chunk_id IN (SELECT unnest(?::VARCHAR[]))",
            [[cid for cid, _ in chunk_scores]],
        ).fetchall()
        by_id = {r[0]: r for r in rows}
        return [Passage(by_id[cid][1], cid, by_id[cid][2], score, by_id[cid][3]) for cid, score in chunk_scores if cid in by_id]

    def ask(self, question: str, mode: str = "hybrid", k: int | None = None) -> Answer:
        if not question.strip():
            raise ValueError("the question is empty")
        k = k or self.settings.top_k
        started = time.perf_counter()
        hits = self.retriever(mode).retrieve(question, k)
        retrieved = time.perf_counter()
        passages = self.passages([(h.chunk_id, h.score) for h in hits])
        text, citations = extractive_answer(question, passages, self.embedder)
        timings = {"retrieve": (retrieved - started) * 1000, "answer": (time.perf_counter() - retrieved) * 1000}
        return Answer(question, text, citations, passages, mode=mode, timings_ms=timings)
