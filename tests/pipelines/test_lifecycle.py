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

from corpus.store import delete_documents
from fieldmap.store import connect
from kg.graph import KnowledgeGraph
from pipelines.run import check_results, run_pipeline
from rag.steps import fact_id
from tests.conftest import FIXTURES, make_settings

TABLES = ("documents", "sentences", "chunks", "structures", "aspects", "entities", "mentions", "triplets", "extractions", "synonyms")


def snapshot(settings) -> dict:
    """Every key of every store, for comparing workspaces."""
    con = connect(settings.duckdb_path)
    keys = {
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
    for table in ("chunks", "entities", "facts"):
        keys[f"lance_{table}"] = sorted(db.open_table(table).to_arrow().column("id").to_pylist())
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
    facts = {fact_id(s, p, o) for s, p, o in con.execute("SELECT DISTINCT subject_id, predicate, object_id FROM triplets").fetchall()}
    entity_ids = sorted(r[0] for r in con.execute("SELECT entity_id FROM entities").fetchall())
    con.close()
    assert keys["lance_chunks"] == keys["chunks"]
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
    assert all(check_results(result).values()) and len(check_results(result)) == 6
    assert_consistent(settings)

    changed = dict(records[3], summary="Gravitational lensing by the Bullet Cluster maps dark matter. The Chandra observatory saw its hot gas.")
    _write(corpus, records[:3] + [changed] + records[4:])
    assert run_pipeline(settings).success
    assert_consistent(settings)
    con = connect(settings.duckdb_path)
    text = con.execute("SELECT string_agg(text, ' ') FROM chunks WHERE doc_id = ?", [changed["id"]]).fetchall()[0][0]
    assert "Bullet Cluster" in text
    names = {r[0] for r in con.execute("SELECT e.norm_name FROM mentions m JOIN entities e USING (entity_id) WHERE m.doc_id = ?", [changed["id"]]).fetchall()}
    assert "chandra observatory" in names
    con.close()

    _write(corpus, records[:3] + [changed] + records[4:19])  # the 20th vanishes from its source
    result = run_pipeline(settings)
    assert all(check_results(result).values())
    assert_consistent(settings)
    assert records[19]["id"] not in {d[: -40] for d in snapshot(settings)["documents"]}


def test_delete_keeps_an_entity_another_document_shares(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    _write(corpus, [
        {"id": "a", "title": "Crab", "text": "The Chandra telescope observed the Crab Nebula. The Crab Nebula hosts a pulsar."},
        {"id": "b", "title": "Radio", "text": "Radio emission from the Crab Nebula was mapped by the Very Large Array."},
    ])
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


def test_a_killed_run_resumed_ends_with_the_rows_of_an_uninterrupted_run(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    shutil.copy(FIXTURES / "arxiv-20.jsonl", corpus)
    clean = make_settings(tmp_path / "clean", corpus)
    assert run_pipeline(clean).success

    killed = tmp_path / "killed"
    command = [str(Path(sys.executable).parent / "fieldmap"), "run", "--workspace", str(killed), "--corpus", str(corpus), "--config", os.devnull]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDMAP_", "OPENAI_"))} | {"FIELDMAP_CHUNK_SIZE": "200"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not _extraction_started(killed):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed = make_settings(killed, corpus)
    assert run_pipeline(resumed).success
    assert snapshot(resumed) == snapshot(clean)


def _extraction_started(workspace: Path) -> bool:
    """True once some rows are written; read through a copy so the running writer is not disturbed."""
    database = workspace / "fieldmap.duckdb"
    if not database.exists():
        return False
    try:
        copy = workspace.parent / "peek.duckdb"
        shutil.copy(database, copy)
        con = connect(copy, read_only=True)
        started = con.execute("SELECT count(*) FROM chunks").fetchall()[0][0] > 0
        con.close()
        return started
    except Exception:  # noqa: BLE001 - a half-copied file: look again
        return False
