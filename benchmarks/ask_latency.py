"""`ask`'s wall time offline on a built workspace, each reader in turn (neural, hybrid, rules): p50/p95 over questions
made from the workspace's document titles (benchmarks/reader_latency.py's templates), after one warm-up question.

    PYTHONPATH=. .venv/bin/python benchmarks/ask_latency.py --workspace COPY_OF_DEMO_WS [-n 40]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reader_latency import questions_of  # noqa: E402

from fieldmap.settings import Settings  # noqa: E402
from rag.engine import QueryEngine  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("-n", type=int, default=40)
    args = ap.parse_args(argv)
    for reader in ("neural", "hybrid", "rules"):
        engine = QueryEngine(Settings.load(workspace=Path(args.workspace)).model_copy(update={"reader": reader}))
        questions = questions_of(engine, args.n)
        engine.ask(questions[0])
        times = []
        for question in questions:
            started = time.perf_counter()
            engine.ask(question)
            times.append((time.perf_counter() - started) * 1000)
        print(
            f"{reader}: {len(questions)} questions, p50 {np.percentile(times, 50):.0f} ms, p95 {np.percentile(times, 95):.0f} ms"
        )
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
