"""Answers with citations. Offline: the passages' sentences closest to the question, each cited."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from fieldmap.embedders import Embedder
from fieldmap.nlp import sentence_splitter


@dataclass
class Passage:
    doc_id: str
    chunk_id: str
    title: str
    score: float
    text: str


@dataclass
class Citation:
    doc_id: str
    chunk_id: str
    title: str


@dataclass
class Answer:
    question: str
    answer: str
    citations: list[Citation]
    passages: list[Passage]
    mode: str = "hybrid"
    clues: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def extractive_answer(question: str, passages: list[Passage], embedder: Embedder, max_sentences: int = 2) -> tuple[str, list[Citation]]:
    """The max_sentences sentences most similar to the question, each followed by [n], n being the
    1-based number of its passage; citations list the passages cited, in that order."""
    candidates: list[tuple[int, str]] = []
    for number, passage in enumerate(passages):
        for sentence in sentence_splitter()(passage.text).sents:
            text = sentence.text.strip()
            if len(text.split()) >= 3:
                candidates.append((number, text))
    if not candidates:
        return "", []
    sentence_vectors = embedder.passages([text for _, text in candidates])
    similarity = sentence_vectors @ embedder.queries([question])[0]
    chosen = sorted(np.argsort(-similarity)[:max_sentences])  # keep reading order among the best
    cited: list[int] = []
    parts = []
    for index in chosen:
        number, text = candidates[index]
        if number not in cited:
            cited.append(number)
        parts.append(f"{text} [{cited.index(number) + 1}]")
    citations = [Citation(passages[n].doc_id, passages[n].chunk_id, passages[n].title) for n in cited]
    return " ".join(parts), citations
