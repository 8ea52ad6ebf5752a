"""Synonym edges by approximate nearest neighbours (LanceDB index) against the exact brute force.

    nice -n 10 .venv/bin/python benchmarks/synonym_ann.py --sizes 25000 50000 100000 --json OUT.json

Entity names are real: spaCy (en_core_web_sm, the extractor's model) noun chunks and named entities
of every text in ../shared/data (2Wiki passages, the MuSiQue corpus, the arXiv abstracts, titles
included), normalised with kg.normalize.normalize_name as the extractor does, plus, for names of two
or more words, their trailing sub-phrases ("adalbert ii of tuscany" -> "ii of tuscany", "tuscany"),
which are names the extractor also yields from other sentences. Deduplicated, sorted, then shuffled
with a fixed seed; a size-N sample is the first N of that order. They are embedded with the default
embedder (minilm, fieldmap.embedders.get_embedder(Settings())). Names and vectors are cached in
--cache so reruns skip spaCy and the embedder.

For each size: brute force (kg.synonyms.nearest_pairs, the exact path) and each ANN index type
(kg.synonym_ann over a LanceDB table), all entities new (the first, full scan), at the production
top_k (Settings().synonym_top_k) and threshold (calibrated as update_synonyms does). Reported:
pair recall of ANN vs brute force, whether every found pair's similarity equals brute force's,
index build seconds, query seconds, brute-force seconds, peak RSS of the process so far.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fieldmap.settings import Settings  # noqa: E402
from kg.normalize import entity_id, normalize_name  # noqa: E402
from kg.synonym_ann import INDEX_TYPES, AnnParams, LanceNeighbours, ann_pairs, vector_table  # noqa: E402
from kg.synonyms import calibrate_threshold, nearest_pairs  # noqa: E402

SEED = 0


def _texts(data: Path) -> list[str]:
    texts = []
    for path in [data / "2wiki/passages.jsonl", data / "musique/corpus.jsonl"]:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            texts += [row["title"], row["text"]]
    for line in (data / "arxiv/astro-ph-1000.jsonl").read_text().splitlines():
        row = json.loads(line)
        texts += [row["title"], row["summary"]]
    return texts


def entity_names(data: Path, cache: Path) -> list[str]:
    """The shuffled, deduplicated names (see the module docstring); cached in cache/names.txt."""
    path = cache / "names.txt"
    if path.exists():
        return path.read_text().split("\n")
    from fieldmap.nlp import english

    nlp = english()
    found: set[str] = set()
    for doc in nlp.pipe(_texts(data), batch_size=256):
        for span in list(doc.noun_chunks) + list(doc.ents):
            name = normalize_name(span.text, span.root.lemma_)
            words = name.split(" ")
            if not name or len(words) > 8:
                continue
            for start in range(len(words)):
                sub = " ".join(words[start:]).strip()
                if len(sub) > 1 and any(c.isalpha() for c in sub):
                    found.add(sub)
    names = sorted(found)
    order = np.random.default_rng(SEED).permutation(len(names))
    names = [names[i] for i in order]
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(names))
    return names


def embedded(names: list[str], cache: Path) -> np.ndarray:
    """minilm vectors of the names, cached in cache/vectors-minilm.npy."""
    path = cache / "vectors-minilm.npy"
    if path.exists():
        vectors = np.load(path)
        if len(vectors) == len(names):
            return vectors
    from fieldmap.embedders import get_embedder

    embedder = get_embedder(Settings.load(env={}, config_file=cache / "none.toml"))
    vectors = np.vstack([embedder.passages(names[i : i + 4096]) for i in range(0, len(names), 4096)]).astype(np.float32)
    np.save(path, vectors)
    return vectors


class PeakRss:
    """Peak resident memory of this process during a block, sampled every 20 ms (psutil)."""

    def __enter__(self):
        import psutil

        self._process, self._stop, self.peak_mb = psutil.Process(), threading.Event(), 0.0
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._process.memory_info().rss / 2**20)
            self._stop.wait(0.02)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = round(max(self.peak_mb, self._process.memory_info().rss / 2**20))


def machine() -> dict:
    import threadpoolctl

    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    model = " ".join(f"{key} {fields.get(key, '').strip()}" for key in ("Model name", "CPU family", "Model"))
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "blas": [(i["internal_api"], i.get("architecture"), i["num_threads"]) for i in threadpoolctl.threadpool_info()],
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }


def compare(truth: list[tuple[str, str, float]], found: list[tuple[str, str, float]]) -> dict:
    exact, approx = {(a, b): s for a, b, s in truth}, {(a, b): s for a, b, s in found}
    common = exact.keys() & approx.keys()
    return {
        "pairs_exact": len(exact),
        "pairs_ann": len(approx),
        "recall": round(len(common) / max(1, len(exact)), 4),
        "precision": round(len(common) / max(1, len(approx)), 4),
        "similarities_equal": all(exact[p] == approx[p] for p in common),
    }


def measure(
    size: int,
    names: list[str],
    vectors: np.ndarray,
    kinds: list[str],
    brute: bool,
    top_k: int,
    lance_dir: str,
    result: dict,
    save,
) -> None:
    """Fill result: the first index type, then the brute force, then the other types (each saved when done)."""
    ids, vectors = [entity_id(name) for name in names[:size]], vectors[:size]
    threshold = calibrate_threshold(vectors)
    result.update(
        {
            "entities": size,
            "threshold": threshold,
            "top_k": top_k,
            "load_average_start": [round(x, 2) for x in os.getloadavg()],
        }
    )
    truth = None
    for position, kind in enumerate(kinds):
        with PeakRss() as memory:
            started = time.perf_counter()
            table = vector_table(lance_dir, f"entities_{size}_{kind}", ids, vectors)
            written = time.perf_counter()
            neighbours = LanceNeighbours(table, ids, AnnParams(index_type=kind))
            neighbours.build_index()
            built = time.perf_counter()
            found = ann_pairs(ids, vectors, ids, vectors, threshold, top_k, neighbours)
            done = time.perf_counter()
        result[kind] = {
            "table_write_seconds": round(written - started, 2),
            "index_build_seconds": round(built - written, 2),
            "query_seconds": round(done - built, 2),
            "total_seconds": round(done - started, 2),
            "peak_rss_mb": memory.peak_mb,
            "pairs": len(found),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        if position == 0 and brute:
            with PeakRss() as memory:
                started = time.perf_counter()
                truth = nearest_pairs(ids, vectors, ids, vectors, threshold, top_k)
                seconds = time.perf_counter() - started
            result["brute_force"] = {
                "seconds": round(seconds, 2),
                "peak_rss_mb": memory.peak_mb,
                "pairs": len(truth),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
            print(size, "brute force", result["brute_force"], flush=True)
        if truth is not None:
            result[kind].update(compare(truth, found))
        print(size, kind, result[kind], flush=True)
        save()
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]


def rebuild_agreement(size: int, names: list[str], vectors: np.ndarray, kind: str, top_k: int, lance_dir: str) -> dict:
    """Two index builds over the same vectors: do they give the same rows?"""
    ids, vectors = [entity_id(name) for name in names[:size]], vectors[:size]
    threshold = calibrate_threshold(vectors)
    runs = []
    for attempt in range(2):
        neighbours = LanceNeighbours(
            vector_table(lance_dir, f"again_{size}_{kind}_{attempt}", ids, vectors), ids, AnnParams(index_type=kind)
        )
        neighbours.build_index()
        runs.append(ann_pairs(ids, vectors, ids, vectors, threshold, top_k, neighbours))
    first, second = ({(a, b): s for a, b, s in run} for run in runs)
    return {
        "entities": size,
        "index_type": kind,
        "pairs_first": len(first),
        "pairs_second": len(second),
        "pairs_in_both": len(first.keys() & second.keys()),
        "identical_rows": first == second,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 50_000, 100_000])
    parser.add_argument("--index-types", nargs="+", default=list(INDEX_TYPES))
    parser.add_argument(
        "--no-brute-above", type=int, default=10**9, help="skip the brute force above this many entities"
    )
    parser.add_argument(
        "--rebuild-check", type=int, default=0, help="entities for the two-builds agreement check (0: skip)"
    )
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "fieldmap-synonym-ann")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    names = entity_names(args.data, args.cache)
    if max(args.sizes) > len(names):
        parser.error(f"only {len(names)} distinct names in {args.data}")
    names = names[: max(args.sizes)]
    vectors = embedded(names, args.cache)
    top_k = Settings.load(env={}, config_file=args.cache / "none.toml").synonym_top_k
    results: dict = {
        "command": " ".join(sys.argv),
        "machine": machine(),
        "names_available": len(entity_names(args.data, args.cache)),
        "sizes": [],
    }
    with tempfile.TemporaryDirectory() as lance_dir:

        def save() -> None:
            if args.json:
                args.json.write_text(json.dumps(results, indent=1))

        for size in args.sizes:
            results["sizes"].append({})
            measure(
                size,
                names,
                vectors,
                args.index_types,
                size <= args.no_brute_above,
                top_k,
                lance_dir,
                results["sizes"][-1],
                save,
            )
        if args.rebuild_check:
            results["rebuild_agreement"] = rebuild_agreement(
                args.rebuild_check, names, vectors, args.index_types[0], top_k, lance_dir
            )
            print(results["rebuild_agreement"], flush=True)
    results["machine_end"] = machine()
    results["peak_rss_mb_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
