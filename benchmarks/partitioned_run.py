"""Wall time of the per-document steps (documents, chunks, structures, triplets) on a fresh workspace:
unpartitioned, then partitioned into --shards shards run one at a time and --processes at a time,
each merged into the workspace. Each variant runs in a fresh interpreter (model loads counted alike).

    PYTHONPATH=. .venv/bin/python benchmarks/partitioned_run.py [--corpus examples/astro-ph-1000.jsonl] [--docs 1000]
        [--shards 2] [--processes 2] [--spacy-processes 2] [--json benchmarks/out/partitioned-run.json] [--keep DIR]
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

from benchmarks.machine import cpu, uptime


def one(variant: str, corpus: str, workspace: Path, shards: int, processes: int, spacy_processes: int) -> dict:
    """One variant in this process: seconds per phase."""
    import dagster as dg

    from fieldmap.progress import silent
    from fieldmap.settings import Settings
    from pipelines.resources import FieldmapResource
    from pipelines.run import asset_metadata
    from pipelines.sharded import _run_shards, assets_for

    settings = Settings.load(
        workspace=workspace,
        config_file=workspace / "none.toml",
        env={},
        corpus=[corpus],
        shards=shards if variant != "unpartitioned" else 1,
        shard_processes=processes,
        spacy_processes=spacy_processes,
    )
    assets = assets_for(settings)
    common = {
        "resources": {"fieldmap": FieldmapResource.from_settings(settings), "progress": silent},
        "raise_on_error": True,
    }
    found: dict[str, float | dict] = {}
    started = time.perf_counter()
    if variant == "unpartitioned":
        for key in ("documents", "chunks", "structures", "triplets"):
            t = time.perf_counter()
            dg.materialize(assets, selection=[key], **common)
            found[key] = round(time.perf_counter() - t, 2)
    else:
        t = time.perf_counter()
        dg.materialize(assets, selection=["documents"], **common)
        found["documents"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        results = _run_shards(settings, assets, {**common, "tags": {}, "run_config": {}, "instance": None})
        assert all(r.success for r in results)
        found["shards"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        merged = dg.materialize(assets, selection=["chunks", "structures", "triplets"], **common)
        found["merge"] = round(time.perf_counter() - t, 2)
        found["merge_metadata"] = asset_metadata(merged)["triplets"]
    found["total"] = round(time.perf_counter() - started, 2)
    import duckdb

    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    found["rows"] = {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
        for t in ("documents", "chunks", "mentions", "entities", "triplets")
    }
    con.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="examples/astro-ph-1000.jsonl")
    parser.add_argument("--docs", type=int, default=0, help="the first N records only (0: all)")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--spacy-processes", type=int, default=2)
    parser.add_argument("--variants", default="unpartitioned,sharded-1,sharded-n")
    parser.add_argument("--json")
    parser.add_argument("--keep", help="build the workspaces under this folder and keep them (to compare their rows)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--workspace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        processes = 1 if args.one == "sharded-1" else args.processes
        print(
            json.dumps(one(args.one, args.corpus, Path(args.workspace), args.shards, processes, args.spacy_processes))
        )
        return
    report = {
        "cpu": cpu(),
        "uptime_before": uptime(),
        "corpus": args.corpus,
        "docs": args.docs,
        "shards": args.shards,
        "processes": args.processes,
        "spacy_processes": args.spacy_processes,
        "variants": {},
    }
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        corpus = args.corpus
        if args.docs:
            corpus = str(Path(tmp) / "corpus.jsonl")
            Path(corpus).write_text("".join(Path(args.corpus).read_text().splitlines(keepends=True)[: args.docs]))
        for variant in args.variants.split(","):
            command = [
                sys.executable,
                __file__,
                "--one",
                variant,
                "--workspace",
                str(Path(tmp) / variant),
                "--corpus",
                corpus,
                "--shards",
                str(args.shards),
                "--processes",
                str(args.processes),
                "--spacy-processes",
                str(args.spacy_processes),
            ]
            before = uptime()
            t = time.perf_counter()
            out = subprocess.run(command, capture_output=True, text=True, env=os.environ, check=True).stdout
            found = json.loads(out.strip().splitlines()[-1])
            found |= {
                "wall_with_interpreter": round(time.perf_counter() - t, 2),
                "uptime_before": before,
                "uptime_after": uptime(),
            }
            report["variants"][variant] = found
            print(variant, json.dumps(found), flush=True)
    report["uptime_after"] = uptime()
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
