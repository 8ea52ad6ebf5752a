"""Wall time and peak memory of `fieldmap run` on the demo corpus, per asset; then the time to add
10 new documents (or the records of --add) to the built workspace, and a re-run with nothing new.

    .venv/bin/python benchmarks/pipeline_run.py [--corpus examples/astro-ph-1000.jsonl] [--json benchmarks/out/pipeline-run.json]
        [--add MORE.jsonl] [--keep DIR]

For long runs (the 100,000-passage scale run, issue 15) --keep DIR keeps the workspace (for
benchmarks/query_latency.py afterwards), Dagster's event log (DIR/dagster) and the RSS samples
(DIR/rss.tsv, a line a second), and each step's progress is printed as it goes; if the run is
stopped, `--steps-of DIR` prints the per-step seconds and peak RSS of what finished.
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

from fieldmap.progress import silent
from fieldmap.settings import Settings
from pipelines.run import asset_metadata, materialization_metadata, run_pipeline

NEW_DOCUMENTS = Path(__file__).parents[1] / "tests" / "fixtures" / "arxiv-10-new.jsonl"


class MemorySampler:
    """RSS of this process and its children (spaCy's workers) every 100 ms, with timestamps; the
    largest of each second also appended to `log` when given. The children are listed once a second:
    listing them scans /proc, and at every sample it took ~9% of the pipeline thread's time (py-spy,
    the triplets step of the 100k run) through the GIL."""

    def __init__(self, log: Path | None = None) -> None:
        self.samples: list[tuple[float, int]] = []
        self.log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        second, largest, children = int(time.time()), 0, process.children(recursive=True)
        while not self._stop.is_set():
            rss = process.memory_info().rss
            for child in children:
                try:
                    rss += child.memory_info().rss
                except psutil.Error:
                    pass
            now = time.time()
            self.samples.append((now, rss))
            if int(now) != second:
                if self.log is not None:
                    with self.log.open("a") as handle:
                        handle.write(f"{second}\t{largest}\n")
                second, largest, children = int(now), 0, process.children(recursive=True)
            largest = max(largest, rss)
            time.sleep(0.1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float, end: float) -> int:
        return max((rss for t, rss in self.samples if start <= t <= end), default=0)


def step_times(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict]:
    """Each step's start and end timestamps from the run's event log."""
    steps: dict[str, dict] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        step = steps.setdefault(event.step_key, {})
        if event.event_type_value == "STEP_START":
            step["start"] = record.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            step["end"] = record.timestamp
    return dict(sorted(steps.items(), key=lambda item: item[1].get("start", 0)))


def printed_progress(step: str, done: int, total: int, _last: dict[str, float] = {}) -> None:
    """A line per step at most every 30 s, for runs that take hours."""
    now = time.time()
    if done >= total or now - _last.get(step, 0) >= 30:
        _last[step] = now
        print(f"{time.strftime('%H:%M:%S')} {step} {done}/{total}", flush=True)


def timed_run(settings: Settings, keep: Path | None = None) -> dict:
    if keep is None:
        instance = dg.DagsterInstance.ephemeral()
    else:
        (keep / "dagster").mkdir(parents=True, exist_ok=True)
        instance = dg.DagsterInstance.local_temp(tempdir=str(keep / "dagster"))
    started = time.time()
    with MemorySampler(keep / "rss.tsv" if keep else None) as memory:
        result = run_pipeline(settings, instance=instance, progress=printed_progress if keep else silent)
    ended = time.time()
    assert result.success, "the pipeline failed"
    per_step = {
        key: {
            "seconds": round(s["end"] - s["start"], 2),
            "peak_rss_mb": round(memory.peak(s["start"], s["end"]) / 2**20),
        }
        for key, s in step_times(instance, result.run_id).items()
        if "start" in s and "end" in s
    }
    return {
        "wall_seconds": round(ended - started, 2),
        "peak_rss_mb": round(memory.peak(started, ended) / 2**20),
        "steps": per_step,
        "metadata": {
            k: {m: v for m, v in values.items() if isinstance(v, (int, float, str))}
            for k, values in asset_metadata(result).items()
        },
    }


def steps_of(keep: Path) -> None:
    """The finished steps of every run kept in `keep` (a stopped run included), with peak RSS."""
    instance = dg.DagsterInstance.local_temp(tempdir=str(keep / "dagster"))
    rss = [tuple(map(int, line.split("\t"))) for line in (keep / "rss.tsv").read_text().splitlines() if line]
    for run in reversed(instance.get_runs()):
        print(f"run {run.run_id[:8]} {run.status.value}")
        for key, s in step_times(instance, run.run_id).items():
            if "start" not in s:
                continue
            end = s.get("end", time.time())
            peak = max((r for t, r in rss if s["start"] - 1 <= t <= end), default=0)
            print(
                f"  {key:<16} {end - s['start']:>9.1f} s  {peak / 2**20:>7.0f} MB{'' if 'end' in s else '  (not finished)'}"
            )
        events = (r.dagster_event for r in instance.all_logs(run.run_id))
        for asset, values in materialization_metadata(
            e for e in events if e is not None and e.event_type_value == "ASSET_MATERIALIZATION"
        ).items():
            print(f"  {asset}: " + ", ".join(f"{k}={v}" for k, v in values.items() if isinstance(v, (int, float, str))))


def write_report(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="examples/astro-ph-1000.jsonl")
    parser.add_argument("--json", default="benchmarks/out/pipeline-run.json")
    parser.add_argument("--schema", default="science", help="science | general | a schema file")
    parser.add_argument("--add", type=Path, default=NEW_DOCUMENTS, help="records appended for the incremental run")
    parser.add_argument("--keep", type=Path, help="keep the workspace, event log and RSS samples here")
    parser.add_argument(
        "--steps-of", type=Path, help="print the finished steps of the runs kept in this directory, and stop"
    )
    args = parser.parse_args()
    if args.steps_of:
        return steps_of(args.steps_of)
    workspace = args.keep or Path(tempfile.mkdtemp(prefix="fieldmap-bench-"))
    workspace.mkdir(parents=True, exist_ok=True)
    corpus = workspace / "corpus.jsonl"
    shutil.copy(args.corpus, corpus)
    settings = Settings.load(
        workspace=workspace / "ws",
        config_file=workspace / "none.toml",
        env={},
        corpus=[str(corpus)],
        schema_name=args.schema,
    )
    report = {
        "command": "python benchmarks/pipeline_run.py "
        + f"--corpus {args.corpus} --schema {args.schema} --add {args.add}",
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30),
            "processor": platform.processor() or platform.machine(),
            "load_average_at_start": os.getloadavg(),
        },
        "full_run": timed_run(settings, args.keep),
    }
    write_report(Path(args.json), report)  # written after the full run too: a stopped incremental run keeps it
    with open(corpus, "a") as handle:
        handle.write(args.add.read_text())
    report["disk_mb_after_full_run"] = round(
        sum(f.stat().st_size for f in (workspace / "ws").rglob("*") if f.is_file()) / 2**20, 1
    )
    report["add_documents"] = timed_run(settings, args.keep)
    report["add_documents"]["share_of_full_run"] = round(
        report["add_documents"]["wall_seconds"] / report["full_run"]["wall_seconds"], 3
    )
    report["rerun_unchanged"] = timed_run(settings, args.keep)
    write_report(Path(args.json), report)
    for name in ("full_run", "add_documents", "rerun_unchanged"):
        run = report[name]
        print(f"\n{name}: {run['wall_seconds']} s wall, peak RSS {run['peak_rss_mb']} MB")
        for step, figures in run["steps"].items():
            print(f"  {step:<14} {figures['seconds']:>8} s  {figures['peak_rss_mb']:>6} MB")
    if not args.keep:
        shutil.rmtree(workspace)


if __name__ == "__main__":
    main()
