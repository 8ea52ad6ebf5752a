"""MemoRAG-style answering (arXiv 2409.05591) on a text memory: the memory suggests clues and a
draft, each clue retrieves, the hits are fused, ordered so the strongest passages open and close
the context, and the answer cites its passages.

Clues with an LLM: answer-bearing spans recalled from memory, surrogate sub-questions, a draft
answer. Offline: the reader (rag/reader.py) drafts an answer over the global memory (the gists
that match the question and the graph facts of the entities it names); the clues are the question
with the draft and the question with each further answer-bearing entity, so each drives the graph
retrieval towards a candidate answer's passages. Clues of three words or fewer are dropped; the
question is always kept and weighs most in the fusion.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
from pydantic import BaseModel, Field

from fieldmap.prompts import load_prompt
from rag.answer import Passage
from rag.index import VectorTable
from rag.linking import EntityLinker
from rag.retrievers import Hit, Retriever


class ClueReply(BaseModel):
    spans: list[str] = Field(default_factory=list, max_length=10)
    questions: list[str] = Field(default_factory=list, max_length=10)
    draft: str = ""


@dataclass
class Clues:
    texts: list[str]  # the question first
    draft: str = ""
    source: str = "offline"


def keep_clue(text: str) -> bool:
    return len(text.split()) > 3


class ClueWriter:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        linker: EntityLinker,
        gists: VectorTable,
        facts_per_entity: int = 2,
        gists_per_query: int = 3,
    ):
        self.con = con
        self.linker = linker
        self.gists = gists
        self.facts_per_entity = facts_per_entity
        self.gists_per_query = gists_per_query

    def facts(self, question: str, query_vector: np.ndarray) -> list[str]:
        """The strongest relations of the entities the question names, as "subject predicate object"."""
        found = []
        linked = sorted(self.linker.link(question, query_vector).items(), key=lambda item: (-item[1], item[0]))[:3]
        for entity_id, _ in linked:
            rows = self.con.execute(
                """SELECT s.name || ' ' || t.predicate || ' ' || o.name, count(*) AS n
                   FROM triplets t JOIN entities s ON s.entity_id = t.subject_id JOIN entities o ON o.entity_id = t.object_id
                   WHERE ? IN (t.subject_id, t.object_id) GROUP BY 1 ORDER BY n DESC, 1 LIMIT ?""",
                [entity_id, self.facts_per_entity],
            ).fetchall()
            found += [text for text, _ in rows]
        return found

    def memory_passages(self, question: str, query_vector: np.ndarray) -> list[Passage]:
        """The global memory the offline draft reads: the matching gists, then the question's graph facts."""
        doc_ids = [doc_id for doc_id, _ in self.gists.dense(query_vector, self.gists_per_query)]
        gists = dict(
            self.con.execute(
                "SELECT doc_id, gist FROM gists WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [doc_ids]
            ).fetchall()
        )
        memory = [Passage(d, f"gist:{d}", "", 0.0, _plain(gists[d])) for d in doc_ids if d in gists]
        facts = self.facts(question, query_vector)
        return memory + ([Passage("graph", "facts:" + question, "", 0.0, ". ".join(facts) + ".")] if facts else [])

    def offline(self, question: str, query_vector: np.ndarray, reader=None, entity_clues: int = 2) -> Clues:
        """Without a reader: the question's facts and the matching gists (the earlier clues). With
        one: its draft over the memory and the answer-bearing entities, each joined to the question."""
        if reader is None:
            gists = [p.text for p in self.memory_passages(question, query_vector) if p.chunk_id.startswith("gist:")]
            clues = self.facts(question, query_vector) + gists
            return Clues([question] + [c for c in dict.fromkeys(clues) if keep_clue(c) and c != question])
        reading = reader.read(question, self.memory_passages(question, query_vector))
        draft = (
            reading.answer
            if reading.answer_type != "description"
            else (reading.evidence[0].text if reading.evidence else "")
        )
        entities = [name for name, _ in reading.candidates if name != draft][:entity_clues]
        clues = [f"{question} {text}" for text in [draft, *entities] if text]
        return Clues(
            [question] + [c for c in dict.fromkeys(clues) if keep_clue(c)], draft, "offline: reader over memory"
        )

    def with_llm(self, client, question: str, query_vector: np.ndarray, memory_size: int = 12) -> Clues:
        """MemoRAG's clue kinds from the LLM, given the gists nearest the question as its memory."""
        prompt = load_prompt("rag", "clues")
        memory = self.memory_text(query_vector, memory_size)
        messages = [
            {"role": "system", "content": prompt.render("system")},
            {"role": "user", "content": prompt.render("user", memory=memory, question=question)},
        ]
        result = client.complete(
            messages,
            ClueReply,
            'Your reply was invalid: $error. Reply again as {"spans": [...], "questions": [...], "draft": "..."}.',
        )
        if result.value is None:
            fallback = self.offline(question, query_vector)
            fallback.source = f"offline (LLM failed: {result.failure})"
            return fallback
        reply = result.value
        texts = [question] + [
            c for c in dict.fromkeys([*reply.spans, *reply.questions, reply.draft]) if keep_clue(c) and c != question
        ]
        return Clues(texts, reply.draft, client.method)

    def memory_text(self, query_vector: np.ndarray, size: int) -> str:
        doc_ids = [doc_id for doc_id, _ in self.gists.dense(query_vector, size)]
        rows = dict(
            self.con.execute(
                "SELECT doc_id, gist FROM gists WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [doc_ids]
            ).fetchall()
        )
        return "\n".join(f"- {rows[d]}" for d in doc_ids if d in rows)


def _plain(gist: str) -> str:
    """An offline gist without its field labels, so the reader does not take "Entities" for a name."""
    return gist.replace(" Aspects: ", " ").replace(" Entities: ", " ")


def retrieve_with_clues(
    retriever: Retriever,
    clues: Clues,
    k: int,
    per_clue: int = 3,
    question_depth: int = 20,
    clue_weight: float = 0.3,
    rrf_k: int = 60,
) -> list[Hit]:
    """Weighted reciprocal-rank fusion: the question's own list (weight 1) and each clue's top
    per_clue hits (clue_weight), merged and deduplicated."""
    fused: dict[str, float] = {}
    for index, text in enumerate(clues.texts):
        weight, depth = (1.0, question_depth) if index == 0 else (clue_weight, per_clue)
        if weight <= 0:
            continue
        for rank, hit in enumerate(retriever.retrieve(text, depth)):
            fused[hit.chunk_id] = fused.get(hit.chunk_id, 0.0) + weight / (rrf_k + rank + 1)
    ranked = sorted(fused.items(), key=lambda item: -item[1])[:k]
    return [Hit(chunk_id, score) for chunk_id, score in ranked]


def edges_first(
    items: list,
) -> list:
    """Strongest items at the start and the end, weakest in the middle ("lost in the middle")."""
    front, back = [], []
    for index, item in enumerate(items):
        (front if index % 2 == 0 else back).append(item)
    return front + back[::-1]


def within_budget(texts: list[str], budget_tokens: int) -> int:
    """How many of the texts fit in the budget (about 4/3 tokens a word); at least one."""
    used = 0
    for count, text in enumerate(texts):
        used += int(len(text.split()) * 4 / 3) + 8
        if used > budget_tokens:
            return max(count, 1)
    return len(texts)
