"""Index time of fieldmap against LinearRAG (arXiv 2510.10114), the closest offline peer, in one run on one
machine: each system indexes the same passages in a fresh process, with the same spaCy model and the same
all-MiniLM-L6-v2 weights (issue 28).

    git clone https://github.com/DEEP-PolyU/LinearRAG /tmp/linearrag
    git -C /tmp/linearrag checkout 4ecfa25170711da9a0bf2a9a923867cc0f8d3525
    .venv/bin/pip install --no-deps --target /tmp/linearrag-deps pandas==3.1.1   # its stores write Parquet
    PYTHONPATH=. .venv/bin/python benchmarks/linearrag_index.py --linearrag /tmp/linearrag \
        --deps /tmp/linearrag-deps --json OUT

LinearRAG is not vendored or installed: its `src/` is put on the child process's path. Its index is
`LinearRAG.index(passages)` as its run.py calls it: spaCy NER over the passages (one process), then MiniLM vectors
of every passage, sentence and entity into Parquet, then the igraph graph. It is run twice: with
sentence-transformers (float32, as it ships) and with fieldmap's own MiniLM encoder behind an `encode` adapter
(bfloat16 where the CPU multiplies it natively), so the second pair compares the pipelines' work on equal
embedders. fieldmap's time is the whole `fieldmap run` (chunks, structures, typed triplets, entity resolution,
chunk/entity/fact vectors, the graph, the memory, the dashboard) from an empty workspace, offline.

Each figure is a fresh process's wall time, imports and model loading included. With --questions (MuSiQue) both
also report Recall@5 (the share of gold passages among the first 5) on the index they built.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.machine import cpu

ROOT = Path(__file__).resolve().parents[1]
PINNED = "4ecfa25170711da9a0bf2a9a923867cc0f8d3525"
DATA = ROOT.parent / "shared" / "data"
CORPORA = {
    "musique": (DATA / "musique" / "corpus.jsonl", DATA / "musique" / "questions.jsonl"),
    "2wiki": (DATA / "2wiki" / "passages.jsonl", None),
}


def read_jsonl(path: Path) -> list[dict]:
    with path.open() as lines:
        return [json.loads(line) for line in lines if line.strip()]


# ---- children: each runs in a fresh process and prints one JSON line --------------------------------------------


class FieldmapMiniLM:
    """LinearRAG's `embedding_model.encode(texts, normalize_embeddings=True, ...)` over fieldmap's MiniLM."""

    def __init__(self):
        from fieldmap.embedders import MiniLMEmbedder, resolve_precision

        self.embedder = MiniLMEmbedder(precision=resolve_precision("auto"))

    def encode(self, texts, normalize_embeddings=True, show_progress_bar=False, batch_size=64):
        one = isinstance(texts, str)
        vectors = self.embedder.passages([texts] if one else list(texts))
        return vectors[0] if one else vectors


def child_linearrag(args) -> dict:
    sys.path[:0] = [str(args.linearrag), *([str(args.deps)] if args.deps else [])]
    started = time.perf_counter()
    if args.embedder == "sentence-transformers":
        from sentence_transformers import SentenceTransformer

        from fieldmap.bert import minilm_dir

        model = SentenceTransformer(str(minilm_dir()), device="cpu")
    else:
        model = FieldmapMiniLM()
    import spacy.util
    from src.config import LinearRAGConfig  # LinearRAG's own modules, from the checkout
    from src.LinearRAG import LinearRAG

    from fieldmap.nlp import MODEL_PACKAGES

    spacy_model = next(name for name in MODEL_PACKAGES if spacy.util.is_package(name))
    records = read_jsonl(args.corpus)
    passages = [f"{i}:{r.get('title', '')}\n{r['text']}" for i, r in enumerate(records)]
    config = LinearRAGConfig(
        dataset_name="bench", embedding_model=model, spacy_model=spacy_model, working_dir=str(args.workdir)
    )
    rag = LinearRAG(global_config=config)
    rag.index(passages)
    seconds = time.perf_counter() - started
    result = {"index_s": round(seconds, 1), "passages": len(passages)}
    if args.questions:
        from rag.evaluate import load_questions, recall_at

        questions = load_questions(args.questions)
        found = rag.retrieve([{"question": q["question"], "answer": q["answers"][0]} for q in questions])
        ids = [r["id"] for r in records]
        recalls = [
            recall_at([ids[int(text.split(":", 1)[0])] for text in hit["sorted_passage"]], q["supporting_ids"], 5)
            for hit, q in zip(found, questions)
        ]
        result["recall_at_5"] = round(sum(recalls) / len(recalls), 3)
    return result


def child_fieldmap(args) -> dict:
    started = time.perf_counter()
    from fieldmap.progress import silent
    from fieldmap.settings import Settings
    from pipelines.run import run_pipeline

    settings = Settings(workspace=args.workdir, corpus=[str(args.corpus)], schema_name="general")
    if settings.llm_enabled:
        raise SystemExit("unset OPENAI_API_KEY / OPENAI_BASE_URL: this compares the offline index")
    run = run_pipeline(settings, silent)
    if not run.success:
        raise SystemExit("fieldmap run failed")
    seconds = time.perf_counter() - started
    result = {"index_s": round(seconds, 1)}
    if args.questions:
        from rag.engine import QueryEngine
        from rag.evaluate import load_questions, score_questions

        engine = QueryEngine(settings)
        chunk_doc = dict(engine.con.execute("SELECT chunk_id, doc_id FROM chunks").fetchall())
        recalls, _ = score_questions(engine.retriever("hipporag"), load_questions(args.questions), chunk_doc, [5])
        engine.close()
        result["recall_at_5"] = round(sum(recalls[5]) / len(recalls[5]), 3)
    return result


# ---- the parent: one run, both systems, each corpus -------------------------------------------------------------


def run_child(system: str, corpus: Path, questions: Path | None, args, embedder: str = "") -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-{system}-") as workdir:
        command = [sys.executable, __file__, "--child", system, "--corpus", str(corpus), "--workdir", workdir]
        if questions:
            command += ["--questions", str(questions)]
        if system == "linearrag":
            command += ["--linearrag", str(args.linearrag), "--embedder", embedder]
            if args.deps:
                command += ["--deps", str(args.deps)]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{system} on {corpus.name} failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["process_s"] = round(wall, 1)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--linearrag", type=Path, help=f"a LinearRAG checkout at {PINNED[:7]}")
    parser.add_argument("--deps", type=Path, help="a --target folder holding pandas for LinearRAG's Parquet stores")
    parser.add_argument("--corpora", default="musique,2wiki", help="musique, 2wiki (comma-separated)")
    parser.add_argument("--recall", action="store_true", help="also Recall@5 where the corpus has questions")
    parser.add_argument("--embedders", default="sentence-transformers,fieldmap", help="LinearRAG's embedder(s)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", choices=["fieldmap", "linearrag"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--questions", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--embedder", default="sentence-transformers", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = (child_fieldmap if args.child == "fieldmap" else child_linearrag)(args)
        print(json.dumps(result))
        return
    if not args.linearrag or not (args.linearrag / "src" / "LinearRAG.py").is_file():
        raise SystemExit(f"--linearrag must name a LinearRAG checkout at {PINNED} (see this script's docstring)")
    commit = subprocess.run(["git", "-C", str(args.linearrag), "rev-parse", "HEAD"], capture_output=True, text=True)
    report = {"cpu": cpu(), "linearrag_commit": commit.stdout.strip() or PINNED, "runs": []}
    for name in args.corpora.split(","):
        corpus, questions = CORPORA[name]
        questions = questions if args.recall else None
        runs = [("fieldmap", "")] + [("linearrag", e) for e in args.embedders.split(",")]
        for system, embedder in runs:
            print(f"{time.strftime('%H:%M:%S')} {name}: {system} {embedder}".rstrip(), file=sys.stderr, flush=True)
            result = run_child(system, corpus, questions, args, embedder)
            row = {"corpus": name, "system": system, "embedder": embedder or "fieldmap", **result}
            row["load_average"] = round(os.getloadavg()[0], 2)
            report["runs"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
