"""The partitioned pipeline (settings.shards > 1): the per-document steps as a Dagster asset partitioned
by corpus shard, each partition writing its own DuckDB file, and one unpartitioned merge that
materialises `chunks`, `structures` and `triplets` in the workspace, so every asset after them is
the unpartitioned one, unchanged (pipelines/shards.py has the split and the merge).

Dagster runs one partition of an asset per run (a run's executor never fans one asset's partitions
out), so a run here is three phases: `documents`; one run per shard (`shard_processes` at once,
each in a process of its own); then the merge and everything after it, with the checks.

With settings.engine = "ray" the shard asset is not partitioned: one step runs every shard as a Ray task
(pipelines/ray_engine.py) and waits for them, so one run (`fieldmap run`, or a run the daemon's schedule or sensor
starts) orders documents, the shards, the merge and the rest itself."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import dagster as dg

from fieldmap.settings import Settings
from pipelines.assets import versioned_assets
from pipelines.resources import FieldmapResource, LogProgress, for_context
from pipelines.stages import merge_step, shard_step

SHARD_KEYS = ("shard_chunks", "shard_structures", "shard_triplets")
MERGED = {"chunks": "corpus", "structures": "corpus", "triplets": "kg"}


def is_sharded(settings: Settings) -> bool:
    """Whether chunks, structures and triplets are made per shard and merged (more than one shard, or Ray's engine)."""
    return settings.shards > 1 or settings.engine == "ray"


def is_partitioned(settings: Settings) -> bool:
    """Whether the shards are a partitioned asset, run as a run per shard (the local engine's shards)."""
    return settings.shards > 1 and settings.engine == "local"


def assets_for(settings: Settings) -> list[dg.AssetsDefinition]:
    """The assets of these settings: pipelines.assets.versioned_assets, with chunks, structures and triplets made per
    shard and merged when is_sharded."""
    found = versioned_assets(settings)
    return sharded_assets(settings, found) if is_sharded(settings) else found


def shard_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition([str(k) for k in range(settings.shards)])


def sharded_assets(settings: Settings, unpartitioned: list[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """`unpartitioned` (pipelines.assets' list) with chunks, structures and triplets made per shard and merged."""
    kept = [a for a in unpartitioned if not set(k.to_user_string() for k in a.keys) & set(MERGED)]
    versions = {
        key: next(a for a in unpartitioned if dg.AssetKey(key) in a.keys).code_versions_by_key[dg.AssetKey(key)]
        for key in MERGED
    }

    @dg.multi_asset(
        name="shard_rows",
        partitions_def=shard_partitions(settings) if is_partitioned(settings) else None,
        can_subset=False,
        specs=[
            dg.AssetSpec(
                key,
                deps=["documents"],
                group_name="shards",
                code_version=versions[key.removeprefix("shard_")],
                description=f"The shard's {key.removeprefix('shard_')} in <shard directory>/<shard>.duckdb (pipelines/shards.py).",
            )
            for key in SHARD_KEYS
        ],
    )
    def shard_rows(context: dg.AssetExecutionContext, fieldmap: FieldmapResource, progress: dg.ResourceParam[object]):
        settings = fieldmap.settings()
        if settings.engine == "ray":
            from pipelines.ray_engine import run_shards

            by_shard = run_shards(settings, for_context(progress, context))
        else:
            k = int(context.partition_key)
            by_shard = {k: shard_step(settings, k, for_context(progress, context), fieldmap.breakers)}
        for found in by_shard.values():
            if found["error"]:
                context.log.error(found["error"])
        for key in SHARD_KEYS:
            metadata = summed_metadata([found[key.removeprefix("shard_")] for found in by_shard.values()])
            if key == "shard_chunks":
                metadata |= {
                    f"split_{n}": v for n, v in summed_metadata([f["split"] for f in by_shard.values()]).items()
                }
            yield dg.MaterializeResult(asset_key=key, metadata=metadata)

    @dg.multi_asset(
        name="merge_shards",
        can_subset=False,
        specs=[
            dg.AssetSpec(
                key,
                deps=[f"shard_{key}"],
                group_name=group,
                code_version=versions[key],
                description=f"The shards' {key} merged into the workspace: changed documents replaced, equal ones left alone.",
            )
            for key, group in MERGED.items()
        ],
    )
    def merge_shards(fieldmap: FieldmapResource):
        with fieldmap.writer() as con:
            found = merge_step(con, fieldmap.settings())
            totals = {
                t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                for t in ("chunks", "structures", "triplets", "entities")
            }
        for key in MERGED:
            yield dg.MaterializeResult(
                asset_key=key, metadata={**found, f"{key}_total": totals[key], "entities_total": totals["entities"]}
            )

    return [kept[0], shard_rows, merge_shards, *kept[1:]]


def summed_metadata(parts: list[dict]) -> dict:
    """One step's metadata over shards: counts added, anything else (fingerprints, the schema) as the first has it."""
    found: dict = {}
    for part in parts:
        for name, value in part.items():
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            found[name] = found[name] + value if numeric and name in found else found.get(name, value)
    return found


class ShardedResult:
    """The phases' in-process results as one (what run_pipeline's callers read from a result)."""

    def __init__(self, results: list) -> None:
        self.results = results

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def all_events(self) -> list:
        return [e for r in self.results for e in r.all_events]

    def get_asset_materialization_events(self) -> list:
        return [e for r in self.results for e in r.get_asset_materialization_events()]


def run_sharded(
    settings: Settings,
    assets: list,
    checks: list,
    resources: dict,
    tags: dict | None = None,
    run_config: dict | None = None,
    instance: dg.DagsterInstance | None = None,
) -> ShardedResult:
    """`documents`; every shard (settings.shard_processes at once); then the merge and the rest with `checks`.
    Stops after the first phase that fails."""
    common = {
        "resources": resources,
        "tags": tags or {},
        "raise_on_error": False,
        "run_config": run_config or {},
        "instance": instance,
    }
    results = [dg.materialize(assets, selection=["documents"], **common)]
    if results[-1].success:
        results += _run_shards(settings, assets, common)
    if all(r.success for r in results):
        rest = dg.AssetSelection.all() - dg.AssetSelection.assets("documents", *SHARD_KEYS)
        results.append(dg.materialize([*assets, *checks], selection=rest, **common))
    return ShardedResult(results)


def _run_shards(settings: Settings, assets: list, common: dict) -> list:
    keys = [str(k) for k in range(settings.shards)]
    if settings.shard_processes <= 1:
        return [dg.materialize(assets, selection=list(SHARD_KEYS), partition_key=k, **common) for k in keys]
    ref = common["instance"].get_ref() if common["instance"] is not None else None
    spawn = multiprocessing.get_context(
        "spawn"
    )  # a fresh interpreter: no forked model threads, no inherited DuckDB handles
    with ProcessPoolExecutor(max_workers=settings.shard_processes, mp_context=spawn) as pool:
        outcomes = list(
            pool.map(
                _shard_in_process,
                [
                    (settings.serialised(), settings.openai_api_key, k, ref, common["tags"], common["run_config"])
                    for k in keys
                ],
            )
        )
    return [_Outcome(ok) for ok in outcomes]


def _shard_in_process(job: tuple) -> bool:
    """One shard's run in a worker process (with the parent's instance, so the UI lists it)."""
    settings_json, api_key, k, ref, tags, run_config = job
    settings = Settings.restore(settings_json, api_key)
    instance = dg.DagsterInstance.from_ref(ref) if ref is not None else None
    result = dg.materialize(
        assets_for(settings),
        selection=list(SHARD_KEYS),
        partition_key=k,
        raise_on_error=False,
        tags=tags,
        run_config=run_config,
        instance=instance,
        resources={"fieldmap": FieldmapResource.from_settings(settings), "progress": LogProgress()},
    )
    return result.success


class _Outcome:
    """A worker's shard run, seen from the parent: whether it succeeded (its events are in the instance)."""

    def __init__(self, success: bool) -> None:
        self.success = success
        self.all_events: list = []

    def get_asset_materialization_events(self) -> list:
        return []
