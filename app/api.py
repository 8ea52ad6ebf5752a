"""The Python API for notebooks and scripts: open a workspace, build it, ask it questions.

import fieldmap
ws = fieldmap.open(".fieldmap")
answer = ws.ask("What do X-ray observations reveal about galaxy clusters?")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fieldmap.settings import Settings, require_config_file
from rag.modes import DEFAULT_MODE


@dataclass
class EntityGraph:
    """The entities of an answer's cited passages and the relations among them."""

    nodes: list[dict]  # {"entity_id", "name", "type", "mentions"}
    edges: list[dict]  # {"source", "target", "predicate", "count"}


class Workspace:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._engine = None

    @property
    def built(self) -> bool:
        return self.settings.duckdb_path.exists() and self.settings.graph_path.exists()

    def build(self, corpus: list[str] | None = None, progress=None) -> dict:
        """Run every asset (incrementally) on the corpus; returns each asset's metadata."""
        from fieldmap.progress import silent
        from pipelines.run import asset_metadata, failure_lines, run_pipeline

        self.close()
        settings = self.settings.model_copy(update={"corpus": corpus}) if corpus else self.settings
        result = run_pipeline(settings, progress or silent)  # these settings, overrides included, reach every asset
        if not result.success:
            raise RuntimeError(f"the pipeline failed on {settings.corpus}: " + "; ".join(failure_lines(result)))
        return asset_metadata(result)

    @property
    def engine(self):
        if self._engine is None:
            from rag.engine import QueryEngine

            self._engine = QueryEngine(self.settings)
        return self._engine

    def ask(self, question: str, mode: str = DEFAULT_MODE, k: int | None = None):
        return self.engine.ask(question, mode=mode, k=k)

    def status(self) -> dict[str, int]:
        from fieldmap.store import counts

        return counts(self.engine.con)

    def entity_graph(self, answer, limit: int = 30) -> EntityGraph:
        chunk_ids = [c.chunk_id for c in answer.citations] or [p.chunk_id for p in answer.passages]
        con = self.engine.con
        nodes = con.execute(
            """SELECT e.entity_id, e.name, e.type, count(*) AS n FROM mentions m JOIN entities e USING (entity_id)
               WHERE m.chunk_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL ORDER BY n DESC, e.name LIMIT ?""",
            [chunk_ids, limit],
        ).fetchall()
        ids = [n[0] for n in nodes]
        edges = con.execute(
            """SELECT subject_id, object_id, mode(predicate), count(*) FROM triplets
               WHERE subject_id IN (SELECT unnest(?::VARCHAR[])) AND object_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1, 2""",
            [ids, ids],
        ).fetchall()
        return EntityGraph(
            [{"entity_id": i, "name": name, "type": t, "mentions": n} for i, name, t, n in nodes],
            [{"source": a, "target": b, "predicate": p, "count": c} for a, b, p, c in edges],
        )

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def open_workspace(
    workspace: str | Path | None = None, config_file: str | Path | None = None, **overrides
) -> Workspace:
    require_config_file(config_file)
    return Workspace(Settings.load(workspace=workspace, config_file=config_file, **overrides))


def ask(question: str, workspace: str | Path | None = None, mode: str | None = None, k: int | None = None):
    """`mode`: None for the default (rag.modes.DEFAULT_MODE)."""
    ws = open_workspace(workspace)
    try:
        return ws.ask(question, mode=mode or DEFAULT_MODE, k=k)
    finally:
        ws.close()
