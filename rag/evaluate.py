"""Retrieval evaluation on a QA set with gold supporting passages (MuSiQue format): Recall@k of
every method over one index, in one run, with query latency."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np

from rag.engine import QueryEngine
from rag.next_hop import NextHopRetriever

METHOD_MODES = {"bm25": "bm25", "dense": "dense", "hybrid": "hybrid", "hipporag": "hipporag"}


def load_questions(path: Path) -> list[dict]:
    questions = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            record = json.loads(line)
            if not record.get("question") or not isinstance(record.get("supporting_ids"), list):
                raise ValueError(f"{path}:{line_no}: a question needs 'question' and 'supporting_ids'")
            questions.append(record)
    return questions


def recall_at(ranked_doc_ids: list[str], gold: list[str], k: int) -> float:
    """Share of the gold passages among the first k distinct retrieved documents."""
    top = list(dict.fromkeys(ranked_doc_ids))[:k]
    return len(set(top) & set(gold)) / len(set(gold)) if gold else 0.0


def score_questions(
    retriever, questions: list[dict], chunk_doc: dict[str, str], ks: list[int]
) -> tuple[dict[int, list[float]], list[float]]:
    """Recall@k of every question (in order) and the latency of every retrieve call in ms."""
    depth = max(ks) * 3  # chunks of one document collapse into one
    retriever.retrieve(questions[0]["question"], depth)  # warm caches before timing
    recalls: dict[int, list[float]] = {k: [] for k in ks}
    latencies = []
    for question in questions:
        started = time.perf_counter()
        hits = retriever.retrieve(question["question"], depth)
        latencies.append((time.perf_counter() - started) * 1000)
        ranked = [chunk_doc[h.chunk_id] for h in hits]
        for k in ks:
            recalls[k].append(recall_at(ranked, question["supporting_ids"], k))
    return recalls, latencies


def summarise(recalls: dict[int, list[float]], latencies: list[float]) -> dict[str, float]:
    summary = {f"recall@{k}": float(np.mean(values)) for k, values in recalls.items()}
    return summary | {"p50_ms": float(np.percentile(latencies, 50)), "p95_ms": float(np.percentile(latencies, 95))}


def evaluate_retrieval(engine: QueryEngine, questions: list[dict], methods: list[str], ks: list[int]) -> dict:
    chunk_doc = dict(engine.con.execute("SELECT chunk_id, doc_id FROM chunks").fetchall())
    results = {}
    for method in methods:
        if method not in METHOD_MODES:
            raise ValueError(f"unknown method {method!r}: use {', '.join(METHOD_MODES)}")
        results[method] = summarise(*score_questions(engine.retriever(METHOD_MODES[method]), questions, chunk_doc, ks))
    return results


def without_citations(text: str) -> str:
    """An answer without its [n] / [n, m] markers, as it is scored."""
    return re.sub(r"\s*\[\d+(?:,\s*\d+)*\]", "", text).strip()


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    import string

    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def exact_match(prediction: str, answers: list[str]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(a) for a in answers))


def token_f1(prediction: str, answers: list[str]) -> float:
    from collections import Counter

    best = 0.0
    predicted = normalize_answer(prediction).split()
    for answer in answers:
        gold = normalize_answer(answer).split()
        common = sum((Counter(predicted) & Counter(gold)).values())
        if common:
            precision, recall = common / len(predicted), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


class MemoRetriever:
    """A retriever that remembers its answers, so measuring several clue weights retrieves each clue once."""

    def __init__(self, inner):
        self.inner = inner
        self.memo: dict[tuple[str, int], list] = {}

    def retrieve(self, query: str, k: int, reorder: bool = True) -> list:
        if (query, k, reorder) not in self.memo:
            self.memo[(query, k, reorder)] = self.inner.retrieve(query, k, reorder)
        elif hasattr(self.inner, "recent_mass") and query not in self.inner.recent_mass:
            self.inner.retrieve(query, k, reorder)  # the reader reads this query's PPR mass: compute it again
        return self.memo[(query, k, reorder)]

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def memoise_graph_retrieval(engine: QueryEngine) -> None:
    """Make the engine's graph retriever remember its results (for several clue weights in one run); with
    the next hop, the graph retriever under it, so the engine still sees the next-hop retriever it built."""
    retriever = engine.retriever("hipporag")
    if isinstance(retriever, NextHopRetriever):
        retriever.graph = MemoRetriever(retriever.graph)
    else:
        engine._retrievers["hipporag"] = MemoRetriever(retriever)


def halves(questions: list[dict]) -> dict[str, set[int]]:
    """A fixed split: questions ordered by id (else by position), even positions "tune", odd "test"."""
    order = sorted(range(len(questions)), key=lambda i: (str(questions[i].get("id", "")), i))
    return {
        "tune": {i for n, i in enumerate(order) if n % 2 == 0},
        "test": {i for n, i in enumerate(order) if n % 2 == 1},
    }


def answer_in_passages(passages: list, answers: list[str]) -> float:
    """1 when a gold answer string occurs in the passages (normalised): an extractive reader's ceiling."""
    text = " " + normalize_answer(" ".join(p.text for p in passages)) + " "
    return float(any(normalize_answer(a) and f" {normalize_answer(a)} " in text for a in answers))


def evaluate_answers(engine: QueryEngine, questions: list[dict], mode: str, k: int = 5) -> dict:
    """Per question, over the same passages: the answer's EM and token F1 (citation markers removed),
    the reader without the structure headings, the old extractive answer, the answer-in-passages
    ceiling, Recall@k of the passages, and the reader's own time; averaged over all questions and
    over each half of `halves`."""

    from rag.answer import extractive_answer

    chunk_doc = dict(engine.con.execute("SELECT chunk_id, doc_id FROM chunks").fetchall())
    rows, latencies, reader_ms = [], [], []
    for question in questions:
        gold = question.get("answers", [])
        started = time.perf_counter()
        answer = engine.ask(question["question"], mode=mode, k=k)
        latencies.append((time.perf_counter() - started) * 1000)
        reader_ms.append(answer.timings_ms.get("answer", 0.0))
        retrieved = answer.passages[
            : answer.retrieved or len(answer.passages)
        ]  # as retrieved, before a chain added any
        other = engine.read(question["question"], retrieved, mode, structure=not engine.settings.reader_structure)
        extractive, _ = extractive_answer(question["question"], answer.passages, engine.embedder)
        texts = {"reader": answer.answer, "reader_other": other.text, "extractive": extractive}
        row = {}
        for name, text in texts.items():
            plain = without_citations(text)
            row[f"{name}_em"], row[f"{name}_f1"] = exact_match(plain, gold), token_f1(plain, gold)
        row["ceiling"] = answer_in_passages(answer.passages, gold)
        row[f"recall@{k}"] = recall_at([chunk_doc[p.chunk_id] for p in answer.passages], question["supporting_ids"], k)
        rows.append(row)
    other_name = "without_structure" if engine.settings.reader_structure else "with_structure"

    def mean(indices) -> dict:
        chosen = [rows[i] for i in sorted(indices)]
        report = {key: round(float(np.mean([r[key] for r in chosen])), 4) for key in rows[0]} if chosen else {}
        return {key.replace("reader_other", f"reader_{other_name}"): value for key, value in report.items()}

    split = halves(questions)
    return {
        "mode": mode,
        "clue_weight": engine.settings.clue_weight_offline if mode == "memorag" else None,
        "reader_structure": engine.settings.reader_structure,
        **mean(range(len(rows))),
        "halves": {name: mean(indices) for name, indices in split.items()},
        "p50_ms": float(np.percentile(latencies, 50)),
        "p95_ms": float(np.percentile(latencies, 95)),
        "reader_p95_ms": float(np.percentile(reader_ms, 95)),
        "questions": len(questions),
    }
