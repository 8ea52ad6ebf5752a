"""The offline reader's own time (besides retrieval), p50/p95 over a set of questions, on a built
workspace: each question is retrieved once (hipporag's graph retrieval, the top k that `ask` reads offline), then
the reader reads the passages. The retrievals a multi-hop chain makes inside the reader for its rewritten
questions are timed apart (chain_hops): reader_own is the reader's time without them.

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

TEMPLATES = (
    "What do we know about {}?",
    "Who studied {}?",
    "When was {} observed?",
    "How many {} are known?",
    "Which instrument measured {}?",
)


def questions_of(engine: QueryEngine, n: int) -> list[str]:
    titles = [t for (t,) in engine.con.execute("SELECT title FROM documents ORDER BY doc_id LIMIT ?", [n]).fetchall()]
    made = [TEMPLATES[i % len(TEMPLATES)].format(" ".join(t.split()[:6]).rstrip(":.,")) for i, t in enumerate(titles)]
    return ["What do X-ray observations reveal about galaxy clusters?", *made][:n]


def time_reader(
    engine: QueryEngine, settings: Settings, questions: list[str], stored: bool, embedded: int
) -> tuple[dict, list]:
    """p50/p95 of the reader alone (retrieval timed apart), cold parse cache, and each question's reading."""
    import rag.engine
    import rag.reader

    rag.reader.EMBEDDED = embedded
    reader = engine.reader
    keep = reader.stored
    reader.stored = keep if stored else None
    hops = TimedHops(rag.engine.PPROrder)
    reader_ms, own_ms, hop_ms, retrieve_ms, readings = [], [], [], [], []
    for question in questions:
        t0 = time.perf_counter()
        hits = engine.retriever("hipporag").graph.retrieve(question, settings.top_k)  # what ask reads offline
        passages = engine.passages([(h.chunk_id, h.score) for h in hits])
        t1 = time.perf_counter()
        reader._parsed.clear()
        hops.seconds = 0.0
        reading = engine.read(question, passages, "hipporag")
        t2 = time.perf_counter()
        retrieve_ms.append((t1 - t0) * 1000)
        reader_ms.append((t2 - t1) * 1000)
        hop_ms.append(hops.seconds * 1000)
        own_ms.append(reader_ms[-1] - hop_ms[-1])
        readings.append((reading.answer, [e.text for e in reading.evidence]))
    hops.restore()
    reader.stored = keep
    figures = {"stored_parses": stored, "embedded": embedded or "all", "questions": len(questions)}
    for name, values in (
        ("reader", reader_ms),
        ("reader_own", own_ms),
        ("chain_hops", hop_ms),
        ("retrieve", retrieve_ms),
    ):
        figures |= {
            f"{name}_p50_ms": round(float(np.percentile(values, 50)), 1),
            f"{name}_p95_ms": round(float(np.percentile(values, 95)), 1),
            f"{name}_max_ms": round(max(values), 1),
        }
    figures["questions_with_chain_hops"] = sum(ms > 0 for ms in hop_ms)
    return figures, readings


class TimedHops:
    """Time spent in the retrievals a chain makes for its rewritten questions (PPROrder.retrieve, which
    only the reader's chain calls here), so the reader's own time can be told apart from retrieval."""

    def __init__(self, order_class) -> None:
        self.order_class, self.original, self.seconds = order_class, order_class.retrieve, 0.0
        original, timer = self.original, self

        def retrieve(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - start

        order_class.retrieve = retrieve

    def restore(self) -> None:
        self.order_class.retrieve = self.original


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--questions")
    parser.add_argument("--schema", default="science")
    parser.add_argument("-n", type=int, default=60)
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also without the stored parses and with every sentence of an open question embedded: same answers?",
    )
    args = parser.parse_args()
    settings = Settings.load(workspace=args.workspace, env={}, config_file="/nonexistent.toml", schema_name=args.schema)
    engine = QueryEngine(settings)
    questions = (
        [json.loads(line)["question"] for line in open(args.questions)][: args.n]
        if args.questions
        else questions_of(engine, args.n)
    )
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
