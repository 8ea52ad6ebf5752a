"""Answers with the LLM on a fixed MuSiQue subset (the first N questions of questions.jsonl), through
`QueryEngine.ask` exactly as `fieldmap ask` runs it, with hipporag and with memorag's LLM clues.

    python benchmarks/llm_path.py serve --out OUT                         # the local server first
    python benchmarks/llm_answers.py --out OUT [-n 30] [--modes hipporag,memorag] [--variant NAME:setting=value ...]
    python benchmarks/llm_answers.py --out OUT --report                   # summaries and the clue weight, no model call

Each answer is stored as one line of OUT/answers-<model>.jsonl keyed by (variant, mode, question), so
a rerun asks only what is missing. Per answer: EM and token F1 of the whole answer (citation
markers removed) and of its short answer (the text before the first citation or sentence end),
Recall@5 of the passages, whether the gold answer occurs in them (the reader's ceiling), the
citations and whether a cited passage holds the gold answer, flags, tokens and seconds.

The clue weight: memorag's stored LLM clues are fused again with hipporag's question list at each
weight (no model call); the weight is chosen by Recall@5 on the first half of the questions and
reported on the second half.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.llm_path import MUSIQUE, PORT, copy_musique, llm_settings, load_average, server_speeds, write_json  # noqa: E402

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
CITATION = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def short_answer(text: str) -> str:
    """The answer's first clause: up to the first citation marker or the end of the first sentence
    (a period after one or two letters, as in "G. Stanley Hall", ends none)."""
    return re.split(r"\s*\[\d|(?<=\w{3}[.!?])\s", text.strip(), maxsplit=1)[0].strip().rstrip(".")


def holds(text: str, answers: list[str]) -> bool:
    from rag.evaluate import normalize_answer

    norm = normalize_answer(text)  # from a word start, so "G. Stanley Hall's" holds "G. Stanley Hall"
    return any(re.search(rf"\b{re.escape(normalize_answer(a))}", norm) for a in answers if normalize_answer(a))


def score(question: dict, answer, seconds: float, variant: str) -> dict:
    from rag.evaluate import exact_match, recall_at, token_f1

    gold = question.get("answers", [])
    text = CITATION.sub("", answer.answer)
    short = short_answer(answer.answer)
    cited = {c.chunk_id for c in answer.citations}
    return {
        "variant": variant,
        "mode": answer.mode,
        "id": question["id"],
        "question": question["question"],
        "gold": gold,
        "answer": answer.answer,
        "short": short,
        "method": answer.method,
        "flags": answer.flags,
        "retrieval": getattr(answer, "retrieval", ""),
        "em": exact_match(text, gold),
        "f1": token_f1(text, gold),
        "short_em": exact_match(short, gold),
        "short_f1": token_f1(short, gold),
        "recall@5": recall_at([p.doc_id for p in answer.passages], question["supporting_ids"], 5),
        "gold_in_passages": any(holds(p.text, gold) for p in answer.passages),
        "citations": len(answer.citations),
        "cited": sorted(cited),
        "cited_holds_gold": any(holds(p.text, gold) for p in answer.passages if p.chunk_id in cited),
        "passages": [p.chunk_id for p in answer.passages],
        "clues": answer.clues,
        "draft": answer.draft,
        "prompt_tokens": answer.tokens.get("prompt", 0),
        "completion_tokens": answer.tokens.get("completion", 0),
        "seconds": round(seconds, 2),
        "timings_ms": answer.timings_ms,
        "load_average": load_average(),
    }


FLAG_KINDS = (
    ("is not supported by its citation", "unsupported claim"),
    ("points to no retrieved passage", "citation out of range"),
    ("cannot be read", "unreadable citation"),
    ("cites no passage", "uncited answer"),
)


def flag_kind(flag: str) -> str:
    if flag.startswith("LLM answer failed"):
        return "LLM answer failed: " + flag.split(": ", 2)[1] if flag.count(": ") >= 1 else flag
    return next((kind for pattern, kind in FLAG_KINDS if pattern in flag), flag[:60])


def holds_in_passages(out: Path, chunk_ids: list[str], gold: list[str]) -> bool:
    """Whether these passages hold a gold answer, by holds() as it is now."""
    import duckdb

    from benchmarks.llm_path import PREBUILT_MUSIQUE

    con = duckdb.connect(str(PREBUILT_MUSIQUE / "fieldmap.snapshot.duckdb"), read_only=True)
    texts = [
        t
        for (t,) in con.execute(
            "SELECT text FROM chunks WHERE chunk_id IN (SELECT unnest(?::VARCHAR[]))", [chunk_ids]
        ).fetchall()
    ]
    con.close()
    return any(holds(t, gold) for t in texts)


def load_records(path: Path) -> list[dict]:
    return (
        [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if path.exists()
        else []
    )


def parse_variant(spec: str) -> tuple[str, dict]:
    """ "name:setting=value;setting=value" -> (name, {setting: value})."""
    name, _, rest = spec.partition(":")
    return name, dict(item.split("=", 1) for item in rest.split(";") if item)


def answer_all(out: Path, model: str, port: int, n: int, modes: list[str], variants: list[str]) -> None:
    """Every (question, mode, variant) not stored yet; the modes and variants of one question run back
    to back, so a run cut short still compares them on the same questions."""
    from rag.engine import QueryEngine

    path = out / f"answers-{model}.jsonl"
    done = {(r["variant"], r["mode"], r["id"]) for r in load_records(path)}
    questions = [json.loads(line) for line in (MUSIQUE / "questions.jsonl").read_text().splitlines()[:n]]
    workspace = copy_musique(out)
    engines = {
        name: QueryEngine(llm_settings(workspace, model, port, **overrides))
        for name, overrides in map(parse_variant, variants)
    }
    try:
        for question in questions:
            for mode in modes:
                for variant, engine in engines.items():
                    if (variant, mode, question["id"]) in done:
                        continue
                    started = time.perf_counter()
                    answer = engine.ask(question["question"], mode=mode, k=5)
                    record = score(question, answer, time.perf_counter() - started, variant)
                    with open(path, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(record) + "\n")
                    print(
                        f"{variant} {mode} {question['id']}: {record['seconds']}s F1 {record['f1']:.2f} short {record['short_f1']:.2f} "
                        f"{record['short']!r}",
                        flush=True,
                    )
    finally:
        for engine in engines.values():
            engine.close()


def fixed_context_answers(out: Path, model: str, port: int, n: int) -> None:
    """The LLM as reader alone, before any index exists: each question gets its gold passages and the
    distractors after them in its own block of MuSiQue paragraphs, 5 passages in corpus order, shown
    plain and under their document's structure (the prebuilt workspace's structures); one cached
    client, so a rerun repeats no request."""
    import duckdb

    from benchmarks.llm_path import PREBUILT_MUSIQUE
    from fieldmap.llm import LLMClient
    from fieldmap.store import connect
    from rag.answer import Answer, Passage, llm_answer
    from rag.structured import structured_passages

    path = out / f"answers-{model}.jsonl"
    done = {(r["variant"], r["mode"], r["id"]) for r in load_records(path)}
    source = duckdb.connect(str(PREBUILT_MUSIQUE / "fieldmap.snapshot.duckdb"), read_only=True)
    order = [
        d
        for (d,) in source.execute(
            "SELECT doc_id FROM documents ORDER BY CAST(substr(doc_id, 2) AS INTEGER)"
        ).fetchall()
    ]
    settings = llm_settings(out / "ws-fixed-context", model, port)
    cache = connect(settings.duckdb_path)
    client = LLMClient(settings, cache, "answer")
    try:
        for line in (MUSIQUE / "questions.jsonl").read_text().splitlines()[:n]:
            question = json.loads(line)
            gold = question["supporting_ids"][:5]
            start = min(order.index(g) for g in gold)
            ids = sorted(gold + [d for d in order[start:] if d not in gold][: 5 - len(gold)], key=order.index)
            rows = {
                d: (t, x)
                for d, t, x in source.execute(
                    "SELECT c.doc_id, d.title, c.text FROM chunks c JOIN documents d USING (doc_id) WHERE c.chunk_id IN (SELECT unnest(?::VARCHAR[]))",
                    [[f"{d}#0" for d in ids]],
                ).fetchall()
            }
            passages = [Passage(d, f"{d}#0", rows[d][0], 1.0, rows[d][1]) for d in ids]
            structured = structured_passages(source, [p.chunk_id for p in passages])
            for variant in ("plain", "structured"):
                if (variant, "fixed-context", question["id"]) in done:
                    continue
                rendered = [
                    structured[p.chunk_id].render() if variant == "structured" and p.chunk_id in structured else p.text
                    for p in passages
                ]
                before = (client.usage.prompt_tokens, client.usage.completion_tokens)
                started = time.perf_counter()
                text, citations, flags, failure = llm_answer(client, question["question"], passages, "", None, rendered)
                answer = Answer(
                    question["question"],
                    text,
                    citations,
                    passages,
                    mode="fixed-context",
                    flags=flags,
                    method="reader" if failure else client.method,
                    tokens={
                        "prompt": client.usage.prompt_tokens - before[0],
                        "completion": client.usage.completion_tokens - before[1],
                    },
                )
                record = score(question, answer, time.perf_counter() - started, variant)
                with open(path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(
                    f"{variant} fixed {question['id']}: {record['seconds']}s {record['prompt_tokens']}+{record['completion_tokens']} tok "
                    f"F1 {record['f1']:.2f} short {record['short_f1']:.2f} {record['short']!r}",
                    flush=True,
                )
    finally:
        client.close()
        cache.close()
        source.close()


def summary(records: list[dict]) -> dict:
    def mean(key):
        return round(float(np.mean([r[key] for r in records])), 3)

    with_gold = [r for r in records if r["gold_in_passages"]]
    flags: dict[str, int] = {}
    for r in records:
        for kind in dict.fromkeys(flag_kind(flag) for flag in r["flags"]):  # answers with at least one flag of the kind
            flags[kind] = flags.get(kind, 0) + 1
    return {
        "questions": len(records),
        "em": mean("em"),
        "f1": mean("f1"),
        "short_em": mean("short_em"),
        "short_f1": mean("short_f1"),
        "recall@5": mean("recall@5"),
        "gold_in_passages": mean("gold_in_passages"),
        "answered_by_llm": sum(r["method"].startswith("llm:") for r in records),
        "answers_with_citations": sum(r["citations"] > 0 for r in records),
        "cited_passage_holds_gold_when_retrieved": round(
            sum(r["cited_holds_gold"] for r in with_gold) / max(len(with_gold), 1), 3
        ),
        "flags": flags,
        "seconds_mean": mean("seconds"),
        "seconds_p50": float(np.median([r["seconds"] for r in records])),
        "prompt_tokens_mean": mean("prompt_tokens"),
        "completion_tokens_mean": mean("completion_tokens"),
        "load_average_range": [min(r["load_average"] for r in records), max(r["load_average"] for r in records)],
    }


def clue_weights(out: Path, model: str, records: list[dict]) -> dict:
    """Recall@5 of memorag's fusion at each weight, from the stored LLM clues; chosen on the first half."""
    from rag.engine import QueryEngine
    from rag.evaluate import recall_at
    from rag.memorag import Clues, retrieve_with_clues

    memorag = [
        r
        for r in records
        if r["mode"] == "memorag" and r["variant"] == "plain" and not r["method"].startswith("memory:")
    ]
    if not memorag:
        return {}
    gold = {
        json.loads(line)["id"]: json.loads(line)["supporting_ids"]
        for line in (MUSIQUE / "questions.jsonl").read_text().splitlines()
    }
    engine = QueryEngine(llm_settings(copy_musique(out), model, PORT))
    chunk_doc = dict(engine.con.execute("SELECT chunk_id, doc_id FROM chunks").fetchall())
    retriever = engine.retriever("memorag")
    recalls = {w: [] for w in WEIGHTS}
    for r in memorag:
        clues = Clues([r["question"], *r["clues"]])
        for w in WEIGHTS:
            hits = retrieve_with_clues(retriever, clues, 5, clue_weight=w)
            recalls[w].append(recall_at([chunk_doc[h.chunk_id] for h in hits], gold[r["id"]], 5))
    engine.close()
    half = len(memorag) // 2
    tune = {w: float(np.mean(v[:half])) for w, v in recalls.items()}
    best = max(WEIGHTS, key=lambda w: (round(tune[w], 6), -w))
    return {
        "questions": len(memorag),
        "tune_half": half,
        "recall@5_tune_half": tune,
        "recall@5_test_half": {w: float(np.mean(v[half:])) for w, v in recalls.items()},
        "chosen": best,
        "with_llm_clues": sum(bool(r["clues"]) for r in memorag),
    }


def report(out: Path, model: str) -> dict:
    from rag.evaluate import exact_match, token_f1

    records = load_records(out / f"answers-{model}.jsonl")
    for r in records:  # the short answer as short_answer() cuts it now
        r["short"] = short_answer(r["answer"])
        r["gold_in_passages"] = holds_in_passages(out, r["passages"], r["gold"])
        if "cited" in r:
            r["cited_holds_gold"] = holds_in_passages(out, r["cited"], r["gold"])
        r["short_em"], r["short_f1"] = exact_match(r["short"], r["gold"]), token_f1(r["short"], r["gold"])
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(f"{r['variant']}/{r['mode']}", []).append(r)
    figures = {
        "model": model,
        "runs": {name: summary(rs) for name, rs in sorted(groups.items())},
        "clue_weight": clue_weights(out, model, records),
    }
    log = out / f"server-{model}.log"
    if log.exists():
        figures["server"] = server_speeds(log)
    write_json(out / f"answers-{model}.json", figures)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / ".fieldmap" / "llm-path")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--modes", default="hipporag,memorag")
    parser.add_argument(
        "--variant",
        action="append",
        default=None,
        help="name:setting=value[;setting=value] (repeatable); default: plain:answer_structure=false and structured:answer_structure=true",
    )
    parser.add_argument("--report", action="store_true", help="only summarise what is stored")
    parser.add_argument(
        "--fixed-context",
        action="store_true",
        help="the LLM as reader on gold + block-distractor passages (no index needed)",
    )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if args.fixed_context:
        fixed_context_answers(out, args.model, args.port, args.n)
    elif not args.report:
        variants = args.variant or ["plain:answer_structure=false", "structured:answer_structure=true"]
        answer_all(out, args.model, args.port, args.n, args.modes.split(","), variants)
    report(out, args.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
