"""Answers with citations. Offline: the reader's short answer or evidence sentences (rag/reader.py);
`extractive_answer`, the sentences closest to the question, is kept as the baseline it replaced.
With an LLM: the model's answer, every citation checked for range and support (rag/citations.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from pydantic import BaseModel

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
    draft: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)  # e.g. a citation that points to no retrieved passage
    method: str = "reader"  # reader | llm:<model> | memory:<model>
    evidence: list[dict] = field(
        default_factory=list
    )  # {"text", "passage", "chunk_id", "doc_id", "score"}: the sentences behind the answer
    answer_type: str = ""  # what the question asks for: person, place, date, number, yes/no, choice, description, ...
    retrieval: str = ""  # which retrieval actually ran, e.g. "hipporag" or "memorag: hipporag + 2 clues (weight 0.2)"
    retrieved: int = 0  # how many of `passages` the retrieval returned; a chain's rewritten questions added the rest
    chain: list[dict] = field(
        default_factory=list
    )  # {"bridge", "passage"}: what a multi-hop question was read through, first hop first
    resolved: str = ""  # the question with its bridges in place, as the reader answered it last
    confidence: float | None = None  # the neural reader's confidence in the short answer; None for rules and LLMs

    def to_dict(self) -> dict:
        return asdict(self)


def extractive_answer(
    question: str, passages: list[Passage], embedder: Embedder, max_sentences: int = 2
) -> tuple[str, list[Citation]]:
    """The max_sentences sentences most similar to the question, each followed by [n]: the n-th
    passage (1-based) it was taken from; citations list the passages cited."""
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
        parts.append(f"{text} [{number + 1}]")
    citations = [Citation(passages[n].doc_id, passages[n].chunk_id, passages[n].title) for n in cited]
    return " ".join(parts), citations


class AnswerReply(BaseModel):
    answer: str
    citations: list[int] = []


class MemoryReply(BaseModel):
    can_answer: bool
    answer: str = ""


def llm_answer(
    client,
    question: str,
    passages: list[Passage],
    draft: str = "",
    order: list[int] | None = None,
    rendered: list[str] | None = None,
    on_text=None,
) -> tuple[str, list[Citation], list[str], str | None]:
    """The LLM's answer over numbered passages: (answer, citations, flags, failure). Every [n] is
    checked against the passages given and for support (rag/citations.py); one that points nowhere,
    cannot be read or does not hold the claim is flagged, not silently kept. Passage n is labelled
    [n] whatever `order` it is shown in; `rendered` replaces a passage's text (its structured form).
    `on_text`: the reply is streamed to it as it arrives (LLMClient.complete)."""
    from fieldmap.prompts import load_prompt
    from rag.citations import check_citations

    prompt = load_prompt("rag", "answer")
    order = order if order is not None else list(range(len(passages)))
    bodies = rendered if rendered is not None else [p.text for p in passages]
    numbered = "\n\n".join(f"[{i + 1}] {passages[i].title}\n{bodies[i]}" for i in order)
    hint = f"A draft answer from memory (may be wrong): {draft}" if draft else ""
    messages = [
        {"role": "system", "content": prompt.render("system")},
        {"role": "user", "content": prompt.render("user", passages=numbered, question=question, draft=hint)},
    ]
    result = client.complete(
        messages,
        AnswerReply,
        'Your reply was invalid: $error. Reply again as {"answer": "...", "citations": [n]}.',
        on_text=on_text,
    )
    if result.value is None:
        return "", [], [f"LLM answer failed: {result.failure}"], result.failure
    check = check_citations(result.value.answer, passages, result.value.citations)
    citations = [
        Citation(passages[n - 1].doc_id, passages[n - 1].chunk_id, passages[n - 1].title) for n in check.numbers
    ]
    return result.value.answer, citations, check.flags, None


def memory_answer(client, question: str, memory: str) -> str | None:
    """The LLM's answer from memory alone, when it says it can (Adapt-LLM); else None."""
    from fieldmap.prompts import load_prompt

    prompt = load_prompt("rag", "answer")
    messages = [
        {"role": "system", "content": prompt.render("system")},
        {"role": "user", "content": prompt.render("memory_only", memory=memory, question=question)},
    ]
    result = client.complete(
        messages,
        MemoryReply,
        'Your reply was invalid: $error. Reply again as {"can_answer": true|false, "answer": "..."}.',
    )
    if result.value is not None and result.value.can_answer and result.value.answer.strip():
        return result.value.answer
    return None
