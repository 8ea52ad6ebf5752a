"""The hardware's limit for the two heavy stages on this machine (issue 15): spaCy words per second
(the full pipeline extraction uses, one process, and two worker processes) and the embedder's texts
per second at the batch size and text lengths the pipeline embeds (chunks, entity names).

    .venv/bin/python benchmarks/throughput.py [--corpus examples/astro-ph-1000.jsonl] [-n 400] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import time

from fieldmap.embedders import get_embedder
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
    return {"processes": processes, "texts": len(docs), "words": words, "seconds": round(seconds, 2), "words_per_s": round(words / seconds)}


def embed_rate(embedder, texts: list[str], label: str) -> dict:
    embedder.passages(texts[:8])  # warm
    started = time.perf_counter()
    embedder.passages(texts)
    seconds = time.perf_counter() - started
    return {"texts": label, "n": len(texts), "mean_words": round(sum(len(t.split()) for t in texts) / len(texts), 1),
            "seconds": round(seconds, 2), "texts_per_s": round(len(texts) / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="examples/astro-ph-1000.jsonl")
    parser.add_argument("-n", type=int, default=400)
    parser.add_argument("--json")
    args = parser.parse_args()
    texts = texts_of(args.corpus, args.n)
    report = {"cpu_count": os.cpu_count(), "load_start": os.getloadavg(), "spacy": [spacy_rate(texts, 1), spacy_rate(texts, 2)]}
    embedder = get_embedder(Settings())
    names = sorted({chunk.text.lower() for doc in english().pipe(texts[:200]) for chunk in doc.noun_chunks})
    report["embedder"] = {"name": embedder.name, "rates": [embed_rate(embedder, texts, "abstracts"), embed_rate(embedder, names, "entity names")]}
    report["load_end"] = os.getloadavg()
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1)


if __name__ == "__main__":
    main()
