"""Materialise every asset in this process (what `fieldmap run` does)."""
from __future__ import annotations

import dagster as dg

from fieldmap.progress import Progress, silent
from fieldmap.settings import Settings
from pipelines.assets import ALL_ASSETS
from pipelines.resources import FieldmapResource


def run_pipeline(settings: Settings, progress: Progress = silent, tags: dict[str, str] | None = None, log_level: str = "WARNING") -> dg.ExecuteInProcessResult:
    resource = FieldmapResource(
        workspace=str(settings.workspace), corpus=list(settings.corpus), embedder=settings.embedder, schema_name=settings.schema_name
    )
    return dg.materialize(
        ALL_ASSETS,
        resources={"fieldmap": resource, "progress": progress}, tags=tags or {}, raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )


def asset_metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """Each materialised asset's metadata as plain values."""
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        found[materialization.asset_key.to_user_string()] = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    return found
