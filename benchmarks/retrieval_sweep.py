"""A repeatable sweep of retrieval variants on a QA set with gold passages (MuSiQue), on a fixed-seed
50/50 split of the questions: parameters are chosen on half A and reported on A, B and all.

    .venv/bin/python benchmarks/retrieval_sweep.py --workspace WS [--embedder minilm] [--grid default|full] --json OUT

WS is indexed once if it holds no graph yet (the seconds are written to WS/sweep-index.json and
reported); a COPY of a prebuilt workspace is reused as it is. Every variant is a retriever built
directly over the same index (HippoParams overrides); the mention-weighting variant rebuilds only
the graph, in memory, from the DuckDB tables. Recall@2 and @5 per half and overall, p50/p95 ms over
all questions.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import subprocess
import time
from pathlib import Path

import numpy as np

from fieldmap.settings import Settings
from kg.graph import KnowledgeGraph, build_graph
from rag.engine import QueryEngine
from rag.evaluate import load_questions, score_questions, summarise
from rag.hipporag import HippoParams, HippoRAGRetriever
from rag.next_hop import NextHopRetriever
from rag.retrievers import DenseRetriever, FullTextRetriever, HybridRetriever

# The plain hipporag: facts, exact query entities, dense passage seeds, PPR order. The knobs that lost on both
# halves (lexical seeds and fusion, n-gram and vector entity links, LinearRAG's bridging and activation) were removed
# with their code; their rows are in docs/benchmarks/history.md.
BASELINE = dict(fuse_dense=0.0, named_first=False, chain_second=False, chain_fill=False)


def grid(name: str) -> dict[str, dict]:
    """Variant name -> HippoParams overrides on BASELINE ("graph": mention weighting of a rebuilt graph)."""
    variants: dict[str, dict] = {"hipporag:main": {}, "fuse dense 1.0": {"fuse_dense": 1.0}}
    for depth in (5, 10):  # reorder PPR's own top passages (depth 5 = k keeps its Recall@5)
        for dense_w in (1.0, 2.0):
            variants[f"rerank top {depth} dense {dense_w}"] = {"fuse_dense": dense_w, "fuse_depth": depth}
    if name == "chain":  # the fused top 5 as a chain of hops (rag/hops.py), on the rerank default (top 5, dense 2)
        fused = {"fuse_dense": 2.0, "fuse_depth": 5}
        return {
            "rerank top 5 dense 2.0 (before)": fused,
            "named first": fused | {"named_first": True},
            "chain second": fused | {"chain_second": True},
            "named first + chain second": fused | {"named_first": True, "chain_second": True},
        }
    if (
        name == "fill"
    ):  # the fifth place to the best passage to rank 10 chain-linked to the first two (rag/hops.chain_fill)
        chained = {"fuse_dense": 2.0, "fuse_depth": 5, "named_first": True, "chain_second": True}
        return {"named first + chain second (before)": chained, "+ chain fill": chained | {"chain_fill": True}}
    if name == "hop":  # the last place to the next hop's passage (rag/next_hop.py), on the chain order and fill
        chained = {"fuse_dense": 2.0, "fuse_depth": 5, "named_first": True, "chain_second": True, "chain_fill": True}
        return {"chain order + fill (before)": chained, "+ next hop": chained | {"next_hop": True}}
    if name == "rerank":
        return {n: v for n, v in variants.items() if n == "hipporag:main" or n.startswith("rerank")}
    variants["mention share"] = {"graph": "share"}
    if name == "full":
        for pw in (0.1, 0.2, 0.3, 0.5):
            for fd in (0.5, 1.0, 2.0):
                variants[f"pw {pw} fuse dense {fd}"] = {"passage_node_weight": pw, "fuse_dense": fd}
    return variants


class CachedQueries:
    """An embedder whose query vectors are computed once per text."""

    def __init__(self, inner):
        self.inner, self.name, self.dim, self._seen = inner, inner.name, inner.dim, {}

    def passages(self, texts):
        return self.inner.passages(texts)

    def queries(self, texts):
        missing = [t for t in texts if t not in self._seen]
        if missing:
            self._seen.update(zip(missing, self.inner.queries(missing)))
        return np.stack([self._seen[t] for t in texts])


def split(questions: list[dict], seed: int) -> tuple[list[int], list[int]]:
    order = list(range(len(questions)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    return sorted(order[:half]), sorted(order[half:])


def index_once(settings: Settings, corpus: str) -> float | None:
    """Index the corpus into an empty workspace (seconds), or None when the workspace is already built."""
    marker = settings.workspace / "sweep-index.json"
    if settings.graph_path.exists():
        return json.loads(marker.read_text())["index_seconds"] if marker.exists() else None
    from fieldmap.progress import silent
    from pipelines.run import run_pipeline

    started = time.perf_counter()
    if not run_pipeline(settings.model_copy(update={"corpus": [corpus]}), silent).success:
        raise RuntimeError(f"indexing {corpus} failed")
    seconds = time.perf_counter() - started
    marker.write_text(json.dumps({"index_seconds": seconds, "load_after": os.getloadavg()}))
    return seconds


def evaluate(retriever, questions, halves, chunk_doc) -> dict:
    recalls, latencies = score_questions(retriever, questions, chunk_doc, [2, 5])
    row = {"all": summarise(recalls, latencies)}
    for label, members in zip("AB", halves):
        row[label] = summarise(
            {k: [v[i] for i in members] for k, v in recalls.items()}, [latencies[i] for i in members]
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--corpus", default="../shared/data/musique/corpus.jsonl")
    parser.add_argument("--questions", default="../shared/data/musique/questions.jsonl")
    parser.add_argument("--embedder", default=None, help="default: the settings' embedder")
    parser.add_argument(
        "--precision", default="auto", help="the torch embedders' embed_precision: auto | float32 | bfloat16"
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--grid",
        default="default",
        help="default | full | rerank | chain | fill | hop | defaults (only the settings' hipporag and the plain methods)",
    )
    parser.add_argument("--json")
    parser.add_argument("--hybrid", action="store_true", help="also the RRF hybrid of dense, BM25 and hipporag")
    args = parser.parse_args()
    settings = Settings.load(
        workspace=args.workspace,
        env={},
        config_file="/nonexistent.toml",
        schema_name="general",
        embedder=args.embedder,
        embed_precision=args.precision,
    )
    index_seconds = index_once(settings, args.corpus)
    questions = load_questions(Path(args.questions))
    halves = split(questions, args.seed)
    engine = QueryEngine(settings)
    chunk_doc = dict(engine.con.execute("SELECT chunk_id, doc_id FROM chunks").fetchall())
    dense, bm25 = DenseRetriever(engine.chunks, engine.embedder), FullTextRetriever(engine.chunks)
    kg, facts, defaults = (
        KnowledgeGraph.load(settings.graph_path),
        engine.store.table("facts"),
        HippoParams.of(settings),
    )
    graphs = {"default": kg}
    retrievers = {"bm25": bm25, "dense": dense, "hipporag (settings)": engine.retriever("hipporag")}
    if args.hybrid:
        retrievers["hybrid"] = HybridRetriever([dense, bm25, engine.retriever("hipporag")], settings.rrf_k)
    variants = {} if args.grid == "defaults" else grid(args.grid)
    report = {
        "embedder": engine.embedder.name,
        "precision": settings.embed_precision,
        "index_seconds": index_seconds,
        "seed": args.seed,
        "load_start": os.getloadavg(),
        "cpu": _cpu(),
        "halves": {"A": [questions[i]["id"] for i in halves[0]], "B": [questions[i]["id"] for i in halves[1]]},
        "settings_hipporag": dataclasses.asdict(defaults),
        "rows": {},
    }
    for name, retriever in retrievers.items():
        report["rows"][name] = evaluate(retriever, questions, halves, chunk_doc)
        _print(name, report["rows"][name])
    # the variants share one query vector per question (their recall is what they are compared on;
    # the latency of a retrieve call with its embedding is in the rows above)
    cached = DenseRetriever(engine.chunks, CachedQueries(engine.embedder))
    for name, overrides in variants.items():
        overrides = dict(overrides)
        graph_option, next_hop = overrides.pop("graph", "default"), overrides.pop("next_hop", False)
        if graph_option not in graphs:
            graphs[graph_option] = build_graph(engine.con, mention_weight=graph_option)
        params = dataclasses.replace(defaults, **(BASELINE | overrides))
        retriever = HippoRAGRetriever(graphs[graph_option], facts, engine.linker, cached, params)
        if next_hop:
            retriever = NextHopRetriever(retriever, engine.next_question, settings.top_k)
        report["rows"][name] = evaluate(retriever, questions, halves, chunk_doc) | {
            "overrides": overrides,
            "graph": graph_option,
            "query_vectors_cached": True,
        }
        _print(name, report["rows"][name])
    report["load_end"] = os.getloadavg()
    engine.close()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


def _print(name: str, row: dict) -> None:
    cells = "  ".join(f"{h} R@2 {row[h]['recall@2']:.3f} R@5 {row[h]['recall@5']:.3f}" for h in ("A", "B", "all"))
    print(
        f"{name:<44} {cells}  p50 {row['all']['p50_ms']:6.1f} p95 {row['all']['p95_ms']:6.1f} ms  load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def _cpu() -> str:
    try:
        return next(
            line.split(":", 1)[1].strip()
            for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
            if line.startswith("Model name")
        )
    except (OSError, StopIteration):
        return "unknown"


if __name__ == "__main__":
    main()
