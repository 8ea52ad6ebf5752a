"""Dagster definitions: `dagster dev -m pipelines.definitions` opens them in the UI."""
from __future__ import annotations

import dagster as dg

from fieldmap.settings import Settings
from pipelines.assets import ALL_ASSETS
from pipelines.automation import build_automation
from pipelines.checks import ALL_CHECKS
from pipelines.resources import FieldmapResource, LogProgress

pipeline_job = dg.define_asset_job("fieldmap_pipeline", selection=dg.AssetSelection.all(), description="Every asset, in order.")

daily_refresh, inbox_sensor = build_automation(pipeline_job, Settings.load())

defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[pipeline_job],
    schedules=[daily_refresh],
    sensors=[inbox_sensor],
    resources={"fieldmap": FieldmapResource(), "progress": LogProgress()},
)
