"""A Ray cluster of separate processes on this machine (ray.cluster_utils.Cluster: a head and worker nodes, each with
its own raylet and worker processes; not local mode), for the Ray engine's tests and benchmarks/ray_shards.py."""

from __future__ import annotations

import os
import socket
import time

import psutil

MiB = 2**20


def start_cluster(workers: int, attempts: int = 3):
    """A head with no CPUs (tasks run on the workers only) and `workers` worker nodes of one CPU each (their worker
    processes at nice 15 above the raylet's: Ray's worker_niceness).

    A raylet aborts when its dashboard agent (a Python process) has not written its ports within 15 s (not
    configurable in Ray 2.60); on 2 cores shared with other jobs the agent's imports can take longer, so a cluster
    that fails to start is stopped (every process it had started) and started again."""
    from ray.cluster_utils import Cluster

    for attempt in range(attempts):
        started = time.time()
        cluster = Cluster()
        try:
            cluster.add_node(
                num_cpus=0,
                include_dashboard=False,
                include_log_monitor=False,
                object_store_memory=80 * MiB,
                # a killed node is declared dead in about 3 s, not Ray's default 30
                _system_config={"health_check_period_ms": 1000, "health_check_failure_threshold": 3},
                **agent_ports(),
            )
            for _ in range(workers):
                add_worker(cluster)
            cluster.wait_for_nodes()
            return cluster
        except Exception:
            cluster.shutdown()
            kill_ray_processes(since=started)  # what the failed node had started already
            if attempt == attempts - 1:
                raise


def add_worker(cluster) -> None:
    cluster.add_node(num_cpus=1, object_store_memory=80 * MiB, include_log_monitor=False, **agent_ports())


def agent_ports() -> dict[str, int]:
    """Free ports for a node's agents: a raylet given its agents' ports waits for fewer port files."""
    found = {}
    for name in ("metrics_agent_port", "metrics_export_port", "runtime_env_agent_port", "dashboard_agent_listen_port"):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            found[name] = probe.getsockname()[1]
    return found


def stop_cluster(cluster, started: float) -> None:
    """Every node's processes ended: Cluster.shutdown leaves the agents a raylet started running on their own."""
    cluster.shutdown()
    kill_ray_processes(since=started)


def kill_ray_processes(since: float) -> None:
    """SIGKILL the processes of this checkout's Ray started since `since` (a time.time()) by this process: its
    descendants, and the agents left to init when their raylet ended."""
    import ray

    ray_dir = os.path.dirname(ray.__file__)
    ours = {p.pid for p in psutil.Process().children(recursive=True)}
    for process in psutil.process_iter(["pid", "ppid", "create_time", "cmdline"]):
        info = process.info
        mine = info["pid"] in ours or info["ppid"] == 1
        if mine and info["create_time"] >= since and any(ray_dir in part for part in info["cmdline"] or []):
            try:
                process.kill()
            except psutil.Error:  # ended meanwhile
                pass
