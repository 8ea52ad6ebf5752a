"""The partitioned run (settings.shards > 1): the same rows as the unpartitioned one, nothing changed by a
re-run, a changed or removed document replaced and never duplicated."""

import json

import pytest

from fieldmap.store import connect
from pipelines.run import asset_metadata, check_results, run_pipeline
from pipelines.shards import shard_of, shard_path
from tests.conftest import FIXTURES, make_settings
from tests.pipelines.test_lifecycle import assert_consistent

# every column but the load and finish times; type_score apart (below)
TABLES = {
    "documents": "doc_id, title, text, source, date, year, content_hash, metadata",
    "pages": "*",
    "sentences": "*",
    "chunks": "*",
    "structures": "*",
    "aspects": "*",
    "entities": "*",
    "triplets": "*",
    "mentions": "* EXCLUDE (type_score)",
    "extractions": "* EXCLUDE (finished_at)",
    "chunk_parses": "*",
}


def rows(settings) -> dict[str, list[tuple]]:
    con = connect(settings.duckdb_path, read_only=True)
    try:
        found = {
            table: sorted(con.execute(f"SELECT {columns} FROM {table}").fetchall(), key=repr)
            for table, columns in TABLES.items()
        }
        found["type_scores"] = dict(con.execute("SELECT mention_id, type_score FROM mentions").fetchall())
        return found
    finally:
        con.close()


def assert_same_rows(one: dict, other: dict) -> None:
    for table in TABLES:
        assert one[table] == other[table], f"{table} differs"
    # a name's embedding differs in the last float32 bits with the other names of its batch (shards batch other chunks
    # together), so the typing score agrees to 1e-6, not bit for bit; the type it chose is compared exactly above
    scores, others = one["type_scores"], other["type_scores"]
    assert scores.keys() == others.keys()
    assert max(abs(scores[m] - others[m]) for m in scores) < 1e-6


def test_shard_of_is_stable_and_spreads():
    assert [shard_of(f"doc-{n}", 3) for n in range(6)] == [shard_of(f"doc-{n}", 3) for n in range(6)]
    assert (
        shard_of("http://arxiv.org/abs/2304.09196v2", 3) == 0
    )  # not Python's salted hash(): the same in every process
    assert {shard_of(f"doc-{n}", 3) for n in range(30)} == {0, 1, 2}


@pytest.fixture(scope="module")
def sharded(tmp_path_factory, built_workspace):
    """The session's unpartitioned workspace's corpus (the same file: documents.source names it) in three shards."""
    settings = make_settings(tmp_path_factory.mktemp("sharded") / "ws", *built_workspace.corpus, shards=3)
    result = run_pipeline(settings)
    assert result.success and all(check_results(result).values())
    return settings, asset_metadata(result)


def test_three_shards_give_the_rows_of_the_unpartitioned_run(sharded, built_workspace):
    settings, metadata = sharded
    found, expected = rows(settings), rows(built_workspace)
    assert expected["mentions"] and expected["triplets"] and expected["entities"]
    assert_same_rows(found, expected)
    assert metadata["chunks"]["documents"] == 20 and metadata["chunks"]["replaced_chunks"] == 20
    for k in range(3):  # each shard holds its documents only, in its own file
        con = connect(shard_path(settings.shard_directory, k))
        held = [r[0] for r in con.execute("SELECT doc_id FROM documents").fetchall()]
        con.close()
        assert held and all(shard_of(d, 3) == k for d in held)
    assert_consistent(settings)


def test_rerunning_the_partitioned_run_changes_nothing(sharded):
    settings, _ = sharded
    before = rows(settings)
    again = asset_metadata(run_pipeline(settings))
    assert rows(settings) == before
    assert again["shard_chunks"]["documents_chunked"] == 0 and again["shard_triplets"]["chunks_extracted"] == 0
    assert {again["chunks"][f"replaced_{g}"] for g in ("chunks", "structures", "extractions")} == {0}


def test_a_changed_and_a_removed_document_are_replaced_as_an_unpartitioned_run_has_them(tmp_path):
    records = [json.loads(line) for line in (FIXTURES / "arxiv-20.jsonl").read_text().splitlines()][:8]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
    settings = make_settings(tmp_path / "sharded", corpus, shards=2)
    assert run_pipeline(settings).success

    changed = dict(
        records[3],
        summary="Gravitational lensing by the Bullet Cluster maps dark matter. The Chandra observatory saw its hot gas.",
    )
    corpus.write_text(
        "".join(json.dumps(r) + "\n" for r in records[:3] + [changed] + records[4:7])
    )  # the 8th is removed
    result = run_pipeline(settings)
    assert result.success and all(check_results(result).values())
    assert asset_metadata(result)["chunks"]["replaced_chunks"] == 1
    clean = make_settings(tmp_path / "clean", corpus)
    assert run_pipeline(clean).success
    assert_same_rows(rows(settings), rows(clean))
    assert_consistent(settings)
    con = connect(shard_path(settings.shard_directory, shard_of(records[7]["id"], 2)))
    assert con.execute("SELECT count(*) FROM chunks WHERE doc_id = ?", [records[7]["id"]]).fetchall() == [
        (0,)
    ]  # gone from its shard too
    con.close()
