"""A workspace opened for questions: read-only DuckDB, the LanceDB tables, the graph, the retrievers.

In every answer, [n] refers to the n-th passage of `Answer.passages`.
"""

from __future__ import annotations

import time
from dataclasses import asdict

from fieldmap.embedders import get_embedder
from fieldmap.llm import llm_client
from fieldmap.llm_cache import query_cache
from fieldmap.nlp import RecentParses, english
from fieldmap.settings import Settings
from fieldmap.store import connect
from kg.graph import KnowledgeGraph
from kg.parses import load_parses
from rag.answer import Answer, Citation, Passage, llm_answer, memory_answer
from rag.hipporag import HippoParams, HippoRAGRetriever, PPROrder
from rag.index import VectorStore
from rag.linking import EntityLinker
from rag.memorag import Clues, ClueWriter, edges_first, retrieve_with_clues, within_budget
from rag.modes import DEFAULT_MODE, MODES  # MODES is re-exported: tests and callers import it from here
from rag.neural_reader import NeuralReader
from rag.next_hop import NextHopRetriever
from rag.reader import Reader
from rag.reading import GraphSignals, Reading
from rag.retrievers import DenseRetriever, FullTextRetriever, Hit, HybridRetriever, Retriever
from rag.signals import RetrievalSignals
from rag.streaming import Hops, Listener, LLMText, retrieved
from rag.structured import StructuredPassage, structured_passages


class QueryEngine:
    def __init__(self, settings: Settings, con=None):
        self.settings = settings
        # `con`: a read-only connection the caller opened (the server passes a cursor on the snapshot it watches)
        self.con = con if con is not None else connect(settings.duckdb_path, read_only=True)
        self.embedder = get_embedder(settings)
        self.store = VectorStore(settings.lancedb_uri, self.embedder)
        self.chunks = self.store.table("chunks")
        self._retrievers: dict[str, Retriever] = {}
        self._linker: EntityLinker | None = None
        self._reader: Reader | None = None
        self._bridge_reader: Reader | None = None
        self._nlp: RecentParses | None = None

    def close(self) -> None:
        """Close the connection and drop the graph, retrievers, linker and tables, so a closed engine that is
        still referenced holds no memory (app/service.py closes a replaced snapshot's engines so)."""
        self.con.close()
        self._retrievers.clear()
        self._linker = self._reader = self._bridge_reader = self._nlp = None
        self.store = self.chunks = None

    @property
    def nlp(self) -> RecentParses:
        """The English pipeline, remembering the questions it parsed (the linker and the reader share it)."""
        if self._nlp is None:
            self._nlp = RecentParses(english())
        return self._nlp

    @property
    def linker(self) -> EntityLinker:
        if self._linker is None:
            norm_to_entity = dict(self.con.execute("SELECT norm_name, entity_id FROM entities").fetchall())
            self._linker = EntityLinker(
                norm_to_entity, self.store.table("entities"), self.nlp, self.settings.linking_top_k
            )
        return self._linker

    def retriever(self, mode: str) -> Retriever:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        mode = "hipporag" if mode == "memorag" else mode  # memorag retrieves through hipporag
        if mode not in self._retrievers:
            self._retrievers[mode] = self._build(mode)
        return self._retrievers[mode]

    def _build(self, mode: str) -> Retriever:
        dense = DenseRetriever(self.chunks, self.embedder)
        if mode == "dense":
            return dense
        if mode == "bm25":
            return FullTextRetriever(self.chunks)
        s = self.settings
        graph = HippoRAGRetriever(
            KnowledgeGraph.load(s.graph_path), self.store.table("facts"), self.linker, dense, HippoParams.of(s)
        )
        if s.next_hop:
            graph = NextHopRetriever(graph, self.next_question, s.top_k)
        if mode == "hipporag":
            return graph
        return HybridRetriever([dense, FullTextRetriever(self.chunks), graph], s.rrf_k)

    def passages(self, chunk_scores: list[tuple[str, float]]) -> list[Passage]:
        if not chunk_scores:
            return []
        rows = self.con.execute(
            "SELECT c.chunk_id, c.doc_id, d.title, c.text FROM chunks c JOIN documents d USING (doc_id) WHERE c.chunk_id IN (SELECT unnest(?::VARCHAR[]))",
            [[cid for cid, _ in chunk_scores]],
        ).fetchall()
        by_id = {r[0]: r for r in rows}
        return [
            Passage(by_id[cid][1], cid, by_id[cid][2], score, by_id[cid][3])
            for cid, score in chunk_scores
            if cid in by_id
        ]

    @property
    def reader(self) -> Reader:
        if self._reader is None:
            stored = lambda texts: load_parses(self.con, texts, english())  # noqa: E731
            span_reader = span_model() if self.settings.reader != "rules" else None
            self._reader = (
                NeuralReader(
                    self.nlp, span_reader, self.embedder, stored=stored, typed_by_rules=self.settings.reader == "hybrid"
                )
                if span_reader is not None
                else Reader(self.nlp, self.embedder, stored=stored)
            )
        return self._reader

    def clues(self, question: str, client=None) -> Clues:
        writer = ClueWriter(self.con, self.linker, self.store.table("gists"))
        query_vector = self.embedder.queries([question])[0]
        return (
            writer.with_llm(client, question, query_vector)
            if client is not None
            else writer.offline(question, query_vector, self.reader)
        )

    def retrieve(
        self, question: str, mode: str, k: int, client=None, timings: dict | None = None
    ) -> tuple[list[Hit], Clues, str]:
        """The hits, the clues used and a label saying which retrieval actually ran."""
        if mode != "memorag":
            retriever = self.retriever(mode)
            if isinstance(retriever, NextHopRetriever):
                if client is None:  # the offline reader retrieves for its chain's hops itself (rag/next_hop.py)
                    return (
                        retriever.graph.retrieve(question, k),
                        Clues([question]),
                        "hipporag (the reader retrieves each hop of a chain)",
                    )
                return retriever.retrieve(question, k), Clues([question]), "hipporag + next hop"
            return retriever.retrieve(question, k), Clues([question]), mode
        started = time.perf_counter()
        clues = self.clues(question, client)
        if timings is not None:
            timings["clues"] = _ms(started)
        # an LLM's clues are shown and drafted from, not weighed: no gain was shown (BENCHMARKS.md's decisions)
        weight = 0.0 if client is not None else self.settings.clue_weight_offline
        hits = retrieve_with_clues(
            PPROrder(self.retriever(mode)), clues, k, clue_weight=weight
        )  # its fusion was tuned on PPR's order
        used = len(clues.texts) - 1 if weight > 0 else 0
        label = (
            f"memorag: hipporag + {used} clue{'s' * (used != 1)} (weight {weight:g}; clues {clues.source})"
            if used
            else "memorag: hipporag alone (no clue weighed)"
        )
        return hits, clues, label

    def next_question(self, question: str, hits: list[Hit], graph: HippoRAGRetriever) -> str | None:
        """The question with its first bridge read from these hits' passages, with the PPR mass of the
        graph retriever that found them (rag/next_hop.py)."""
        passages = self.passages([(h.chunk_id, h.score) for h in hits])
        return self.bridge_reader.next_question(
            question, passages, self.headings(passages, self.settings.reader_structure), self.signals(question, graph)
        )

    @property
    def bridge_reader(self) -> Reader:
        """The rule reader, which reads the bridge that retrieval's next hop rewrites the question with
        (rag/next_hop.py): the span model there added ~90 ms to every MuSiQue retrieval (p50 118 -> 209 ms), and the
        next hop's recall was measured with the rules' bridge. The answer's own chain is read by `reader`."""
        if self._bridge_reader is None:
            reader = self.reader
            self._bridge_reader = (
                Reader(self.nlp, self.embedder, stored=reader.stored) if isinstance(reader, NeuralReader) else reader
            )
        return self._bridge_reader

    def headings(self, passages: list[Passage], structure: bool) -> list[str]:
        """Each passage's heading for the reader: its document's scope and aspect, or its title."""
        structured = self.structured(passages, structure)
        return [structured[p.chunk_id].heading if p.chunk_id in structured else p.title for p in passages]

    def structured(self, passages: list[Passage], on: bool) -> dict[str, StructuredPassage]:
        """Chunk id -> its passage under the document's scope and aspects (none when `on` is false)."""
        return structured_passages(self.con, [p.chunk_id for p in passages]) if on else {}

    def read(
        self, question: str, passages: list[Passage], mode: str, structure: bool | None = None, on_hop=None
    ) -> Reading:
        """The reader's answer, with the headings and graph signals of this retrieval (`structure`:
        override reader_structure, to measure with and without on the same passages; `on_hop`: told each bridge
        of a chain as it is read)."""
        structure = self.settings.reader_structure if structure is None else structure

        def retrieve(
            rewritten: str,
        ) -> list[tuple[Passage, str]]:  # a chain's next hop retrieves for its rewritten question
            retriever = self.retriever(mode)
            retriever = (
                PPROrder(retriever) if isinstance(retriever, (HippoRAGRetriever, NextHopRetriever)) else retriever
            )  # the hops were tuned on PPR's order
            found = self.passages([(h.chunk_id, h.score) for h in retriever.retrieve(rewritten, len(passages))])
            return list(zip(found, self.headings(found, structure)))

        return self.reader.read(
            question, passages, self.headings(passages, structure), self.graph_signals(question, mode), retrieve, on_hop
        )

    def graph_signals(self, question: str, mode: str) -> GraphSignals | None:
        """PPR mass of this question's retrieval and graph distances, when the graph retrieval ran."""
        if mode not in ("memorag", "hipporag"):
            return None
        return self.signals(question, self.retriever("hipporag"))

    def signals(self, question: str, graph) -> RetrievalSignals:
        """The PPR mass of the graph retriever's last retrieval for this question, and graph distances."""
        mass = graph.recent_mass.get(question)
        named = [self.linker.norm_to_entity.get(p) for p in self.linker.phrases(question)]
        return RetrievalSignals(
            graph.kg,
            self.linker.norm_to_entity,
            mass,
            [e for e in named if e],
            adjacency=graph.adjacency(),
            vertex_of=graph.entity_vertex(),
        )

    def ask(
        self, question: str, mode: str = DEFAULT_MODE, k: int | None = None, on_event: Listener | None = None
    ) -> Answer:
        """The answer; `on_event(name, data)` is told of it as it is made: the passages retrieved, each bridge of a
        chain as it is read, the answer's text as the LLM writes it or the reader reads it (rag/streaming.py)."""
        if not question.strip():
            raise ValueError("the question is empty")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        k = k or self.settings.top_k
        timings: dict[str, float] = {}
        started = time.perf_counter()
        text = LLMText(on_event) if on_event is not None else None
        with (
            query_cache(self.settings.workspace, self.settings.llm_enabled) as cache,
            llm_client(self.settings, cache, "answer") as client,
        ):
            if mode == "memorag" and client is not None and self.settings.answer_from_memory:
                memory = ClueWriter(self.con, self.linker, self.store.table("gists")).memory_text(
                    self.embedder.queries([question])[0], 12
                )
                direct = memory_answer(client, question, memory)
                if direct is not None:
                    if text is not None:
                        text.settle(direct)
                    return Answer(
                        question,
                        direct,
                        [],
                        [],
                        mode=mode,
                        method=f"memory:{client.model}",
                        timings_ms={"total": _ms(started)},
                        flags=["answered from memory alone: the answer cites no passage"],
                        retrieval="none (memory only)",
                    )
            hits, clues, label = self.retrieve(question, mode, k, client, timings)
            timings["retrieve"] = _ms(started) - sum(timings.values())
            ranked = self.passages([(h.chunk_id, h.score) for h in hits])
            ranked = ranked[: within_budget([p.text for p in ranked], self.settings.context_tokens)]
            # the LLM reads the strongest passages first and last; [n] still names the n-th ranked passage
            order = edges_first(list(range(len(ranked)))) if mode == "memorag" else None
            if on_event is not None:
                retrieved(on_event, ranked, label)
            answer = Answer(
                question,
                "",
                [],
                ranked,
                mode=mode,
                clues=clues.texts[1:],
                draft=clues.draft,
                retrieval=label,
                retrieved=len(ranked),
            )
            if client is not None:
                structured = self.structured(ranked, self.settings.answer_structure)
                rendered = [structured[p.chunk_id].render() if p.chunk_id in structured else p.text for p in ranked]
                answer.answer, answer.citations, answer.flags, failure = llm_answer(
                    client, question, ranked, clues.draft, order, rendered, on_text=text
                )
                answer.method = client.method
                answer.tokens = {"prompt": client.usage.prompt_tokens, "completion": client.usage.completion_tokens}
                if failure is None:
                    if text is not None:
                        text.settle(answer.answer)
                    answer.timings_ms = {**timings, "answer": _ms(started) - sum(timings.values())}
                    return answer
                if text is not None:
                    text.reset(f"the LLM's answer failed ({failure}): the reader answers")
            hops = Hops(on_event) if on_event is not None else None
            reading = self.read(question, ranked, mode, on_hop=hops)
            if reading.passages is not None:  # a chain's rewritten questions retrieved more: [n] counts them too
                answer.passages = ranked = reading.passages
            answer.answer, answer.answer_type = reading.text, reading.answer_type
            answer.chain = [{"bridge": bridge, "passage": number} for bridge, number in reading.chain]
            answer.resolved = reading.resolved
            answer.confidence = reading.confidence
            if withheld(reading, self.settings.reader_confidence_min):  # no guess: the evidence, cited, is the answer
                answer.flags.append(
                    f"no answer found: the reader's best ({reading.answer!r}) has confidence {reading.confidence:.2f}, "
                    f"below {self.settings.reader_confidence_min:g}; the answer is its evidence"
                )
                answer.answer = " ".join(e.cited() for e in reading.evidence)
            answer.evidence = [asdict(e) for e in reading.evidence]
            if text is not None and hops is not None:
                hops.settle(reading.chain, answer.passages)
                text.settle(answer.answer, by="reader")
            cited = list(dict.fromkeys(e.passage for e in reading.evidence))
            answer.citations = [
                Citation(ranked[n - 1].doc_id, ranked[n - 1].chunk_id, ranked[n - 1].title) for n in cited
            ]
            answer.method = "reader"  # also when the LLM's answer failed (its reason is in flags)
            answer.timings_ms = {**timings, "answer": _ms(started) - sum(timings.values())}
            return answer


def withheld(reading: Reading, threshold: float) -> bool:
    """A short answer the neural reader is not confident of (an open question's evidence is never withheld)."""
    return reading.confidence is not None and reading.confidence < threshold and reading.answer_type != "description"


def span_model():
    """The shipped span model, loaded once per process (~0.3 s); None where the file is absent."""
    global _SPAN_MODEL
    if _SPAN_MODEL is None:
        from rag.span.reader import SpanReader

        _SPAN_MODEL = SpanReader.load(bf16=False) or False
    return _SPAN_MODEL or None


_SPAN_MODEL = None


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
