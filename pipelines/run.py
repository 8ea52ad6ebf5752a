"""Materialise every asset in this process (what `fieldmap run` does)."""

from __future__ import annotations

import dagster as dg

from fieldmap.dbfile import DAMAGE_SIGNS
from fieldmap.progress import Progress, silent
from fieldmap.settings import Settings
from fieldmap.store import connect, workspace_lock
from pipelines.automation import CORPUS_VERSION_TAG, corpus_version
from pipelines.checks import ALL_CHECKS
from pipelines.indexed_with import record_indexing
from pipelines.resources import FieldmapResource
from pipelines.sharded import assets_for, is_partitioned, run_sharded


def run_pipeline(
    settings: Settings,
    progress: Progress = silent,
    tags: dict[str, str] | None = None,
    log_level: str = "WARNING",
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Every asset and check on `settings` (the whole object reaches each asset; the API key only in
    this process). A second run on the workspace, a database another process writes, or a damaged
    database file stops here with one line (WorkspaceBusy, DatabaseDamaged) before Dagster starts."""
    resource = FieldmapResource.from_settings(settings)
    with workspace_lock(settings.workspace):
        connect(settings.duckdb_path).close()  # checks the file and that no other process writes it
        resources, run_tags = (
            {"fieldmap": resource, "progress": progress},
            {CORPUS_VERSION_TAG: corpus_version(settings.corpus_paths), **(tags or {})},
        )
        run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
        if is_partitioned(settings):  # documents, the shards, then the merge and the rest (pipelines/sharded.py)
            result = run_sharded(
                settings,
                assets_for(settings),
                ALL_CHECKS,
                resources,
                tags=run_tags,
                run_config=run_config,
                instance=instance,
            )
        else:
            result = dg.materialize(
                [*assets_for(settings), *ALL_CHECKS],
                resources=resources,
                tags=run_tags,
                raise_on_error=False,
                run_config=run_config,
                instance=instance,
            )
        if result.success:
            record_indexing(settings)
        return result


def asset_metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """Each materialised asset's metadata as plain values."""
    return materialization_metadata(result.get_asset_materialization_events())


def materialization_metadata(events) -> dict[str, dict]:
    """Asset key -> its metadata as plain values, from ASSET_MATERIALIZATION Dagster events (a result's, or a run's
    event log read back from an instance)."""
    found = {}
    for event in events:
        materialization = event.event_specific_data.materialization
        found[materialization.asset_key.to_user_string()] = {
            k: getattr(v, "value", v) for k, v in materialization.metadata.items()
        }
    return found


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    """Each asset check's name and whether it passed."""
    found = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            found[evaluation.check_name] = evaluation.passed
    return found


def failure_lines(result: dg.ExecuteInProcessResult, damaged_way_out: str = "") -> list[str]:
    """One sentence per failed step: the step and the error its code raised (the traceback stays in Dagster's log);
    a blocking check that failed says why in its own words (its `reason`), not in Dagster's."""
    lines = []
    reasons = [
        e.event_specific_data.metadata["reason"].value
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and not e.event_specific_data.passed
        and getattr(e.event_specific_data.metadata.get("reason"), "value", "")
    ]
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            if error.cls_name == "DagsterAssetCheckFailedError" and reasons:
                lines += reasons
                continue
            while error.cause is not None and error.cls_name.startswith(
                "Dagster"
            ):  # Dagster's wrapper around the asset's error
                error = error.cause
            message = " ".join(error.message.split())
            if any(
                sign.lower() in message.lower() for sign in DAMAGE_SIGNS
            ):  # a block DuckDB could not read: the file is damaged
                message = f"the database is damaged ({message}); {damaged_way_out}"
            lines.append(f"step {event.step_key} failed: {message}")
    return lines
