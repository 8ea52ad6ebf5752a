"""`POST /ask` latency of `fieldmap serve`: p50/p95 at 1 and at 8 concurrent clients, for several --concurrency
values (engines in the pool: 1 is what one shared engine behind a lock would give), and the server's RSS.

    cp -r /work/cache/ws-demo /tmp/ws-demo-copy      # never benchmark on a workspace someone else uses
    .venv/bin/python benchmarks/serve_latency.py --workspace /tmp/ws-demo-copy [--concurrency 1,2,8] [--clients 1,8] [-n 48] [--endpoints ask,chat]

`chat` is POST /v1/chat/completions (the OpenAI-compatible endpoint, not streamed) with the same questions. Each row
also gives the server's CPU seconds per request (user + system time of its process over the measurement), and the
throughput that 2 cores would reach at that cost: 2 / cpu_s_per_request.

Questions are the demo's kind (arXiv astro-ph); the mode is the default one (memorag when the figures in BENCHMARKS.md were measured). Each client sends its share of
the n questions one after another; a request's latency is measured from send to full reply.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "What do X-ray observations reveal about galaxy clusters?",
    "Which instruments measure pulsar timing?",
    "How are gamma-ray bursts classified?",
    "What drives star formation in dwarf galaxies?",
    "How is dark matter detected in galaxy rotation curves?",
    "What do observations of the cosmic microwave background constrain?",
    "How are exoplanets detected by transits?",
    "What is known about the black hole at the centre of the Milky Way?",
    "Which telescopes observe supernova remnants?",
    "How do active galactic nuclei affect their host galaxies?",
    "What causes solar flares?",
    "How are neutron star masses measured?",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def start_server(workspace: str, concurrency: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDMAP_", "OPENAI_"))}
    env["PYTHONPATH"] = str(REPO)
    command = [
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--workspace",
        workspace,
        "--port",
        str(port),
        "--concurrency",
        str(concurrency),
    ]
    process = subprocess.Popen(command, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, cwd="/tmp")
    base = f"http://127.0.0.1:{port}"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=600).status_code == 200:  # opens the snapshot: the engines load here
                return process, base
        except httpx.TransportError:
            time.sleep(0.5)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def measure(base: str, clients: int, n: int, endpoint: str = "ask", model: str = "", pid: int | None = None) -> dict:
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(n)]

    def send(http: httpx.Client, question: str) -> httpx.Response:
        if endpoint == "chat":
            return http.post(
                "/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": question}]}
            )
        return http.post("/ask", json={"question": question})

    def client(share: list[str]) -> list[float]:
        latencies = []
        with httpx.Client(base_url=base, timeout=600) as http:
            for question in share:
                started = time.perf_counter()
                reply = send(http, question)
                reply.raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
        return latencies

    shares = [questions[i::clients] for i in range(clients)]
    load_before = _load()
    cpu_before = _cpu_seconds(pid) if pid else 0.0
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [ms for part in pool.map(client, shares) for ms in part]
    wall = time.perf_counter() - started
    cpu = (_cpu_seconds(pid) - cpu_before) / n if pid else float("nan")
    return {
        "endpoint": endpoint,
        "clients": clients,
        "requests": n,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p95_ms": float(np.percentile(latencies, 95)),
        "throughput_rps": n / wall,
        "cpu_s_per_request": cpu,
        "two_core_bound_rps": 2 / cpu if cpu else float("nan"),
        "load_before": load_before,
        "load_after": _load(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", required=True, help="a COPY of a built workspace")
    parser.add_argument("--concurrency", default="1,2,8", help="server --concurrency values to compare")
    parser.add_argument("--clients", default="1,8")
    parser.add_argument("-n", type=int, default=48, help="asks per measurement")
    parser.add_argument("--endpoints", default="ask", help="ask, chat (/v1/chat/completions) or both: ask,chat")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    results = []
    for concurrency in map(int, args.concurrency.split(",")):
        process, base = start_server(args.workspace, concurrency, Path(f"/tmp/serve-latency-{concurrency}.log"))
        try:
            with ThreadPoolExecutor(concurrency) as pool:  # warm: the first query of each engine builds its caches
                list(
                    pool.map(
                        lambda q: httpx.post(f"{base}/ask", json={"question": q}, timeout=600), QUESTIONS[:concurrency]
                    )
                )
            model = httpx.get(f"{base}/v1/models", timeout=60).json()["data"][0]["id"]
            for endpoint in args.endpoints.split(","):
                for clients in map(int, args.clients.split(",")):
                    row = {
                        "concurrency": concurrency,
                        **measure(base, clients, args.n, endpoint, model, process.pid),
                        "server_rss_mb": _rss_mb(process.pid),
                    }
                    results.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            process.terminate()
            process.wait(timeout=60)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
