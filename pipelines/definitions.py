"""Dagster definitions: `dagster dev -m pipelines.definitions` opens them in the UI."""
from __future__ import annotations

import dagster as dg

from pipelines.assets import ALL_ASSETS
from pipelines.resources import FieldmapResource, LogProgress

pipeline_job = dg.define_asset_job("fieldmap_pipeline", selection=dg.AssetSelection.all(), description="Every asset, in order.")

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[pipeline_job],
    resources={"fieldmap": FieldmapResource(), "progress": LogProgress()},
)
