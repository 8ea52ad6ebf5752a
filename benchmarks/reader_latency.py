"""The offline reader's own time (besides retrieval), p50/p95 over a set of questions, on a built
workspace: each question is retrieved once (hipporag), then the reader reads the passages.

    .venv/bin/python benchmarks/reader_latency.py --workspace /tmp/ws-demo [--questions Q.jsonl] [-n 60] [--schema science] [--compare]

Without --questions, it asks the demo's question and questions made from the workspace's document
titles ("What do we know about <title>?", "Who studied <title>?", "When was <title> observed?").
The reader's in-process parse cache is cleared before every question, so each is timed cold: its
passages' parses come from the workspace (kept at extraction, kg/parses.py) or are made. --compare
times the same questions without the kept parses and with every sentence of an open question
embedded, and counts the questions whose answer and evidence match the default run's.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from fieldmap.settings import Settings
from rag.engine import QueryEngine

TEMPLATES = ("What do we know about {}?", "Who studied {}?", "When was {} observed?", "How many {} are known?", "Which instrument measured {}?")


def questions_of(engine: QueryEngine, n: int) -> list[str]:
    titles = [t for (t,) in engine.con.execute("SELECT title FROM documents ORDER BY doc_id LIMIT ?", [n]).fetchall()]
    made = [TEMPLATES[i % len(TEMPLATES)].format(" ".join(t.split()[:6]).rstrip(":.,")) for i, t in enumerate(titles)]
    return ["What do X-ray observations reveal about galaxy clusters?", *made][:n]


def time_reader(engine: QueryEngine, settings: Settings, questions: list[str], stored: bool, embedded: int) -> tuple[dict, list]:
    """p50/p95 of the reader alone (retrieval timed apart), cold parse cache, and each question's reading."""
    import rag.reader

    rag.reader.EMBEDDED = embedded
    reader = engine.reader
    keep = reader.stored
    reader.stored = keep if stored else None
    reader_ms, retrieve_ms, readings = [], [], []
    for question in questions:
        t0 = time.perf_counter()
        hits = engine.retriever("hipporag").retrieve(question, settings.top_k)
        passages = engine.passages([(h.chunk_id, h.score) for h in hits])
        t1 = time.perf_counter()
        reader._parsed.clear()
        reading = engine.read(question, passages, "hipporag")
        t2 = time.perf_counter()
        retrieve_ms.append((t1 - t0) * 1000)
        reader_ms.append((t2 - t1) * 1000)
        readings.append((reading.answer, [e.text for e in reading.evidence]))
    reader.stored = keep
    return {"stored_parses": stored, "embedded": embedded or "all", "questions": len(questions),
            "reader_p50_ms": round(float(np.percentile(reader_ms, 50)), 1), "reader_p95_ms": round(float(np.percentile(reader_ms, 95)), 1),
            "reader_max_ms": round(max(reader_ms), 1), "retrieve_p50_ms": round(float(np.percentile(retrieve_ms, 50)), 1),
            "retrieve_p95_ms": round(float(np.percentile(retrieve_ms, 95)), 1)}, readings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--questions")
    parser.add_argument("--schema", default="science")
    parser.add_argument("-n", type=int, default=60)
    parser.add_argument("--compare", action="store_true",
                        help="also without the stored parses and with every sentence of an open question embedded: same answers?")
    args = parser.parse_args()
    settings = Settings.load(workspace=args.workspace, env={}, config_file="/nonexistent.toml", schema_name=args.schema)
    engine = QueryEngine(settings)
    questions = [json.loads(line)["question"] for line in open(args.questions)][: args.n] if args.questions else questions_of(engine, args.n)
    engine.ask(questions[0], mode="hipporag")  # warm: models, matrices, the PPR operator
    import rag.reader

    default = rag.reader.EMBEDDED
    variants = [(True, default)] + ([(False, default), (True, 0)] if args.compare else [])
    baseline = None
    for stored, embedded in variants:
        report, readings = time_reader(engine, settings, questions, stored, embedded)
        baseline = baseline or readings
        report["same_answer_and_evidence_as_first"] = sum(a == b for a, b in zip(readings, baseline))
        print(json.dumps(report), flush=True)
    engine.close()


if __name__ == "__main__":
    main()
