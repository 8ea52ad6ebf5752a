"""The shard step on a real Ray cluster on this machine (a head and two worker nodes, each its own raylet and
worker processes; not local mode): the rows of the single-process run, phases ordered inside one run that the
Dagster schedule starts, a re-run that adds nothing, and a worker node SIGKILLed mid-pass.

Both sides embed in float32: in bfloat16 (embed_precision auto on a CPU with AVX512-BF16) a name's vector depends
on the other names of its batch by about 1e-3, and which names a process has embedded before (the memoising
embedder) sets the batches; so typing scores of separate processes agree to about 1e-3 there, not 1e-6."""

import os
import shutil
import signal
import threading
import time
from datetime import datetime, timezone

import dagster as dg
import psutil
import pytest

from app.cli import main
from pipelines.definitions import definitions_for
from pipelines.run import asset_metadata, check_results, run_pipeline
from pipelines.sharded import summed_metadata
from pipelines.shards import shard_path
from tests.conftest import FIXTURES, make_settings
from tests.pipelines.test_sharded import assert_same_rows, rows
from tests.ray_cluster import add_worker, start_cluster, stop_cluster

SHARDS = 3


@pytest.fixture(scope="module")
def cluster():
    """A head and two worker nodes of one CPU each (tests/ray_cluster.py)."""
    started = time.time()
    cluster = start_cluster(workers=2)
    yield cluster
    stop_cluster(cluster, started)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The 20-document fixture run in this process, unpartitioned: the rows a Ray pass must give."""
    corpus = tmp_path_factory.mktemp("corpus") / "arxiv-20.jsonl"
    shutil.copy(FIXTURES / "arxiv-20.jsonl", corpus)
    settings = make_settings(tmp_path_factory.mktemp("single"), corpus, embed_precision="float32")
    assert run_pipeline(settings).success
    return settings


def ray_settings(workspace, single, cluster):
    return make_settings(
        workspace,
        *single.corpus,
        shards=SHARDS,
        engine="ray",
        ray_address=cluster.address,
        embed_precision="float32",
    )


@pytest.mark.slow
def test_the_schedule_starts_one_run_that_orders_documents_shards_merge_and_the_rest(tmp_path, cluster, single):
    settings = ray_settings(tmp_path / "ws", single, cluster)
    defs = definitions_for(settings)
    job, schedule = defs.resolve_job_def("fieldmap_pipeline"), defs.resolve_schedule_def("daily_refresh")
    # an ephemeral instance: instance_for_test's temporary directory outlived its block in Dagster's current defs-state
    # storage (a context variable), and every later run in this process failed to open its deleted runs.db
    with dg.DagsterInstance.ephemeral() as instance:
        results = []
        for _ in range(2):  # two ticks of the daily schedule, each run as the daemon would launch it
            context = dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime.now(timezone.utc))
            request = schedule.evaluate_tick(context).run_requests[0]
            results.append(job.execute_in_process(instance=instance, tags=request.tags, raise_on_error=False))
            assert results[-1].success and all(check_results(results[-1]).values())
            if len(results) == 1:
                first = rows(settings)
    order = [e.asset_key.to_user_string() for e in results[0].get_asset_materialization_events()]
    assert order[0] == "documents" and set(order[1:4]) == {"shard_chunks", "shard_structures", "shard_triplets"}
    assert set(order[4:7]) == {"chunks", "structures", "triplets"} and "dashboard" in order[7:]
    assert_same_rows(first, rows(single))
    assert all(shard_path(settings.shard_directory, k).exists() for k in range(SHARDS))
    assert not list(settings.shard_directory.glob("*.partial*"))
    again = asset_metadata(results[1])
    assert rows(settings) == first  # the second tick adds nothing
    assert again["shard_chunks"]["documents_chunked"] == 0 and again["shard_triplets"]["chunks_extracted"] == 0
    assert {again["chunks"][f"replaced_{g}"] for g in ("chunks", "structures", "extractions")} == {0}


@pytest.mark.slow
def test_a_worker_node_killed_mid_pass_and_the_pass_still_gives_the_same_rows(tmp_path, cluster, single):
    settings = ray_settings(tmp_path / "ws", single, cluster)
    outcome = {}
    run = threading.Thread(target=lambda: outcome.setdefault("result", run_pipeline(settings)))
    run.start()
    deadline = time.monotonic() + 120
    while len(list(settings.shard_directory.glob("*.partial"))) < 2:  # both worker nodes are filling a shard
        assert time.monotonic() < deadline and run.is_alive(), "the shard tasks never started"
        time.sleep(0.2)
    partials = list(settings.shard_directory.glob("*.partial"))
    victim = cluster.worker_nodes.copy().pop()
    raylet = psutil.Process(victim.all_processes["raylet"][0].process.pid)
    for process in [*raylet.children(recursive=True), raylet]:  # the node's workers, then its raylet
        os.kill(process.pid, signal.SIGKILL)
    cluster.remove_node(victim, allow_graceful=False)
    run.join(timeout=240)
    assert not run.is_alive(), "the pass did not finish after a node died"
    add_worker(cluster)  # back to two workers for what follows
    result = outcome["result"]
    assert result.success and all(check_results(result).values())
    assert_same_rows(rows(settings), rows(single))
    assert not any(p.exists() for p in partials)  # the dead task's partial file was removed, never merged


def test_an_address_that_is_not_one_is_one_line(tmp_path, capsys):
    code = main(["run", "--workspace", str(tmp_path / "ws"), "--engine", "ray", "--address", "head node"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "ray_address='head node' from the caller" in err


def test_with_ray_the_pipeline_job_holds_the_shard_step_and_the_local_engine_keeps_its_partitions(tmp_path):
    ray = definitions_for(make_settings(tmp_path / "ray", shards=SHARDS, engine="ray"))
    local = definitions_for(make_settings(tmp_path / "local", shards=SHARDS))
    in_ray = {
        k.to_user_string()
        for k in ray.resolve_job_def("fieldmap_pipeline").asset_layer.asset_graph.get_all_asset_keys()
    }
    assert {"documents", "shard_chunks", "chunks", "dashboard"} <= in_ray
    assert ray.resolve_assets_def("shard_chunks").partitions_def is None
    assert [j.name for j in ray.resolve_all_job_defs() if j.name == "fieldmap_shards"] == []
    assert local.resolve_assets_def("shard_chunks").partitions_def is not None
    in_local = local.resolve_job_def("fieldmap_pipeline").asset_layer.executable_asset_keys
    assert "shard_chunks" not in {k.to_user_string() for k in in_local}


def test_summed_metadata_adds_counts_and_keeps_the_rest():
    parts = [{"chunks": 2, "seconds": 0.5, "fingerprint": "a"}, {"chunks": 3, "seconds": 1.0, "fingerprint": "a"}]
    assert summed_metadata(parts) == {"chunks": 5, "seconds": 1.5, "fingerprint": "a"}
