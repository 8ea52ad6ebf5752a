"""`fieldmap eval`: retrieval, extraction and answers measured on a QA set or annotations."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.console import RichProgress, console, out
from app.console import settings_of as _settings
from fieldmap.settings import Settings
from rag.modes import DEFAULT_MODE


def cmd_eval_retrieval(args: argparse.Namespace) -> int:
    corpus = Path(args.corpus)
    workspace = args.workspace or str(Path(".fieldmap") / f"eval-{corpus.stem}-{args.embedder or 'default'}")
    settings = Settings.load(
        workspace=workspace, config_file=args.config, embedder=args.embedder, schema_name=args.schema
    )
    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        report = run_retrieval_eval(
            corpus,
            Path(args.questions),
            args.methods.split(","),
            [int(k) for k in args.k.split(",")],
            settings,
            RichProgress(bar),
        )
    table = Table(
        title=f"retrieval on {corpus.name} ({report['questions']} questions, embedder {report['embedder']}, indexed in {report['index_seconds']:.0f} s)"
    )
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


def run_retrieval_eval(
    corpus: Path, questions_path: Path, methods: list[str], ks: list[int], settings, progress=None
) -> dict:
    """Index the corpus into settings.workspace (incrementally), then evaluate every method in one run."""
    import time

    from fieldmap.progress import silent
    from pipelines.run import run_pipeline
    from rag.engine import QueryEngine
    from rag.evaluate import evaluate_retrieval, load_questions

    questions = load_questions(questions_path)
    started = time.perf_counter()
    result = run_pipeline(settings.model_copy(update={"corpus": [str(corpus)]}), progress or silent)
    if not result.success:
        raise RuntimeError(f"indexing {corpus} failed; see the Dagster log above")
    index_seconds = time.perf_counter() - started
    engine = QueryEngine(settings)
    try:
        scores = evaluate_retrieval(engine, questions, methods, ks)
    finally:
        engine.close()
    return {
        "methods": scores,
        "index_seconds": index_seconds,
        "embedder": settings.embedder,
        "questions": len(questions),
        "corpus": str(corpus),
    }


def cmd_eval_qa(args: argparse.Namespace) -> int:
    from fieldmap.progress import silent
    from pipelines.run import run_pipeline
    from rag.engine import QueryEngine
    from rag.evaluate import evaluate_answers, load_questions, memoise_graph_retrieval

    corpus = Path(args.corpus)
    workspace = args.workspace or str(Path(".fieldmap") / f"eval-{corpus.stem}-{args.embedder or 'default'}")
    settings = Settings.load(
        workspace=workspace,
        config_file=args.config,
        embedder=args.embedder,
        schema_name=args.schema,
        corpus=[str(corpus)],
    )
    if not run_pipeline(settings, silent).success:
        raise RuntimeError(f"indexing {corpus} failed")
    engine = QueryEngine(settings)
    questions = load_questions(Path(args.questions))
    weights = [float(w) for w in args.clue_weights.split(",")] if args.clue_weights else [settings.clue_weight_offline]
    if len(weights) > 1:
        memoise_graph_retrieval(engine)  # each clue is retrieved once, whatever the weight
    reports = []
    try:
        for mode in args.mode.split(","):
            for weight in weights if mode == "memorag" else [None]:
                if weight is not None:
                    engine.settings = settings.model_copy(update={"clue_weight_offline": weight})
                reports.append(evaluate_answers(engine, questions, mode))
                out.print(json.dumps(reports[-1]), markup=False, highlight=False)
    finally:
        engine.close()
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


def add_eval_parsers(sub, common: argparse.ArgumentParser) -> None:
    from kg.evaluate import build_parser as extraction_parser

    evaluate = sub.add_parser("eval", help="measure retrieval, extraction or answers").add_subparsers(
        dest="target", required=True
    )
    retrieval = evaluate.add_parser(
        "retrieval", parents=[common], help="Recall@k of every method on a QA set, in one run"
    )
    retrieval.add_argument("--corpus", required=True, help="JSONL of {id, title, text}")
    retrieval.add_argument("--questions", required=True, help="JSONL of {id, question, answers, supporting_ids}")
    retrieval.add_argument("--methods", default="bm25,dense,hybrid,hipporag")
    retrieval.add_argument("--k", default="2,5")
    retrieval.add_argument("--json", help="write the figures here")
    retrieval.add_argument("--embedder")
    retrieval.add_argument("--schema", default="general")
    retrieval.set_defaults(func=cmd_eval_retrieval)
    extraction = extraction_parser(
        evaluate.add_parser(
            "extraction", parents=[common], help="precision, recall and F1 of extraction against annotations"
        )
    )
    extraction.set_defaults(func=cmd_eval_extraction)
    qa = evaluate.add_parser("qa", parents=[common], help="exact match, token F1 and Recall@5 of answers")
    qa.add_argument("--corpus", required=True)
    qa.add_argument("--questions", required=True)
    qa.add_argument(
        "--mode", default=DEFAULT_MODE, help="one mode, or several separated by commas (measured in one run)"
    )
    qa.add_argument(
        "--clue-weights", help="memorag's offline clue weights to measure, separated by commas (default: the setting)"
    )
    qa.add_argument("--json")
    qa.add_argument("--embedder")
    qa.add_argument("--schema", default="general")
    qa.set_defaults(func=cmd_eval_qa)
