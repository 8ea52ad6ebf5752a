"""Dagster resources: the workspace settings and the DuckDB writer, plus progress reporting."""

from contextlib import contextmanager
from typing import Iterator

import dagster as dg
import duckdb
from pydantic import SecretStr

from fieldmap.llm_guard import Breakers
from fieldmap.settings import Settings
from fieldmap.store import writer


class Secrets:
    """The API key, held in this process only: a plain-object resource has no config, so Dagster
    never writes it into run config, job snapshots, metadata or logs."""

    def __init__(self, openai_api_key: SecretStr | None = None):
        self.openai_api_key = openai_api_key

    def __repr__(self) -> str:
        return f"Secrets(openai_api_key={'**********' if self.openai_api_key else None})"


class FieldmapResource(dg.ConfigurableResource):
    """The whole Settings of the entry point that started the run (`fieldmap run`, the API, the
    definitions `dagster dev` loads), serialised without the API key; assets never reread the environment."""

    settings_json: str
    secrets: dg.ResourceDependency[Secrets]
    # the run's LLM circuit breakers, shared by its steps (fieldmap/llm_guard.py): made with the resource, so each
    # run_pipeline starts with the endpoints online (a step process of `dagster dev` has its own)
    breakers: dg.ResourceDependency[Breakers]

    @classmethod
    def from_settings(cls, settings: Settings) -> "FieldmapResource":
        return cls(
            settings_json=settings.serialised(),
            secrets=Secrets(settings.openai_api_key),
            breakers=Breakers(settings.llm_breaker_failures),
        )

    def settings(self) -> Settings:
        return Settings.restore(self.settings_json, self.secrets.openai_api_key)

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The one connection an asset or check uses (DuckDB allows one writer process); closed when
        done, after publishing the snapshot that readers open."""
        with writer(self.settings().duckdb_path) as con:
            yield con


def for_context(progress, context):
    """The step's progress reporter, told which asset's log to write to (LogProgress; others as they are)."""
    if hasattr(progress, "context"):
        progress.context = context
    return progress


class LogProgress:
    """Progress to the Dagster log, at most every 10% of a step."""

    def __init__(self) -> None:
        self.context: dg.AssetExecutionContext | None = None
        self._last: dict[str, int] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        tenth = (10 * done) // max(total, 1)
        if self.context is not None and self._last.get(step) != tenth:
            self._last[step] = tenth
            self.context.log.info(f"{step}: {done}/{total}")
