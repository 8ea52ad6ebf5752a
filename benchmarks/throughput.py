"""The hardware's limit for the two heavy stages on this machine (issue 15): spaCy words per second
(the full pipeline extraction uses, one process, and two worker processes) and the embedder's texts
per second at the batch size and text lengths the pipeline embeds (chunks, entity names).

    .venv/bin/python benchmarks/throughput.py [--corpus examples/astro-ph-1000.jsonl] [-n 400] [--json OUT]
        [--embedders minilm,minilm@bfloat16,minilm-int8] [--windows 256,4096] [--rounds 2] [--triplets 2000]

Each embedder is timed on the texts given to it in windows (one `passages` call per window, as
VectorTable.sync does; the model sorts the texts of one call by length, so a longer window pads less);
embedders and windows alternate within each round, so a neighbour's load falls on all of them alike.
The vectors of every embedder after the first are compared with the first's (cosine per text).
`--triplets N` also times the triplets step (parse, extract, type, write) on the first N passages with
the first embedder, in a scratch workspace. OMP_WAIT_POLICY=ACTIVE in the environment gives the spinning threads
of before (importing fieldmap sets PASSIVE unless the environment says otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from fieldmap.embedders import LOCAL
from fieldmap.nlp import english
from fieldmap.settings import Settings


def texts_of(path: str, n: int) -> list[str]:
    found = []
    for line in open(path, encoding="utf-8"):
        record = json.loads(line)
        found.append(" ".join((record.get("summary") or record.get("text") or "").split()))
        if len(found) == n:
            break
    return found


def spacy_rate(texts: list[str], processes: int) -> dict:
    nlp = english()
    words = sum(len(t.split()) for t in texts)
    started = time.perf_counter()
    docs = list(nlp.pipe(texts, batch_size=32 if processes > 1 else 64, n_process=processes))
    seconds = time.perf_counter() - started
    return {
        "processes": processes,
        "texts": len(docs),
        "words": words,
        "seconds": round(seconds, 2),
        "words_per_s": round(words / seconds),
    }


def embed_rate(embedder, texts: list[str], label: str, window: int, spec: str = "") -> tuple[dict, np.ndarray]:
    """(the rate, the vectors) of embedding `texts` one window at a time."""
    embedder.passages(texts[:8])  # warm
    started = time.perf_counter()
    vectors = np.concatenate([embedder.passages(texts[i : i + window]) for i in range(0, len(texts), window)])
    seconds = time.perf_counter() - started
    return {
        "embedder": spec or embedder.name,
        "texts": label,
        "window": window,
        "n": len(texts),
        "seconds": round(seconds, 2),
        "mean_words": round(sum(len(t.split()) for t in texts) / len(texts), 1),
        "texts_per_s": round(len(texts) / seconds, 1),
        "load": round(os.getloadavg()[0], 2),
    }, vectors


def cosines(vectors: np.ndarray, reference: np.ndarray) -> dict:
    """How close one embedder's vectors are to the reference's, text by text (both L2-normalised)."""
    similarity = (vectors * reference).sum(axis=1)
    return {
        "mean": round(float(similarity.mean()), 4),
        "p1": round(float(np.percentile(similarity, 1)), 4),
        "min": round(float(similarity.min()), 4),
    }


def embedder_rates(kinds: dict[str, list[str]], names: list[str], windows: list[int], rounds: int) -> dict:
    """Every embedder on every kind of text at every window, alternated, `rounds` times; then cosines to the first.
    A name is an embedder, or embedder@precision (minilm@bfloat16; without one, float32)."""
    embedders = {
        spec: LOCAL[spec.split("@")[0]](
            batch_size=Settings().embed_batch_size, precision=(spec.split("@") + ["float32"])[1]
        )
        for spec in names
    }
    rates, vectors = [], {}
    for _ in range(rounds):
        for label, texts in kinds.items():
            for window in windows:
                for spec, embedder in embedders.items():
                    rate, vectors[spec, label] = embed_rate(embedder, texts, label, window, spec)
                    rates.append(rate)
                    print(json.dumps(rate), flush=True)
    similarity = {
        f"{spec} vs {names[0]}: {label}": cosines(vectors[spec, label], vectors[names[0], label])
        for spec in names[1:]
        for label in kinds
    }
    return {"rates": rates, "cosine": similarity}


def triplet_rates(corpus: str, n: int, embedder_names: list[str]) -> list[dict]:
    """The triplets step on the first `n` passages of `corpus`, once per embedder, each on a fresh copy of one chunked workspace."""
    from corpus.steps import ingest
    from fieldmap.store import connect
    from pipelines.stages import chunk_step, triplet_step

    scratch = Path(tempfile.mkdtemp(prefix="throughput-"))
    try:
        sample = scratch / "corpus.jsonl"
        with open(corpus, encoding="utf-8") as source, open(sample, "w", encoding="utf-8") as out:
            out.writelines(line for _, line in zip(range(n), source))
        base = Settings(workspace=scratch / "base", corpus=[str(sample)], schema_name="general")
        con = connect(base.duckdb_path)
        ingest(con, base.corpus_paths)
        chunk_step(con, base)
        con.close()
        found = []
        for name in embedder_names:
            settings = base.model_copy(update={"workspace": scratch / name, "embedder": name})
            shutil.copytree(base.workspace, settings.workspace)
            con = connect(settings.duckdb_path)
            load, started = os.getloadavg()[0], time.perf_counter()
            metadata, _ = triplet_step(con, settings)
            found.append(
                {
                    "embedder": name,
                    "passages": n,
                    "seconds": round(time.perf_counter() - started, 1),
                    "mentions": metadata["mentions_added"],
                    "triplets": metadata["triplets_added"],
                    "load": [round(load, 2), round(os.getloadavg()[0], 2)],
                }
            )
            con.close()
            print(json.dumps(found[-1]), flush=True)
        return found
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="examples/astro-ph-1000.jsonl")
    parser.add_argument("-n", type=int, default=400)
    parser.add_argument("--json")
    parser.add_argument(
        "--embedders", default="minilm", help="comma-separated local embedders; the first is the reference for cosines"
    )
    parser.add_argument("--windows", default="256", help="texts per passages() call, comma-separated")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-spacy", action="store_true", help="skip the spaCy rates")
    parser.add_argument(
        "--triplets",
        type=int,
        default=0,
        help="also time the triplets step on this many passages (with the first embedder)",
    )
    args = parser.parse_args()
    texts = texts_of(args.corpus, args.n)
    names = sorted({chunk.text.lower() for doc in english().pipe(texts[:200]) for chunk in doc.noun_chunks})
    report = {"cpu_count": os.cpu_count(), "load_start": os.getloadavg(), "corpus": args.corpus}
    if not args.no_spacy:
        report["spacy"] = [spacy_rate(texts, 1), spacy_rate(texts, 2)]
    embedders = args.embedders.split(",")
    report["embedder"] = embedder_rates(
        {"passages": texts, "entity names": names}, embedders, [int(w) for w in args.windows.split(",")], args.rounds
    )
    if args.triplets:
        report["triplets"] = triplet_rates(args.corpus, args.triplets, embedders[:1])
    report["load_end"] = os.getloadavg()
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1)


if __name__ == "__main__":
    main()
