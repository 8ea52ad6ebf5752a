"""Dagster definitions: `dagster dev -m pipelines.definitions` opens them in the UI."""

from __future__ import annotations

import dagster as dg

from fieldmap.settings import Settings
from pipelines.automation import build_automation
from pipelines.checks import ALL_CHECKS
from pipelines.resources import FieldmapResource, LogProgress
from pipelines.sharded import assets_for, is_partitioned

# Every asset and check opens the workspace's one DuckDB file for writing, and DuckDB admits one writer process at a
# time: with Dagster's default of one process per CPU, `structures` and `triplets` start together and one fails with
# "Could not set lock on file". So steps run one at a time (docs/deployment.md). The job's run config may pick
# `in_process` instead (faster: the models load once); the UI's ad-hoc materialisations get the fixed executor below.
ONE_STEP_AT_A_TIME = {"multiprocess": {"max_concurrent": 1}}
WRITES_TAG = "fieldmap/writes"  # which DuckDB file a run writes: the workspace's, or a shard's


def definitions_for(settings: Settings) -> dg.Definitions:
    """The assets, checks, jobs, schedule and sensor of these settings.

    With the local engine and settings.shards > 1 (pipelines/sharded.py) the shards are a partitioned asset, which a
    run of `fieldmap_pipeline` never includes (one run holds one partition): `fieldmap_shards` is backfilled over every
    shard between `documents` and the merge (what `fieldmap run` does in three phases; docs/deployment.md). With
    engine = "ray" the shard asset is one step that runs every shard on the cluster, so `fieldmap_pipeline`, the job
    the schedule and the sensor start, orders documents, shards, merge and the rest in one run."""
    partitioned = is_partitioned(settings)
    pipeline_job = dg.define_asset_job(
        "fieldmap_pipeline",
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("shards")
        if partitioned
        else dg.AssetSelection.all(),
        description="Every unpartitioned asset: documents, the merge of the shards and what follows."
        if partitioned
        else "Every asset, in order.",
        executor_def=dg.multi_or_in_process_executor,
        config={"execution": {"config": ONE_STEP_AT_A_TIME}},
        tags={WRITES_TAG: "workspace"},
    )
    # each shard writes its own file, so a backfill's runs (one per shard) may run side by side; a run queue can keep
    # the workspace's writers to one at a time by the tag (deploy/dagster-k8s-values.yaml; docs/deployment.md)
    shards_job = dg.define_asset_job(
        "fieldmap_shards",
        selection=dg.AssetSelection.groups("shards"),
        tags={WRITES_TAG: "shard"},
        description="Chunks, structures and triplets of one corpus shard, in the shard's own DuckDB file.",
    )
    daily_refresh, inbox_sensor = build_automation(pipeline_job, settings)
    return dg.Definitions(
        assets=assets_for(settings),
        asset_checks=ALL_CHECKS,
        jobs=[pipeline_job, shards_job] if partitioned else [pipeline_job],
        schedules=[daily_refresh],
        sensors=[inbox_sensor],
        resources={"fieldmap": FieldmapResource.from_settings(settings), "progress": LogProgress()},
        executor=dg.multi_or_in_process_executor.configured(ONE_STEP_AT_A_TIME),
    )


# this module is the entry point of `dagster dev` and of each step process it starts: settings are read here, once
SETTINGS = Settings.load()
defs = definitions_for(SETTINGS)
