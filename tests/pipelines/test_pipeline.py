"""The Dagster definitions materialised in-process on real stores."""

import shutil

from fieldmap.store import connect, counts
from pipelines.definitions import defs
from pipelines.run import asset_metadata, run_pipeline
from tests.conftest import FIXTURES, make_settings

ASSETS = ["documents", "chunks", "structures", "triplets", "vector_index", "graph", "memory", "dashboard"]


def _counts(settings):
    con = connect(settings.duckdb_path, read_only=True)
    try:
        return counts(con)
    finally:
        con.close()


def test_definitions_load_with_every_asset_described():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == set(ASSETS)
    for key in graph.get_all_asset_keys():
        assert graph.get(key).description


def test_first_run_fills_every_table(built_workspace):
    found = _counts(built_workspace)
    assert found["documents"] == 20 and found["structures"] == 20
    assert found["chunks"] >= 20 and found["entities"] > 100 and found["triplets"] > 50
    assert built_workspace.graph_path.exists()
    assert (built_workspace.dashboard_dir / "index.html").exists()


def test_rerun_adds_nothing_and_new_documents_are_processed_alone(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    shutil.copy(FIXTURES / "arxiv-20.jsonl", corpus)
    settings = make_settings(tmp_path / "ws", corpus)
    first = run_pipeline(settings)
    assert first.success
    before = _counts(settings)

    again = asset_metadata(run_pipeline(settings))
    assert _counts(settings) == before
    assert again["documents"]["new"] == 0 and again["documents"]["unchanged"] == 20
    assert again["chunks"]["documents_chunked"] == 0 and again["triplets"]["chunks_extracted"] == 0
    assert again["vector_index"]["chunk_vectors_added"] == 0

    with open(corpus, "a") as handle:
        handle.write((FIXTURES / "arxiv-5-more.jsonl").read_text())
    added = asset_metadata(run_pipeline(settings))
    assert added["documents"]["new"] == 5 and added["chunks"]["documents_chunked"] == 5
    assert added["structures"]["documents_structured"] == 5
    new_chunks = _counts(settings)["chunks"] - before["chunks"]
    assert added["triplets"]["chunks_extracted"] == new_chunks
    assert added["vector_index"]["chunk_vectors_added"] == new_chunks
    assert added["vector_index"]["chunk_vectors"] == _counts(settings)["chunks"]


def test_bad_records_are_skipped_and_listed_while_the_rest_is_stored(tmp_path):
    settings = make_settings(tmp_path / "ws", FIXTURES / "bad" / "records.jsonl", FIXTURES / "folder")
    result = run_pipeline(settings)
    assert result.success
    con = connect(settings.duckdb_path, read_only=True)
    docs = {r[0] for r in con.execute("SELECT doc_id FROM documents").fetchall()}
    skipped = con.execute("SELECT source, line, doc_id, reason FROM skipped ORDER BY source, line").fetchall()
    con.close()
    assert docs == {"good-1", "good-2", "notes.md", "report.txt"}
    assert len(skipped) == 6
    assert {
        (line, reason.split(" ")[0]) for source, line, _, reason in skipped if source.endswith("records.jsonl")
    } == {(2, "empty"), (3, "malformed"), (4, "not"), (5, "no")}
