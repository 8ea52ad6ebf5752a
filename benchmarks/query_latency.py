"""Where hipporag's query time goes: query embedding, seeds (fact matching and entity linking), dense
scores, PPR, and the whole retrieve call, p50/p95 over the first N questions of a QA set, on a
workspace that `fieldmap eval retrieval` has indexed.

    .venv/bin/python benchmarks/query_latency.py --workspace /tmp/musique-minilm [--questions ../shared/data/musique/questions.jsonl] [-n 60]

Run it under OMP_NUM_THREADS=1 as well to see what thread contention costs.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from fieldmap.settings import Settings
from rag.engine import QueryEngine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--questions", default="../shared/data/musique/questions.jsonl")
    parser.add_argument("-n", type=int, default=60)
    args = parser.parse_args()
    settings = Settings.load(workspace=args.workspace, env={}, config_file="/nonexistent.toml", schema_name="general")
    engine = QueryEngine(settings)
    questions = [json.loads(line)["question"] for line in open(args.questions)][: args.n]
    retriever = engine.retriever("hipporag")
    retriever.retrieve(questions[0], 5)  # warm: models, matrices, the PPR operator
    parts: dict[str, list[float]] = {"embed": [], "seeds": [], "dense": [], "ppr": [], "retrieve": []}
    for question in questions:
        t0 = time.perf_counter()
        vector = retriever.dense.embedder.queries([question])[0]
        t1 = time.perf_counter()
        seeds = retriever.seeds(question, vector)
        t2 = time.perf_counter()
        retriever.dense.scores(vector)
        t3 = time.perf_counter()
        retriever.pagerank(
            seeds, np.full(retriever.kg.n_passages, 0.01), 5
        )  # whole graph, or restricted on large graphs
        t4 = time.perf_counter()
        retriever.retrieve(question, 5)
        t5 = time.perf_counter()
        for name, start, end in (
            ("embed", t0, t1),
            ("seeds", t1, t2),
            ("dense", t2, t3),
            ("ppr", t3, t4),
            ("retrieve", t4, t5),
        ):
            parts[name].append((end - start) * 1000)
    engine.close()
    where = "restricted to the seeds' neighbourhood" if retriever.restricted else "on the whole graph"
    print(f"graph: {retriever.kg.graph.vcount():,} vertices, PPR {where}")
    for name, values in parts.items():
        print(f"{name:<9} p50 {np.percentile(values, 50):6.1f} ms   p95 {np.percentile(values, 95):6.1f} ms")


if __name__ == "__main__":
    main()
