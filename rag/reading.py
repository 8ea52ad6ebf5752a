"""What a reader gives and is given: a Reading (the short answer or the evidence sentences, each cited by its
passage's number) and the graph's signals about a candidate. The rule reader (rag/reader.py) and the neural reader
(rag/neural_reader.py) give one; a chain of hops (rag/chain.py) adds its bridges to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from rag.answer_types import DESCRIPTION


@dataclass
class Evidence:
    text: str
    passage: int  # 1-based number of the passage, as in [n]
    chunk_id: str
    doc_id: str
    score: float

    def cited(self) -> str:
        return f"{self.text} [{self.passage}]"


@dataclass
class Reading:
    answer: str  # the short answer; for a description, the evidence sentences
    answer_type: str
    evidence: list[Evidence]
    candidates: list[tuple[str, float]] = field(default_factory=list)  # best answer-bearing entities first
    chain: list[tuple[str, int]] = field(default_factory=list)  # bridges read first (rag/chain.py): (answer, passage)
    resolved: str = ""  # the question with its bridges in place, as last read
    typed: bool = False  # the short answer is of the expected type (a bridge must be)
    passages: list | None = None  # set when a chain read more passages than it was given: what [n] refers to
    confidence: float | None = (
        None  # the neural reader's confidence in the short answer (rag/neural_reader.py); None from rules
    )

    @property
    def text(self) -> str:
        """The answer as shown: short answer [n], or the cited evidence sentences."""
        if self.answer_type == DESCRIPTION:
            return " ".join(e.cited() for e in self.evidence)
        return f"{self.answer} [{self.evidence[0].passage}]" if self.answer and self.evidence else self.answer


class GraphSignals(Protocol):
    def mass(self, name: str) -> float: ...  # PPR mass of the entity named so (normalised name), 0 if none

    def distance(self, name: str) -> int | None: ...  # hops from the question's entities, None if unreachable


class NoGraph:
    def mass(self, name: str) -> float:
        return 0.0

    def distance(self, name: str) -> int | None:
        return None
