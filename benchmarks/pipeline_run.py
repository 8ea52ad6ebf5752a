"""Wall time and peak memory of `fieldmap run` on the demo corpus, per asset; then the time to add
10 new documents to the built workspace.

    .venv/bin/python benchmarks/pipeline_run.py [--corpus examples/astro-ph-1000.jsonl] [--json benchmarks/out/pipeline-run.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

import dagster as dg
import psutil

from fieldmap.settings import Settings
from pipelines.run import asset_metadata, run_pipeline

NEW_DOCUMENTS = Path(__file__).parents[1] / "tests" / "fixtures" / "arxiv-10-new.jsonl"


class MemorySampler:
    """RSS of this process every 50 ms, with timestamps."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.samples.append((time.time(), process.memory_info().rss))
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float, end: float) -> int:
        return max((rss for t, rss in self.samples if start <= t <= end), default=0)


def timed_run(settings: Settings) -> dict:
    instance = dg.DagsterInstance.ephemeral()
    started = time.time()
    with MemorySampler() as memory:
        result = run_pipeline(settings, instance=instance)
    ended = time.time()
    assert result.success, "the pipeline failed"
    steps: dict[str, dict] = {}
    for record in instance.all_logs(result.run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        step = steps.setdefault(event.step_key, {})
        if event.event_type_value == "STEP_START":
            step["start"] = record.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            step["end"] = record.timestamp
    per_step = {
        key: {"seconds": round(s["end"] - s["start"], 2), "peak_rss_mb": round(memory.peak(s["start"], s["end"]) / 2**20)}
        for key, s in sorted(steps.items(), key=lambda item: item[1].get("start", 0)) if "start" in s and "end" in s
    }
    return {"wall_seconds": round(ended - started, 2), "peak_rss_mb": round(memory.peak(started, ended) / 2**20), "steps": per_step,
            "metadata": {k: {m: v for m, v in values.items() if isinstance(v, (int, float, str))} for k, values in asset_metadata(result).items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="examples/astro-ph-1000.jsonl")
    parser.add_argument("--json", default="benchmarks/out/pipeline-run.json")
    parser.add_argument("--schema", default="science", help="science | general | a schema file")
    args = parser.parse_args()
    workspace = Path(tempfile.mkdtemp(prefix="fieldmap-bench-"))
    corpus = workspace / "corpus.jsonl"
    shutil.copy(args.corpus, corpus)
    settings = Settings.load(workspace=workspace / "ws", config_file=workspace / "none.toml", env={}, corpus=[str(corpus)],
                             schema_name=args.schema)
    report = {
        "command": "python benchmarks/pipeline_run.py " + f"--corpus {args.corpus} --schema {args.schema}",
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30), "processor": platform.processor() or platform.machine(),
                    "load_average_at_start": os.getloadavg()},
        "full_run": timed_run(settings),
    }
    with open(corpus, "a") as handle:
        handle.write(NEW_DOCUMENTS.read_text())
    report["disk_mb_after_full_run"] = round(sum(f.stat().st_size for f in (workspace / "ws").rglob("*") if f.is_file()) / 2**20, 1)
    report["add_10_documents"] = timed_run(settings)
    report["add_10_documents"]["share_of_full_run"] = round(report["add_10_documents"]["wall_seconds"] / report["full_run"]["wall_seconds"], 3)
    report["rerun_unchanged"] = timed_run(settings)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    for name in ("full_run", "add_10_documents", "rerun_unchanged"):
        run = report[name]
        print(f"\n{name}: {run['wall_seconds']} s wall, peak RSS {run['peak_rss_mb']} MB")
        for step, figures in run["steps"].items():
            print(f"  {step:<14} {figures['seconds']:>8} s  {figures['peak_rss_mb']:>6} MB")
    shutil.rmtree(workspace)


if __name__ == "__main__":
    main()
