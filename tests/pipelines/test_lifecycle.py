"""Add, change and delete documents; kill a run and resume it: every store must agree afterwards."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import lancedb
import pytest

from corpus.store import UnknownDocument, delete_documents, undelete_documents
from fieldmap.store import connect
from kg.graph import KnowledgeGraph
from pipelines.run import asset_metadata, check_results, run_pipeline
from rag.steps import fact_id, passage_text
from tests.conftest import FIXTURES, make_settings

TABLES = (
    "documents",
    "sentences",
    "chunks",
    "structures",
    "aspects",
    "entities",
    "mentions",
    "triplets",
    "extractions",
    "synonyms",
)


def snapshot(settings) -> dict:
    """Every key of every store, and the text each vector was made from, for comparing workspaces."""
    con = connect(settings.duckdb_path)
    keys = {
        "chunk_texts": sorted(
            con.execute("SELECT c.chunk_id, d.title, c.text FROM chunks c JOIN documents d USING (doc_id)").fetchall()
        ),
        "entity_rows": sorted(con.execute("SELECT entity_id, name, norm_name, type FROM entities").fetchall()),
        "triplet_rows": sorted(
            con.execute("SELECT triplet_id, subject_id, relation, predicate, object_id FROM triplets").fetchall()
        ),
        "gists": sorted(con.execute("SELECT doc_id, gist FROM gists").fetchall()),
        "documents": sorted(r[0] for r in con.execute("SELECT doc_id || content_hash FROM documents").fetchall()),
        "chunks": sorted(r[0] for r in con.execute("SELECT chunk_id FROM chunks").fetchall()),
        "entities": sorted(r[0] for r in con.execute("SELECT entity_id || type FROM entities").fetchall()),
        "mentions": sorted(r[0] for r in con.execute("SELECT mention_id FROM mentions").fetchall()),
        "triplets": sorted(r[0] for r in con.execute("SELECT triplet_id FROM triplets").fetchall()),
        "synonyms": sorted(r[0] for r in con.execute("SELECT entity_a || entity_b FROM synonyms").fetchall()),
        "counts": {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in TABLES},
    }
    con.close()
    db = lancedb.connect(settings.lancedb_uri)
    for table in ("chunks", "entities", "facts", "gists"):
        keys[f"lance_{table}"] = sorted(db.open_table(table).to_arrow().column("id").to_pylist())
        column = "search_text" if table == "chunks" else "text"
        keys[f"lance_{table}_text"] = sorted(
            zip(*(db.open_table(table).to_arrow().column(c).to_pylist() for c in ("id", column)))
        )
    return keys


def assert_consistent(settings) -> None:
    keys = snapshot(settings)
    con = connect(settings.duckdb_path)
    orphan_sql = {
        "chunks": "SELECT count(*) FROM chunks WHERE doc_id NOT IN (SELECT doc_id FROM documents)",
        "mentions": "SELECT count(*) FROM mentions WHERE chunk_id NOT IN (SELECT chunk_id FROM chunks) OR entity_id NOT IN (SELECT entity_id FROM entities)",
        "triplets": "SELECT count(*) FROM triplets WHERE chunk_id NOT IN (SELECT chunk_id FROM chunks) OR subject_id NOT IN (SELECT entity_id FROM entities)",
        "entities": "SELECT count(*) FROM entities WHERE entity_id NOT IN (SELECT entity_id FROM mentions)",
        "synonyms": "SELECT count(*) FROM synonyms WHERE entity_a NOT IN (SELECT entity_id FROM entities) OR entity_b NOT IN (SELECT entity_id FROM entities)",
        "structures": "SELECT count(*) FROM structures WHERE doc_id NOT IN (SELECT doc_id FROM documents)",
    }
    for name, sql in orphan_sql.items():
        assert con.execute(sql).fetchall() == [(0,)], f"orphan rows in {name}"
    facts = {
        fact_id(s, p, o)
        for s, p, o in con.execute("SELECT DISTINCT subject_id, predicate, object_id FROM triplets").fetchall()
    }
    entity_ids = sorted(r[0] for r in con.execute("SELECT entity_id FROM entities").fetchall())
    con.close()
    assert keys["lance_chunks"] == keys["chunks"]
    assert keys["lance_chunks_text"] == sorted(
        (cid, passage_text(title, text)) for cid, title, text in keys["chunk_texts"]
    )  # the text, not just the id
    assert keys["lance_gists_text"] == keys["gists"]
    assert keys["lance_entities"] == entity_ids
    assert set(keys["lance_facts"]) == facts
    graph = KnowledgeGraph.load(settings.graph_path)
    assert sorted(graph.passage_ids) == keys["chunks"] and sorted(graph.entity_ids) == entity_ids


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_add_change_and_delete_keep_every_store_in_step(tmp_path):
    records = _records(FIXTURES / "arxiv-20.jsonl")
    corpus = tmp_path / "corpus.jsonl"
    _write(corpus, records[:19])
    settings = make_settings(tmp_path / "ws", corpus)
    assert run_pipeline(settings).success

    _write(corpus, records)  # add the 20th document
    result = run_pipeline(settings)
    assert all(check_results(result).values()) and len(check_results(result)) == 7
    assert_consistent(settings)

    changed = dict(
        records[3],
        summary="Gravitational lensing by the Bullet Cluster maps dark matter. The Chandra observatory saw its hot gas.",
    )
    _write(corpus, records[:3] + [changed] + records[4:])
    assert run_pipeline(settings).success
    assert_consistent(settings)
    con = connect(settings.duckdb_path)
    text = con.execute("SELECT string_agg(text, ' ') FROM chunks WHERE doc_id = ?", [changed["id"]]).fetchall()[0][0]
    assert "Bullet Cluster" in text
    names = {
        r[0]
        for r in con.execute(
            "SELECT e.norm_name FROM mentions m JOIN entities e USING (entity_id) WHERE m.doc_id = ?", [changed["id"]]
        ).fetchall()
    }
    assert "chandra observatory" in names
    con.close()

    _write(corpus, records[:3] + [changed] + records[4:19])  # the 20th vanishes from its source
    result = run_pipeline(settings)
    assert all(check_results(result).values())
    assert_consistent(settings)
    assert records[19]["id"] not in {d[:-40] for d in snapshot(settings)["documents"]}


def test_delete_keeps_an_entity_another_document_shares(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    _write(
        corpus,
        [
            {
                "id": "a",
                "title": "Crab",
                "text": "The Chandra telescope observed the Crab Nebula. The Crab Nebula hosts a pulsar.",
            },
            {
                "id": "b",
                "title": "Radio",
                "text": "Radio emission from the Crab Nebula was mapped by the Very Large Array.",
            },
        ],
    )
    settings = make_settings(tmp_path / "ws", corpus)
    assert run_pipeline(settings).success
    con = connect(settings.duckdb_path)
    assert delete_documents(con, ["a"]) == ["a"]
    con.close()
    result = run_pipeline(settings)  # "a" is still in its source, but deleted documents stay deleted
    assert all(check_results(result).values())
    assert_consistent(settings)
    con = connect(settings.duckdb_path)
    names = {r[0] for r in con.execute("SELECT norm_name FROM entities").fetchall()}
    docs = [r[0] for r in con.execute("SELECT doc_id FROM documents").fetchall()]
    con.close()
    assert docs == ["b"] and "crab nebula" in names and "chandra telescope" not in names


def test_deleting_an_unknown_id_is_an_error_and_a_deletion_can_be_undone(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    _write(corpus, [{"id": "a", "title": "Crab", "text": "The Chandra telescope observed the Crab Nebula."}])
    settings = make_settings(tmp_path / "ws", corpus)
    assert run_pipeline(settings).success
    con = connect(settings.duckdb_path)
    with pytest.raises(UnknownDocument, match="'typo'"):
        delete_documents(con, ["a", "typo"])
    assert con.execute("SELECT count(*) FROM tombstones").fetchall() == [(0,)]  # nothing was deleted
    assert delete_documents(con, ["later"], force=True) == []
    assert delete_documents(con, ["a"]) == ["a"]
    con.close()
    _write(
        corpus,
        [
            {"id": "a", "title": "Crab", "text": "The Chandra telescope observed the Crab Nebula."},
            {"id": "later", "title": "Vela", "text": "The Vela pulsar glitches."},
        ],
    )
    metadata = asset_metadata(run_pipeline(settings))
    assert metadata["documents"]["tombstoned"] == 2 and metadata["documents"]["skipped"] == 2
    con = connect(settings.duckdb_path)
    skipped = con.execute("SELECT doc_id, reason FROM skipped ORDER BY doc_id").fetchall()
    assert [d for d, _ in skipped] == ["a", "later"] and all("fieldmap undelete" in r for _, r in skipped)
    with pytest.raises(UnknownDocument, match="never deleted"):
        undelete_documents(con, ["b"])
    assert undelete_documents(con, ["later"]) == ["later"]
    con.close()
    metadata = asset_metadata(run_pipeline(settings))
    assert metadata["documents"]["new"] == 1 and metadata["documents"]["tombstoned"] == 1
    assert_consistent(settings)


def _kill_when(corpus: Path, killed: Path, ready) -> subprocess.Popen:
    """Start `fieldmap run` in a child process and kill -9 it once `ready(peek)` holds for a copy of
    its database (the file and its WAL, read through a copy so the running writer is not disturbed)."""
    command = [
        sys.executable,
        "-m",
        "app.cli",
        "run",
        "--workspace",
        str(killed),
        "--corpus",
        str(corpus),
        "--config",
        os.devnull,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDMAP_", "OPENAI_"))} | {
        "FIELDMAP_CHUNK_SIZE": str(KILL_CHUNK_SIZE)
    }
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None and not ready(killed):
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process


KILL_CHUNK_SIZE = 40  # small chunks: several extraction batches, so a kill can land between two


def _peek(workspace: Path, sql: str):
    database = workspace / "fieldmap.duckdb"
    if not database.exists():
        return None
    copy = workspace.parent / "peek.duckdb"
    try:
        shutil.copy(database, copy)
        wal = database.with_name(database.name + ".wal")
        if wal.exists():
            shutil.copy(wal, copy.with_name(copy.name + ".wal"))
        con = connect(copy, read_only=True)
        try:
            return con.execute(sql).fetchall()[0]
        finally:
            con.close()
    except Exception:  # noqa: BLE001 - a half-copied file: look again
        return None
    finally:
        for leftover in (copy, copy.with_name(copy.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _inside_triplets(workspace: Path) -> bool:
    found = _peek(workspace, "SELECT (SELECT count(*) FROM extractions), (SELECT count(*) FROM chunks)")
    return found is not None and 0 < found[0] < found[1]


def _inside_vector_index(workspace: Path) -> bool:
    return (workspace / "lancedb" / "chunks.lance").exists()


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kill")
    corpus = tmp / "corpus.jsonl"
    shutil.copy(FIXTURES / "arxiv-20.jsonl", corpus)
    clean = make_settings(tmp / "clean", corpus, chunk_size=KILL_CHUNK_SIZE)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(
            "FIELDMAP_CHUNK_SIZE", str(KILL_CHUNK_SIZE)
        )  # as the child has it, whichever settings the resource reads
        assert run_pipeline(clean).success
    return corpus, clean


def test_killed_inside_triplets_the_resumed_run_ends_with_the_rows_of_an_uninterrupted_run(
    clean_run, tmp_path, monkeypatch
):
    corpus, clean = clean_run
    killed = tmp_path / "killed"
    assert _kill_when(corpus, killed, _inside_triplets).returncode == -signal.SIGKILL
    con = connect(killed / "fieldmap.duckdb")
    extracted, chunks = con.execute(
        "SELECT (SELECT count(*) FROM extractions), (SELECT count(*) FROM chunks)"
    ).fetchall()[0]
    con.close()
    assert 0 < extracted < chunks  # killed with extraction half done
    monkeypatch.setenv("FIELDMAP_CHUNK_SIZE", str(KILL_CHUNK_SIZE))
    resumed = make_settings(killed, corpus, chunk_size=KILL_CHUNK_SIZE)
    assert run_pipeline(resumed).success
    assert snapshot(resumed) == snapshot(clean)
    assert_consistent(resumed)


def test_killed_inside_vector_index_the_resumed_run_ends_with_the_rows_of_an_uninterrupted_run(
    clean_run, tmp_path, monkeypatch
):
    corpus, clean = clean_run
    killed = tmp_path / "killed"
    assert _kill_when(corpus, killed, _inside_vector_index).returncode == -signal.SIGKILL
    settings = make_settings(killed, corpus, chunk_size=KILL_CHUNK_SIZE)
    assert not settings.graph_path.exists()  # the graph step never ran
    tables = lancedb.connect(settings.lancedb_uri).list_tables().tables
    assert "gists" not in tables  # nor memory
    monkeypatch.setenv("FIELDMAP_CHUNK_SIZE", str(KILL_CHUNK_SIZE))
    assert run_pipeline(settings).success
    assert snapshot(settings) == snapshot(clean)
    assert_consistent(settings)
