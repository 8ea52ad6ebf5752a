"""What starts runs: a daily schedule and a sensor on an inbox folder. Runs are tagged with the
corpus version (a fingerprint of the corpus files' names, sizes and modification times)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg

from fieldmap.settings import Settings

CORPUS_VERSION_TAG = "fieldmap/corpus_version"
CORPUS_FILES = ("*.jsonl", "*.txt", "*.md", "*.markdown")


def corpus_version(paths: list[str | Path]) -> str:
    """Changes when any corpus file is added, removed or modified."""
    digest = hashlib.sha1()
    for path in map(Path, paths):
        files = sorted(f for pattern in CORPUS_FILES for f in path.rglob(pattern)) if path.is_dir() else [path]
        for file in files:
            if file.exists():
                stat = file.stat()
                digest.update(f"{file}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:12]


def build_automation(
    job: dg.UnresolvedAssetJobDefinition, settings: Settings
) -> tuple[dg.ScheduleDefinition, dg.SensorDefinition]:
    @dg.schedule(
        job=job,
        cron_schedule=settings.schedule_cron,
        name="daily_refresh",
        description="Re-run the pipeline on the configured corpus.",
    )
    def daily_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(tags={CORPUS_VERSION_TAG: corpus_version(settings.corpus_paths)})

    @dg.sensor(
        job=job,
        name="inbox_sensor",
        minimum_interval_seconds=30,
        description="Starts a run when files in the inbox folder (FIELDMAP_INBOX) are added, changed or removed.",
    )
    def inbox_sensor(context: dg.SensorEvaluationContext):
        if settings.inbox is None or not Path(settings.inbox).is_dir():
            return dg.SkipReason("no inbox folder configured (FIELDMAP_INBOX)")
        version = corpus_version([settings.inbox])
        if version == context.cursor:
            return dg.SkipReason(f"inbox unchanged (version {version})")
        context.update_cursor(version)
        return dg.RunRequest(run_key=version, tags={CORPUS_VERSION_TAG: version})

    return daily_refresh, inbox_sensor
