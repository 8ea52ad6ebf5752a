"""The LLM path measured on a capable local model (opt-in; the model is never a fieldmap dependency).

    python benchmarks/llm_model.py                                   # join + verify the GGUF once (prints its path)
    python benchmarks/llm_path.py serve --out OUT                     # llama.cpp server on 127.0.0.1:8091 (2 threads), load time;
                                                                      # stop it with kill -9 PID (serve-<model>.json): on SIGTERM
                                                                      # it first finishes the request in flight
    python benchmarks/llm_path.py speed|extraction|structure|gists --out OUT
    python benchmarks/llm_answers.py --out OUT [--variant NAME:setting=value ...] [--fixed-context] [--report]   # answers, clue weight

OUT (default .fieldmap/llm-path) holds one workspace per step and a JSON of each step's figures.
Every request goes through fieldmap's LLMClient with its DuckDB cache in that step's workspace,
so a rerun repeats no model call. Steps:
- speed: one 5-passage answer prompt (MuSiQue, hipporag's top 5), prompt and completion tokens, seconds;
- extraction: `fieldmap eval extraction --mode llm` on the kg-for-science annotations;
- structure: StruXGPT structures of the first N demo abstracts: valid at the first try, after the
  one repair, or failed (by reason);
- gists: gist quality by the retrieval it gives (see `gists`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.llm_model import DEFAULT_CACHE, MODELS, ensure_model  # noqa: E402

PORT = 8091
# ../shared/data beside a checkout; a worktree under /work/wt finds it at /work/shared/data
DATA = next(
    (p for p in (REPO.parent / "shared" / "data", REPO.parents[1] / "shared" / "data") if p.exists()),
    REPO.parent / "shared" / "data",
)
MUSIQUE = DATA / "musique"
ANNOTATIONS = DATA / "kg-for-science" / "annotations.jsonl"
DEMO = REPO / "examples" / "astro-ph-1000.jsonl"
PREBUILT_MUSIQUE = Path("/work/cache/ws-musique")


def base_url(port: int = PORT) -> str:
    return f"http://127.0.0.1:{port}/v1"


def llm_settings(workspace: Path, model: str, port: int = PORT, **extra):
    """Settings for the local server: one request at a time (the server serialises them), long timeouts."""
    from fieldmap.settings import Settings

    values = {
        "openai_base_url": base_url(port),
        "llm_model": model,
        "llm_concurrency": 1,
        "llm_timeout": 900.0,
        "llm_max_retries": 1,
    }
    return Settings.load(workspace=workspace, env={}, config_file="/nonexistent.toml", **{**values, **extra})


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(data, indent=2)[:3000])


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# serve


def serve(out: Path, model: str, port: int, threads: int, n_ctx: int) -> dict:
    """Start `python -m llama_cpp.server` in the background (it outlives this command); the seconds
    until it answers, the model file's checksum and the weight buffers llama.cpp chose."""
    gguf = ensure_model(model, DEFAULT_CACHE)
    log = out / f"server-{model}.log"
    out.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        model,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
    ]
    started = time.perf_counter()
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}"
            )
        try:
            with urllib.request.urlopen(f"{base_url(port)}/models", timeout=2) as response:
                json.load(response)
            break
        except OSError:
            time.sleep(0.2)
    seconds = time.perf_counter() - started
    text = log.read_text(errors="replace")
    figures = {
        "model": model,
        "file": str(gguf),
        "bytes": MODELS[model].size,
        "sha256": MODELS[model].sha256,
        "pid": process.pid,
        "ready_seconds": round(seconds, 2),
        "threads": threads,
        "n_ctx": n_ctx,
        "load_average": load_average(),
        "weight_buffers": sorted(set(re.findall(r"(\S+) model buffer size", text))),
        "command": " ".join(command),
    }
    write_json(out / f"serve-{model}.json", figures)
    return figures


def server_speeds(log: Path) -> dict:
    """Median prompt-processing and generation speeds over every request in the server's log."""
    import numpy as np

    text = log.read_text(errors="replace")
    prompt = [
        float(x)
        for x in re.findall(r"prompt eval time =.*?\(\s*[\d.]+ ms per token,\s*([\d.]+) tokens per second\)", text)
    ]
    generate = [
        float(x)
        for x in re.findall(r"\n\S*\s*eval time =.*?\(\s*[\d.]+ ms per token,\s*([\d.]+) tokens per second\)", text)
    ]
    return {
        "requests_logged": len(generate),
        "prompt_tokens_per_s_median": float(np.median(prompt)) if prompt else None,
        "completion_tokens_per_s_median": float(np.median(generate)) if generate else None,
    }


# speed


def speed(out: Path, model: str, port: int, n: int = 3) -> dict:
    """n 5-passage answer prompts, uncached, one at a time: MuSiQue question i with its gold passages
    and the distractors after them in the corpus (its own block of paragraphs), 5 in all. No
    workspace is needed, so this runs before any index exists."""
    from fieldmap.llm import LLMClient
    from rag.answer import Passage, llm_answer

    corpus = {r["id"]: r for r in map(json.loads, (MUSIQUE / "corpus.jsonl").read_text().splitlines())}
    order = list(corpus)
    runs = []
    for line in (MUSIQUE / "questions.jsonl").read_text().splitlines()[:n]:
        question = json.loads(line)
        gold = question["supporting_ids"][:5]
        after = order.index(gold[0])
        ids = gold + [d for d in order[after:] if d not in gold][: 5 - len(gold)]
        passages = [Passage(d, f"{d}#0", corpus[d]["title"], 1.0, corpus[d]["text"]) for d in ids]
        client = LLMClient(llm_settings(out / "ws-speed", model, port), None, "speed")
        started = time.perf_counter()
        answer, _, flags, failure = llm_answer(client, question["question"], passages)
        runs.append(
            {
                "id": question["id"],
                "seconds": round(time.perf_counter() - started, 2),
                "prompt_tokens": client.usage.prompt_tokens,
                "completion_tokens": client.usage.completion_tokens,
                "failure": failure,
                "answer": answer,
                "gold": question["answers"],
                "load_average": load_average(),
            }
        )
        client.close()
    figures = {"model": model, "runs": runs, **server_speeds(out / f"server-{model}.log")}
    write_json(out / f"speed-{model}.json", figures)
    return figures


def copy_musique(out: Path) -> Path:
    """A private copy of the prebuilt MuSiQue workspace (never written into in place)."""
    workspace = out / "ws-musique"
    if not (PREBUILT_MUSIQUE / "READY").exists():
        raise RuntimeError(f"{PREBUILT_MUSIQUE} is not built yet (no READY file)")
    if not (workspace / "fieldmap.duckdb").exists():
        shutil.copytree(PREBUILT_MUSIQUE, workspace, ignore=shutil.ignore_patterns("READY"))
    return workspace


# extraction


def extraction(out: Path, model: str, port: int, limit: int | None = None) -> dict:
    """`fieldmap eval extraction --mode llm` on lines 4-13 (1-3 are the few-shot examples), then on
    all 13 annotations, its calls cached in OUT/ws-extraction-<model> (the held-out chunks are not
    asked twice). With `limit`: only held-out lines 4..3+limit, and no all-13 run."""
    lines = ANNOTATIONS.read_text(encoding="utf-8").splitlines(keepends=True)
    last = 3 + limit if limit else len(lines)
    held_out = out / f"annotations-4-{last}.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    held_out.write_text("".join(lines[3:last]), encoding="utf-8")
    figures = {f"lines 4-{last}": extraction_run(out, model, port, held_out, f"4-{last}")}
    if not limit:
        figures["all"] = extraction_run(out, model, port, ANNOTATIONS, "all")
    write_json(out / f"extraction-{model}.json", figures)
    return figures


def extraction_run(out: Path, model: str, port: int, annotations: Path, label: str) -> dict:
    workspace, result = out / f"ws-extraction-{model}", out / f"extraction-{model}-{label}.scores.json"
    env = {
        **os.environ,
        "OPENAI_BASE_URL": base_url(port),
        "FIELDMAP_LLM_MODEL": model,
        "FIELDMAP_LLM_CONCURRENCY": "1",
        "FIELDMAP_LLM_TIMEOUT": "900",
        "PYTHONPATH": str(REPO),
    }
    env.pop("OPENAI_API_KEY", None)
    command = [
        str(Path(sys.executable).parent / "fieldmap"),
        "eval",
        "extraction",
        "--annotations",
        str(annotations),
        "--mode",
        "llm",
        "--json",
        str(result),
        "--workspace",
        str(workspace),
        "--schema",
        "science",
    ]
    started = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if run.returncode != 0:
        raise RuntimeError(f"eval extraction failed: {run.stderr[-2000:]}")
    scores = json.loads(result.read_text())
    figures = {
        "model": model,
        "command": " ".join(command),
        "seconds": round(time.perf_counter() - started, 1),
        "load_average": load_average(),
        "micro": scores["micro"],
        "chunks": scores["chunks"],
        "failed_chunks": scores["failed_chunks"],
        "failures_by_reason": scores["failures_by_reason"],
        "stdout": run.stdout,
        **call_stats(workspace / "fieldmap.duckdb"),
    }
    return figures


def call_stats(db: Path) -> dict:
    """Requests sent (not cached) with their tokens and seconds, from the workspace's llm_calls."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT count(*), sum(prompt_tokens), sum(completion_tokens), sum(seconds), median(seconds) FROM llm_calls WHERE NOT cached"
    ).fetchall()[0]
    con.close()
    return {
        "requests": rows[0],
        "prompt_tokens": rows[1],
        "completion_tokens": rows[2],
        "request_seconds": rows[3],
        "request_seconds_median": rows[4],
    }


# structure


def structure(out: Path, model: str, port: int, n: int) -> dict:
    """The first n demo abstracts structured by the LLM; each valid at the first try, after the repair, or failed."""
    from corpus.llm_structurize import LLMStructure, structure_messages
    from corpus.steps import chunk_pending, ingest
    from corpus.store import load_sentences
    from fieldmap.llm import LLMClient
    from fieldmap.llm_cache import reason_kind
    from fieldmap.prompts import load_prompt
    from fieldmap.store import connect

    workspace = out / f"ws-structure-{model}"
    subset = workspace / "abstracts.jsonl"
    subset.parent.mkdir(parents=True, exist_ok=True)
    subset.write_text("".join(DEMO.read_text(encoding="utf-8").splitlines(keepends=True)[:n]), encoding="utf-8")
    settings = llm_settings(workspace, model, port, corpus=[str(subset)])
    con = connect(settings.duckdb_path)
    ingest(con, settings.corpus)
    chunk_pending(con, settings)
    prompt = load_prompt("corpus", "structurize")
    client = LLMClient(settings, con, "structures")
    outcomes, examples = {"first_try": 0, "after_repair": 0, "failed": 0}, []
    failures: dict[str, int] = {}
    documents = sorted(_documents(con), key=lambda d: d.doc_id)
    started = time.perf_counter()
    for document in documents:
        sentences = load_sentences(con, document.doc_id, document.text)
        repair = prompt.render("repair", error="$error", count=len(sentences))
        result = client.complete(
            structure_messages(prompt, document, sentences), LLMStructure, repair, {"n_sentences": len(sentences)}
        )
        if result.value is None:
            outcomes["failed"] += 1
            failures[reason_kind(result.failure or "unknown")] = (
                failures.get(reason_kind(result.failure or "unknown"), 0) + 1
            )
        else:
            outcomes["after_repair" if result.repaired else "first_try"] += 1
            if len(examples) < 3:
                examples.append({"doc_id": document.doc_id, "sentences": len(sentences), **result.value.model_dump()})
    client.close()
    con.close()
    total = len(documents)
    figures = {
        "model": model,
        "documents": total,
        **outcomes,
        "valid_first_try": outcomes["first_try"] / total,
        "valid_after_repair": (outcomes["first_try"] + outcomes["after_repair"]) / total,
        "failures_by_reason": failures,
        "seconds": round(time.perf_counter() - started, 1),
        "load_average": load_average(),
        **call_stats(settings.duckdb_path),
        "examples": examples,
    }
    write_json(out / f"structure-{model}.json", figures)
    return figures


def _documents(con):
    from corpus.models import Document

    return [
        Document(d, t, x, s)
        for d, t, x, s in con.execute("SELECT doc_id, title, text, source FROM documents").fetchall()
    ]


# gists


def gists(out: Path, model: str, port: int, n_questions: int) -> dict:
    """Gist quality by the retrieval it gives. The pool: every gold passage of the first n MuSiQue
    questions plus, per question, its hardest distractor (the best dense-ranked non-gold passage
    over the whole corpus). Each pool document is represented by (a) its passage text, (b) its offline
    gist, (c) its LLM gist; each question retrieves from the pool by the same embedder (minilm,
    cosine); Recall@2/@5 of the question's gold passages and MRR of the first gold one are reported.
    Only the representation differs, so the figures say how much of what a question needs a gist keeps."""
    import numpy as np

    from fieldmap.llm import LLMClient
    from fieldmap.store import connect
    from rag.engine import QueryEngine
    from rag.memory import llm_gists, offline_gists

    workspace = copy_musique(out)
    questions = [json.loads(line) for line in (MUSIQUE / "questions.jsonl").read_text().splitlines()[:n_questions]]
    settings = llm_settings(workspace, model, port)
    engine = QueryEngine(settings)
    pool = list(dict.fromkeys(d for q in questions for d in q["supporting_ids"]))
    chunk_doc = dict(engine.con.execute("SELECT chunk_id, doc_id FROM chunks").fetchall())
    for question in questions:
        ranked = [chunk_doc[h.chunk_id] for h in engine.retriever("dense").retrieve(question["question"], 20)]
        pool += [next(d for d in ranked if d not in question["supporting_ids"] and d not in pool)]
    embedder = engine.embedder
    engine.close()
    cache_db = out / f"ws-gists-{model}" / "fieldmap.duckdb"
    con = connect(cache_db)
    source = connect(workspace / "fieldmap.duckdb", read_only=True)
    rows = source.execute(
        "SELECT doc_id, title, text FROM documents WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [pool]
    ).fetchall()
    texts = {d: f"{t}. {x}" for d, t, x in rows}
    offline = offline_gists(source, pool)
    source.close()
    con.execute("DELETE FROM documents WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [pool])
    con.executemany(
        "INSERT INTO documents (doc_id, title, text, content_hash, source) VALUES (?, ?, ?, '', 'musique')",
        [list(r) for r in rows],
    )
    client = LLMClient(settings.model_copy(update={"workspace": cache_db.parent}), con, "memory")
    started = time.perf_counter()
    written, failed = llm_gists(client, con, pool)
    seconds = time.perf_counter() - started
    client.close()
    con.close()
    representations = {
        "passage": texts,
        "offline_gist": offline,
        "llm_gist": {d: written.get(d, offline[d]) for d in pool},
    }
    query_vectors = embedder.queries([q["question"] for q in questions])
    figures = {
        "model": model,
        "questions": len(questions),
        "pool": len(pool),
        "llm_gists_failed": len(failed),
        "gist_seconds": round(seconds, 1),
        "load_average": load_average(),
        "examples": {d: {k: v[d] for k, v in representations.items()} for d in pool[:2]},
    }
    for name, by_doc in representations.items():
        vectors = embedder.passages([by_doc[d] for d in pool])
        r2, r5, rr = [], [], []
        for question, vector in zip(questions, query_vectors):
            order = [pool[i] for i in np.argsort(-(vectors @ vector))]
            gold = set(question["supporting_ids"])
            r2.append(len(gold & set(order[:2])) / len(gold))
            r5.append(len(gold & set(order[:5])) / len(gold))
            rr.append(1 / (1 + min(order.index(g) for g in gold)))
        figures[name] = {
            "recall@2": float(np.mean(r2)),
            "recall@5": float(np.mean(r5)),
            "mrr": float(np.mean(rr)),
            "mean_words": float(np.mean([len(by_doc[d].split()) for d in pool])),
        }
    figures.update(call_stats(cache_db))
    write_json(out / f"gists-{model}.json", figures)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["serve", "speed", "extraction", "structure", "gists"])
    parser.add_argument("--out", type=Path, default=REPO / ".fieldmap" / "llm-path")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", choices=sorted(MODELS))
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--n-ctx",
        type=int,
        default=8192,
        help="5 passages, the few-shot extraction prompt and the answer fit in 4k; 8k leaves room",
    )
    parser.add_argument("-n", type=int, default=25, help="structure: abstracts; gists: questions")
    parser.add_argument(
        "--limit", type=int, default=None, help="extraction: only held-out annotations 4..3+LIMIT (no all-13 run)"
    )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if args.step == "serve":
        serve(out, args.model, args.port, args.threads, args.n_ctx)
    elif args.step == "speed":
        speed(out, args.model, args.port, min(args.n, 3))
    elif args.step == "extraction":
        extraction(out, args.model, args.port, args.limit)
    elif args.step == "structure":
        structure(out, args.model, args.port, args.n)
    else:
        gists(out, args.model, args.port, args.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
