"""Dagster resources: the workspace settings and the DuckDB writer, plus progress reporting."""

from contextlib import contextmanager
from typing import Iterator

import dagster as dg
import duckdb

from fieldmap.settings import Settings
from fieldmap.store import writer


class FieldmapResource(dg.ConfigurableResource):
    """Where the workspace is and what to read; empty values fall back to FIELDMAP_* and fieldmap.toml."""

    workspace: str = ""
    corpus: list[str] = []
    embedder: str = ""
    schema_name: str = ""

    def settings(self) -> Settings:
        return Settings.load(
            workspace=self.workspace or None,
            corpus=self.corpus or None,
            embedder=self.embedder or None,
            schema_name=self.schema_name or None,
        )

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The one connection an asset or check uses (DuckDB allows one writer process); closed when
        done, after publishing the snapshot that readers open."""
        with writer(self.settings().duckdb_path) as con:
            yield con



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
