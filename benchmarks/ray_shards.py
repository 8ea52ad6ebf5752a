"""The shard step on a Ray cluster of this machine (tests/ray_cluster.py: a head and worker nodes of one CPU each,
separate processes): a corpus ingested once, its shards run as Ray tasks on each --nodes count (a fresh shard
directory each time, model loads counted), then the merge of the last pass's shard files into the workspace timed
on its own (rows it writes per second).

    PYTHONPATH=. .venv/bin/python benchmarks/ray_shards.py [--corpus examples/astro-ph-1000.jsonl] [--docs 1000]
        [--shards 4] [--nodes 1 2] [--json benchmarks/out/ray-shards.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import dagster as dg

from benchmarks.machine import cpu, uptime
from fieldmap.progress import silent
from fieldmap.settings import Settings
from fieldmap.store import connect, writer
from pipelines.ray_engine import run_shards
from pipelines.resources import FieldmapResource
from pipelines.sharded import assets_for
from pipelines.shards import GROUPS, shard_path
from pipelines.stages import merge_step
from tests.ray_cluster import start_cluster, stop_cluster


def shard_rows(settings: Settings) -> int:
    """Rows the shard files hold in the tables the merge writes."""
    total = 0
    for k in range(settings.shards):
        con = connect(shard_path(settings.shard_directory, k))
        total += sum(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for ts in GROUPS.values() for t in ts)
        con.close()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="examples/astro-ph-1000.jsonl")
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json")
    args = parser.parse_args()
    workspace = Path(tempfile.mkdtemp(prefix="ray-shards-"))
    corpus = workspace / "corpus.jsonl"
    with open(args.corpus, encoding="utf-8") as source:
        corpus.write_text("".join(itertools.islice(source, args.docs)), encoding="utf-8")
    settings = Settings.load(
        workspace=workspace / "ws",
        config_file=workspace / "none.toml",
        env={},
        corpus=[str(corpus)],
        shards=args.shards,
        engine="ray",
        spacy_processes=1,  # one CPU per worker node
    )
    resources = {"fieldmap": FieldmapResource.from_settings(settings), "progress": silent}
    dg.materialize(assets_for(settings), selection=["documents"], resources=resources)
    found: dict = {"cpu": cpu(), "docs": args.docs, "shards": args.shards, "passes": {}}
    for nodes in args.nodes:
        started = time.time()
        cluster = start_cluster(workers=nodes)
        try:
            settings = settings.model_copy(
                update={"ray_address": cluster.address, "shard_dir": workspace / f"shards-{nodes}"}
            )
            load = uptime()
            started = time.perf_counter()
            run_shards(settings)
            found["passes"][nodes] = {"seconds": round(time.perf_counter() - started, 1), "uptime_before": load}
            print(nodes, found["passes"][nodes], flush=True)
        finally:
            stop_cluster(cluster, started)
    rows = shard_rows(settings)
    with writer(settings.duckdb_path) as con:
        started = time.perf_counter()
        merged = merge_step(con, settings)
        seconds = time.perf_counter() - started
    found["merge"] = {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds), **merged}
    first, last = args.nodes[0], args.nodes[-1]
    found["speedup"] = round(found["passes"][first]["seconds"] / found["passes"][last]["seconds"], 2)
    print(json.dumps(found, indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(found, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
