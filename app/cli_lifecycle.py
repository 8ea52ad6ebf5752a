"""`fieldmap delete`, `undelete` and `retry-failed`: a change to a built workspace, then a run that brings every store
in step."""

from __future__ import annotations

import argparse
import json
import os

from app.console import out
from app.console import settings_of as _settings
from fieldmap.settings import Settings


def workspace_corpus(settings: Settings) -> list[str] | None:
    """The corpus the workspace was last run on, if any."""
    from fieldmap.store import connect, get_meta

    if not settings.duckdb_path.exists():
        return None
    con = connect(settings.duckdb_path, read_only=True)
    try:
        stored = get_meta(con, "corpus")
    finally:
        con.close()
    return json.loads(stored) if stored else None


def stored_workspace(args: argparse.Namespace) -> Settings:
    """The settings of a built workspace, on the corpus it was last run on (for delete, undelete, retry-failed)."""
    settings = _settings(args)
    corpus = workspace_corpus(settings)
    if corpus is None:
        raise FileNotFoundError(f"no fieldmap workspace at {settings.workspace}: run `fieldmap run` first")
    return settings.model_copy(update={"corpus": corpus})


def rerun(settings: Settings):
    """Bring every store in step after delete/undelete/retry-failed, on the workspace's Dagster instance."""
    from pipelines.instance import workspace_instance
    from pipelines.run import run_pipeline

    with workspace_instance(settings, os.environ.get("DAGSTER_HOME")) as instance:
        return run_pipeline(settings, instance=instance)


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete documents by their source ids everywhere, then bring vectors, graph and dashboard in step."""
    from corpus.store import delete_documents
    from fieldmap.store import writer

    settings = stored_workspace(args)
    with writer(settings.duckdb_path) as con:
        deleted = delete_documents(con, args.ids, force=args.force)
    for doc_id in args.ids:
        out.print(
            f"{'deleted' if doc_id in deleted else 'not stored (remembered as deleted: --force)'}: {doc_id}",
            markup=False,
            highlight=False,
        )
    result = rerun(settings)
    return 0 if result.success else 1


def cmd_undelete(args: argparse.Namespace) -> int:
    """Forget deletions, then run: the documents are read from their sources again."""
    from corpus.store import undelete_documents
    from fieldmap.store import writer

    settings = stored_workspace(args)
    with writer(settings.duckdb_path) as con:
        restored = undelete_documents(con, args.ids)
    for doc_id in restored:
        out.print(f"undeleted: {doc_id}", markup=False, highlight=False)
    result = rerun(settings)
    return 0 if result.success else 1


def cmd_retry_failed(args: argparse.Namespace) -> int:
    """Run again now for the chunks whose extraction failed (or was done offline while the LLM was down)."""
    from fieldmap.store import writer
    from kg.store import retry_failed
    from pipelines.run import asset_metadata

    settings = stored_workspace(args)
    with writer(settings.duckdb_path) as con:
        waiting = retry_failed(con)
    out.print(f"{waiting} chunks to retry", highlight=False)
    result = rerun(settings)
    triplets = asset_metadata(result).get("triplets", {})
    out.print(
        f"retried {triplets.get('retried', 0)}: {triplets.get('failed', 0)} failed again, "
        f"{triplets.get('fallback_offline', 0)} extracted offline",
        highlight=False,
    )
    return 0 if result.success else 1
