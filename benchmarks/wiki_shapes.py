"""The question shapes of 2WikiMultihopQA, asked over its passages: answers by shape, the readers side by side.

The shared 2Wiki sample has its passages but no questions, so this script writes questions of the shapes our
held-out sets ask, with their answers, from the passages themselves (regular expressions over the films' first
sentences and their directors' passages; fixed seed), then indexes those passages and 1,000 others and asks:

- nested hop: "When was the director of film X born?" (the director's passage gives the date);
- comparison of dates: "Which film came out first, X or Y?";
- same country: "Are the directors of films X and Y from the same country?" (each passage's "is a British film
  director": yes or no);
- single hop: "Who directed the film X?".

    PYTHONPATH=. .venv/bin/python benchmarks/wiki_shapes.py --workspace WS [--passages ../shared/data/2wiki/passages.jsonl]
        [--per-shape 20] [--json OUT] [--answers OUT.jsonl]

Readers: neural (the default: the span model on every hop, the answer type filtering its spans), hybrid (the span
model, but where the rules type a hop's answer the rules' choice: `reader = "hybrid"`), rules. Nothing was tuned on these questions: they measure whether
a choice made on MuSiQue carries to another set."""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fieldmap.settings import Settings  # noqa: E402
from rag.engine import QueryEngine  # noqa: E402
from rag.evaluate import exact_match, token_f1, without_citations  # noqa: E402
from rag.neural_reader import NeuralReader  # noqa: E402
from rag.reader import Reader  # noqa: E402

FILM = re.compile(r"^[^.]{0,120}? is an? (?P<year>1[89]\d{2}|20\d{2}) (?P<kind>[^.]*?)\bfilm\b")
DIRECTOR = re.compile(r"directed by (?P<name>[A-Z][\w.'\-]+(?: [A-Z][\w.'\-]+){0,3})")
BORN = re.compile(r"\((?:born )?(?P<date>\d{1,2} [A-Z][a-z]+ \d{4}|[A-Z][a-z]+ \d{1,2}, \d{4})")
NATIONALITY = re.compile(r"\b(?:is|was) an? (?P<nat>[A-Z][a-z]+)(?:-born [A-Z][a-z]+)? (?:[a-z]+ ){0,3}director\b")


def film_name(title: str) -> str:
    return re.sub(r"\s*\([^)]*\)\s*$", "", title).strip()


def questions_from(passages: list[dict], per_shape: int, seed: int = 7) -> list[dict]:
    by_title = {p["title"]: p for p in passages}
    films = []
    for p in passages:
        film, director = FILM.search(p["text"]), DIRECTOR.search(p["text"])
        if film and director and director.group("name") in by_title and film_name(p["title"]) == p["title"]:
            person = by_title[director.group("name")]
            born, nationality = BORN.search(person["text"]), NATIONALITY.search(person["text"])
            films.append(
                {
                    "film": p,
                    "year": int(film.group("year")),
                    "director": person,
                    "born": born.group("date") if born else None,
                    "nationality": nationality.group("nat") if nationality else None,
                }
            )
    rng = random.Random(seed)
    rng.shuffle(films)
    out = []

    def add(shape, question, answers, *used):
        out.append({"shape": shape, "question": question, "answers": answers, "passages": [u["id"] for u in used]})

    for f in [f for f in films if f["born"]][:per_shape]:
        add(
            "nested hop",
            f"When was the director of film {f['film']['title']} born?",
            [f["born"]],
            f["film"],
            f["director"],
        )
    for f in films[:per_shape]:
        add("single hop", f"Who directed the film {f['film']['title']}?", [f["director"]["title"]], f["film"])
    dated = films[per_shape:]
    pairs = [(a, b) for a, b in zip(dated[::2], dated[1::2]) if a["year"] != b["year"]][:per_shape]
    for a, b in pairs:
        first = a if a["year"] < b["year"] else b
        x, y = a["film"]["title"], b["film"]["title"]
        add(
            "comparison of dates",
            f"Which film came out first, {x} or {y}?",
            [first["film"]["title"]],
            a["film"],
            b["film"],
        )
    known = [f for f in films if f["nationality"] and f["director"]["title"] != ""]
    same = [(a, b) for a in known for b in known if a is not b and a["nationality"] == b["nationality"]]
    differ = [(a, b) for a in known for b in known if a is not b and a["nationality"] != b["nationality"]]
    rng.shuffle(same)
    rng.shuffle(differ)
    for (a, b), answer in [
        *zip(same[: per_shape // 2], ["yes"] * per_shape),
        *zip(differ[: per_shape // 2], ["no"] * per_shape),
    ]:
        if a["director"]["id"] == b["director"]["id"]:
            continue
        question = f"Are the directors of films {a['film']['title']} and {b['film']['title']} from the same country?"
        add("same country", question, [answer], a["film"], b["film"], a["director"], b["director"])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--passages", default="../shared/data/2wiki/passages.jsonl")
    ap.add_argument("--per-shape", type=int, default=20)
    ap.add_argument("--others", type=int, default=1000, help="passages besides the questions' own")
    ap.add_argument("--json")
    ap.add_argument("--answers")
    args = ap.parse_args(argv)
    from fieldmap.progress import silent
    from pipelines.run import run_pipeline

    passages = [json.loads(line) for line in open(args.passages, encoding="utf-8")]
    questions = questions_from(passages, args.per_shape)
    used = {pid for q in questions for pid in q["passages"]}
    rest = [p for p in passages if p["id"] not in used]
    random.Random(11).shuffle(rest)
    chosen = sorted(used) + [p["id"] for p in rest[: args.others]]
    workspace = Path(args.workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    corpus = workspace / "wiki-shapes.jsonl"
    by_id = {p["id"]: p for p in passages}
    corpus.write_text("".join(json.dumps(by_id[i]) + "\n" for i in chosen), encoding="utf-8")
    settings = Settings.load(workspace=workspace, corpus=[str(corpus)], schema_name="general")
    started = time.time()
    assert run_pipeline(settings, silent).success
    print(f"{len(chosen)} passages indexed in {time.time() - started:.0f} s; {len(questions)} questions", flush=True)
    engine = QueryEngine(settings.model_copy(update={"reader_confidence_min": 0.0}))
    neural = engine.reader
    if not isinstance(neural, NeuralReader):
        raise SystemExit("the span model file is absent: run `make reader-model`")
    rules = Reader(engine.nlp, engine.embedder, stored=neural.stored)
    hybrid = NeuralReader(engine.nlp, neural.span_reader, engine.embedder, stored=neural.stored, typed_by_rules=True)
    rows = []
    for n, q in enumerate(questions, 1):
        answer = engine.ask(q["question"], mode="hipporag", k=5)
        retrieved = answer.passages[: answer.retrieved or len(answer.passages)]
        engine._reader = rules
        ruled = engine.read(q["question"], retrieved, "hipporag")
        engine._reader = hybrid
        spanned = engine.read(q["question"], retrieved, "hipporag")
        engine._reader = neural
        row = {"shape": q["shape"], "question": q["question"], "gold": q["answers"]}
        texts = (
            ("neural", without_citations(answer.answer)),
            ("rules", without_citations(ruled.text)),
            ("hybrid", without_citations(spanned.text)),
        )
        for name, text in texts:
            row[name] = text
            row[f"{name}_em"], row[f"{name}_f1"] = exact_match(text, q["answers"]), token_f1(text, q["answers"])
        rows.append(row)
        if n % 20 == 0:
            print(f"{n}/{len(questions)}", flush=True)
    engine.close()
    report = {}
    for shape in sorted({r["shape"] for r in rows}) + ["all"]:
        chosen_rows = [r for r in rows if shape in ("all", r["shape"])]
        report[shape] = {"questions": len(chosen_rows)} | {
            f"{name}_{metric}": round(float(np.mean([r[f"{name}_{metric}"] for r in chosen_rows])), 3)
            for name in ("neural", "hybrid", "rules")
            for metric in ("em", "f1")
        }
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.answers:
        Path(args.answers).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
