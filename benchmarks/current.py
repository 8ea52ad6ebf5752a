"""BENCHMARKS.md's "Current" table, regenerated: each benchmark that takes under 30 minutes is run (`--run`), its
report kept under benchmarks/out/current/ with the date, commit, CPU and command, and `--write` puts its rows into
the table (a row is found by its first cell; the rows no benchmark here makes, such as the 100,000-passage run, stay).

    PYTHONPATH=. .venv/bin/python benchmarks/current.py --run all --write     # what `make bench` does
    PYTHONPATH=. .venv/bin/python benchmarks/current.py --run musique,answers --write
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out" / "current"
MUSIQUE = REPO.parent / "shared" / "data" / "musique"
ANNOTATIONS = REPO.parent / "shared" / "data" / "kg-for-science" / "annotations.jsonl"
PY = "PYTHONPATH=. .venv/bin/python"

# name -> the command (run from the repository root; {out} is OUT); in this order, as answers and serve read the
# workspaces that musique and demo build
BENCHES = {
    "musique": f"{PY} benchmarks/retrieval_sweep.py --workspace {{out}}/ws-musique --corpus {MUSIQUE}/corpus.jsonl "
    f"--questions {MUSIQUE}/questions.jsonl --grid defaults --hybrid --json {{out}}/musique.json",
    "answers": f"{PY} -m app.cli eval qa --workspace {{out}}/ws-musique --schema general --corpus {MUSIQUE}/corpus.jsonl "
    f"--questions {MUSIQUE}/questions.jsonl --mode hipporag,memorag --json {{out}}/answers.json",
    "extraction": f"{PY} -m app.cli eval extraction --workspace {{out}}/ws-extraction --annotations {ANNOTATIONS} "
    "--mode offline --schema science --json {out}/extraction.json",
    "demo": f"{PY} benchmarks/pipeline_run.py --keep {{out}}/demo --json {{out}}/demo.json",
    "serve": f"{PY} benchmarks/serve_latency.py --workspace {{out}}/demo/ws --concurrency 2 --clients 1,8 -n 48 "
    "--json {out}/serve.json",
}
FRESH = {"musique": ["ws-musique"], "extraction": ["ws-extraction"], "demo": ["demo"]}  # measured from empty


def run(name: str, reuse: bool = False) -> None:
    for folder in [] if reuse else FRESH.get(name, []):
        shutil.rmtree(OUT / folder, ignore_errors=True)
    command = BENCHES[name].format(out=OUT)
    started = time.time()
    subprocess.run(command, shell=True, cwd=REPO, check=True)
    meta = {
        "date": datetime.date.today().isoformat(),
        "commit": _commit(),
        "cpu": _cpu(),
        "seconds": round(time.time() - started),
        "command": BENCHES[name].format(out="benchmarks/out/current").replace(str(REPO.parent), ".."),
    }
    (OUT / f"{name}.meta.json").write_text(json.dumps(meta, indent=1))


def rows() -> dict[str, str]:
    """First cell -> the whole row, for every benchmark with a report."""
    found: dict[str, str] = {}

    def add(figure: str, value: str, name: str) -> None:
        meta = json.loads((OUT / f"{name}.meta.json").read_text())
        found[figure] = (
            f"| {figure} | {value} | {meta['date']} | {meta['commit']} | {meta['cpu']} | `{meta['command']}` |"
        )

    if (OUT / "musique.meta.json").exists():
        report = json.loads((OUT / "musique.json").read_text())
        for method, row in (
            ("bm25", "bm25"),
            ("dense", "dense"),
            ("hybrid", "hybrid"),
            ("hipporag", "hipporag (settings)"),
        ):
            values = report["rows"][row]["all"]
            add(f"MuSiQue Recall@2 / @5, {method}", f"{values['recall@2']:.3f} / {values['recall@5']:.3f}", "musique")
        hipporag = report["rows"]["hipporag (settings)"]["all"]
        add(
            "MuSiQue retrieve p50 / p95, hipporag", f"{hipporag['p50_ms']:.0f} / {hipporag['p95_ms']:.0f} ms", "musique"
        )
        if report.get("index_seconds"):
            add("MuSiQue index time (1,890 passages, from empty)", f"{report['index_seconds']:.0f} s", "musique")
    if (OUT / "answers.meta.json").exists():
        for report in json.loads((OUT / "answers.json").read_text())["modes"]:
            mode = report["mode"]
            add(
                f"MuSiQue answers EM / F1, {mode} (offline reader)",
                f"{report['reader_em']:.2f} / {report['reader_f1']:.3f}",
                "answers",
            )
            add(f"MuSiQue ask p50 / p95, {mode}", f"{report['p50_ms']:.0f} / {report['p95_ms']:.0f} ms", "answers")
    if (OUT / "extraction.meta.json").exists():
        micro = json.loads((OUT / "extraction.json").read_text())["micro"]
        add(
            "Extraction F1 exact / lenient (kg-for-science, offline)",
            f"{micro['exact']['f1']:.3f} / {micro['lenient']['f1']:.3f}",
            "extraction",
        )
    if (OUT / "demo.meta.json").exists():
        report = json.loads((OUT / "demo.json").read_text())
        add(
            "Demo run, 1,000 abstracts (whole pipeline, in process)",
            f"{report['full_run']['wall_seconds']:.0f} s, peak RSS {report['full_run']['peak_rss_mb']:,} MB",
            "demo",
        )
        add("Demo +10 abstracts (incremental run)", f"{report['add_documents']['wall_seconds']:.1f} s", "demo")
    if (OUT / "serve.meta.json").exists():
        for row in json.loads((OUT / "serve.json").read_text()):
            add(
                f"serve /ask p50, throughput, {row['clients']} client{'s' * (row['clients'] > 1)} (--concurrency 2)",
                f"{row['p50_ms']:,.0f} ms, {row['throughput_rps']:.2f} asks/s",
                "serve",
            )
    return found


def write(path: Path) -> list[str]:
    """Replace the table rows whose first cell a report makes; returns the figures written."""
    made, lines, written = rows(), path.read_text(encoding="utf-8").splitlines(), []
    for index, line in enumerate(lines):
        figure = line.split("|")[1].strip() if line.startswith("| ") else None
        if figure in made:
            lines[index] = made[figure]
            written.append(figure)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written


def _commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()


def _cpu() -> str:
    lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name")), "unknown")
    return f"{model}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default="", help=f"all, or some of {', '.join(BENCHES)} (comma-separated)")
    parser.add_argument("--write", action="store_true", help="put the rows into BENCHMARKS.md's Current table")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the workspaces already built (the index time is then the old one)"
    )
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in BENCHES if args.run == "all" else [n for n in args.run.split(",") if n]:
        run(name, args.reuse)
    if args.write:
        print("rows written:", *write(REPO / "BENCHMARKS.md"), sep="\n  ")
    else:
        print(*rows().values(), sep="\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
