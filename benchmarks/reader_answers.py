"""The readers compared in one run on a QA set (issue 27): the neural span reader (the span model on every hop), the
hybrid (the rules' answer where the entity recogniser types a hop's answer) and the rule reader over the same
retrieval, neural and rules over the gold passages (the oracle), the answer-in-passages ceiling, by half and shape.

    python benchmarks/reader_answers.py --workspace W --corpus ../shared/data/musique/corpus.jsonl \
        --questions ../shared/data/musique/questions.jsonl [--mode hipporag] [--json OUT]

The workspace is built (or brought up to date) first, as `fieldmap eval qa` does. Answers are scored with
SQuAD's EM and token F1 after the [n] markers are removed. The neural reader's figures are its guesses (threshold 0);
"thresholds" shows what withholding the guesses below each confidence would leave (a withheld answer scores 0).
Shapes: yes/no, comparison (a choice between two), chain of 2, 3 or 4 hops (the id says how many), single hop."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fieldmap.settings import Settings  # noqa: E402
from rag.answer import Passage  # noqa: E402
from rag.answer_types import CHOICE, YES_NO, classify  # noqa: E402
from rag.engine import QueryEngine  # noqa: E402
from rag.evaluate import (  # noqa: E402
    answer_in_passages,
    exact_match,
    halves,
    load_questions,
    token_f1,
    without_citations,
)
from rag.neural_reader import NeuralReader  # noqa: E402
from rag.reader import Reader  # noqa: E402


def shape(question: dict) -> str:
    kind = classify(question["question"]).kind
    if kind == YES_NO:
        return "yes/no"
    if kind == CHOICE:
        return "comparison"
    hops = re.match(r"(\d)hop", str(question.get("id", "")))
    return f"chain of {hops.group(1)} hops" if hops and int(hops.group(1)) > 1 else "single hop"


def gold_passages(engine: QueryEngine, ids: list[str]) -> list[Passage]:
    rows = engine.con.execute(
        "SELECT c.chunk_id, c.doc_id, d.title, c.text FROM chunks c JOIN documents d USING (doc_id) "
        "WHERE d.doc_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY c.chunk_id",
        [ids],
    ).fetchall()
    return [Passage(doc_id, chunk_id, title, 1.0, text) for chunk_id, doc_id, title, text in rows]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--questions", required=True)
    ap.add_argument("--mode", default="hipporag")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--schema", default="general", help="as `fieldmap eval qa` and make bench index MuSiQue")
    ap.add_argument("--json")
    ap.add_argument("--answers", help="each question's answers, gold and scores here (JSON lines), to read the errors")
    args = ap.parse_args(argv)
    from fieldmap.progress import silent
    from pipelines.run import run_pipeline

    settings = Settings.load(workspace=Path(args.workspace), corpus=[args.corpus], schema_name=args.schema)
    assert run_pipeline(settings, silent).success
    threshold = settings.reader_confidence_min
    settings = settings.model_copy(
        update={"reader_confidence_min": 0.0}
    )  # every guess, withheld below thresholds afterwards
    questions = load_questions(Path(args.questions))[: args.limit or None]
    engine = QueryEngine(settings)
    neural = engine.reader
    if not isinstance(neural, NeuralReader):
        raise SystemExit("the span model file is absent: run `make reader-model`")
    rules = Reader(engine.nlp, engine.embedder, stored=neural.stored)
    hybrid = NeuralReader(engine.nlp, neural.span_reader, engine.embedder, stored=neural.stored, typed_by_rules=True)
    rows, ask_ms = [], []
    for n, q in enumerate(questions, 1):
        gold = q["answers"]
        started = time.perf_counter()
        answer = engine.ask(q["question"], mode=args.mode, k=args.k)
        ask_ms.append((time.perf_counter() - started) * 1000)
        retrieved = answer.passages[: answer.retrieved or len(answer.passages)]
        engine._reader = rules
        ruled = engine.read(q["question"], retrieved, args.mode)
        engine._reader = hybrid
        spanned = engine.read(q["question"], retrieved, args.mode)
        engine._reader = neural
        oracle = gold_passages(engine, q["supporting_ids"])
        headings = [p.title for p in oracle]
        texts = {
            "neural": answer.answer,
            "rules": ruled.text,
            "hybrid": spanned.text,
            "neural_oracle": neural.read(q["question"], oracle, headings).text,
            "rules_oracle": rules.read(q["question"], oracle, headings).text,
        }
        row = {
            "shape": shape(q),
            "ceiling": answer_in_passages(answer.passages, gold),
            "oracle_ceiling": answer_in_passages(oracle, gold),
            "confidence": answer.confidence if answer.confidence is not None else 1.0,
        }
        texts = {name: without_citations(text) for name, text in texts.items()}
        for name, text in texts.items():
            row[f"{name}_em"], row[f"{name}_f1"] = exact_match(text, gold), token_f1(text, gold)
        rows.append(row)
        if args.answers:
            with open(args.answers, "a" if n > 1 else "w", encoding="utf-8") as out:
                record = {"id": q.get("id"), "question": q["question"], "gold": gold, "chain": answer.chain}
                out.write(json.dumps(record | texts | row) + "\n")
        if n % 10 == 0:
            print(
                f"{n}/{len(questions)}  neural EM {np.mean([r['neural_em'] for r in rows]):.3f}  rules EM {np.mean([r['rules_em'] for r in rows]):.3f}",
                flush=True,
            )
    engine.close()
    keys = [k for k in rows[0] if k not in ("shape", "confidence")]

    def mean(indices) -> dict:
        chosen = [rows[i] for i in sorted(indices)]
        return (
            {"questions": len(chosen), **{k: round(float(np.mean([r[k] for r in chosen])), 4) for k in keys}}
            if chosen
            else {}
        )

    split = halves(questions)

    def at(threshold_: float, indices) -> dict:
        """The neural reader's EM/F1 when guesses below the threshold are withheld (scored 0), and the share answered."""
        chosen = [rows[i] for i in sorted(indices)]
        kept = [r["confidence"] >= threshold_ for r in chosen]
        return {
            "answered": round(float(np.mean(kept)), 3),
            "em": round(float(np.mean([r["neural_em"] * k for r, k in zip(chosen, kept)])), 4),
            "f1": round(float(np.mean([r["neural_f1"] * k for r, k in zip(chosen, kept)])), 4),
            "em_of_answered": round(float(np.mean([r["neural_em"] for r, k in zip(chosen, kept) if k] or [0.0])), 4),
        }

    thresholds = {
        f"{t:g}": {name: at(t, idx) for name, idx in {"all": range(len(rows)), **split}.items()}
        for t in (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    }
    shapes = sorted({r["shape"] for r in rows})
    report = {
        "mode": args.mode,
        "k": args.k,
        "all": mean(range(len(rows))),
        **{name: mean(idx) for name, idx in split.items()},
        "setting_threshold": threshold,
        "thresholds": thresholds,
        "shapes": {s: mean([i for i, r in enumerate(rows) if r["shape"] == s]) for s in shapes},
        "ask_p50_ms": round(float(np.percentile(ask_ms, 50)), 1),
        "ask_p95_ms": round(float(np.percentile(ask_ms, 95)), 1),
    }
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
