"""The offline reader's own time (besides retrieval), p50/p95 over a set of questions, on a built
workspace: each question is retrieved once (hipporag), then the reader reads the passages.

    .venv/bin/python benchmarks/reader_latency.py --workspace /tmp/ws-demo [--questions Q.jsonl] [-n 60] [--schema science]

Without --questions, it asks the demo's question and questions made from the workspace's document
titles ("What do we know about <title>?", "Who studied <title>?", "When was <title> observed?").
The reader's spaCy parse cache is cleared before every question, so each is timed cold.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--questions")
    parser.add_argument("--schema", default="science")
    parser.add_argument("-n", type=int, default=60)
    args = parser.parse_args()
    settings = Settings.load(workspace=args.workspace, env={}, config_file="/nonexistent.toml", schema_name=args.schema)
    engine = QueryEngine(settings)
    questions = [json.loads(line)["question"] for line in open(args.questions)][: args.n] if args.questions else questions_of(engine, args.n)
    engine.ask(questions[0], mode="hipporag")  # warm: models, matrices, the PPR operator
    reader_ms, retrieve_ms = [], []
    for question in questions:
        t0 = time.perf_counter()
        hits = engine.retriever("hipporag").retrieve(question, settings.top_k)
        passages = engine.passages([(h.chunk_id, h.score) for h in hits])
        t1 = time.perf_counter()
        engine.reader._parsed.clear()
        engine.read(question, passages, "hipporag")
        t2 = time.perf_counter()
        retrieve_ms.append((t1 - t0) * 1000)
        reader_ms.append((t2 - t1) * 1000)
    engine.close()
    report = {"questions": len(questions), "reader_p50_ms": round(float(np.percentile(reader_ms, 50)), 1),
              "reader_p95_ms": round(float(np.percentile(reader_ms, 95)), 1), "reader_max_ms": round(max(reader_ms), 1),
              "retrieve_p50_ms": round(float(np.percentile(retrieve_ms, 50)), 1), "retrieve_p95_ms": round(float(np.percentile(retrieve_ms, 95)), 1)}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
