"""A changed document is searched by its new text only, in every mode, on real stores."""

import json

import lancedb
import numpy as np
import pytest

from fieldmap.embedders import get_embedder
from fieldmap.store import connect
from pipelines.run import asset_metadata, check_results, run_pipeline
from rag.engine import MODES, QueryEngine
from rag.steps import passage_text
from tests.conftest import make_settings

OLD = "The Chandra observatory measured hot gas in the Perseus cluster. Its spectra show iron lines."
NEW = "The Arecibo telescope mapped neutral hydrogen in the Andromeda galaxy. Its survey found faint clouds."
OTHERS = [
    {
        "id": "b",
        "title": "Pulsars",
        "text": "Radio pulsars are rotating neutron stars. Timing arrays of pulsars detect gravitational waves.",
    },
    {
        "id": "c",
        "title": "Exoplanets",
        "text": "The Kepler mission found exoplanets by transits. Small planets orbit red dwarf stars.",
    },
]
OLD_ONLY = "Chandra Perseus iron lines"
NEW_ONLY = "Arecibo Andromeda neutral hydrogen"


def _write(path, changed_text):
    records = [{"id": "a", "title": "Survey", "text": changed_text}, *OTHERS]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture(scope="module")
def changed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("identity")
    corpus = tmp / "corpus.jsonl"
    _write(corpus, OLD)
    settings = make_settings(tmp / "ws", corpus)
    assert run_pipeline(settings).success
    _write(corpus, NEW)
    result = run_pipeline(settings)
    assert result.success and all(check_results(result).values())
    return settings, asset_metadata(result)


def test_the_rerun_reports_the_replaced_vectors(changed):
    _, metadata = changed
    assert metadata["documents"]["changed"] == 1
    assert (
        metadata["vector_index"]["chunk_vectors_added"] == 1 and metadata["vector_index"]["chunk_vectors_replaced"] == 1
    )


@pytest.mark.parametrize("mode", MODES)
def test_old_only_phrase_no_longer_finds_the_old_text_and_new_only_finds_the_new(changed, mode):
    settings, _ = changed
    engine = QueryEngine(settings)
    try:
        old = engine.ask(OLD_ONLY, mode=mode, k=3)
        new = engine.ask(NEW_ONLY, mode=mode, k=3)
    finally:
        engine.close()
    assert all("Chandra" not in p.text and "Perseus" not in p.text for p in old.passages)
    if mode == "bm25":  # no stored text has these words any more
        assert [p.doc_id for p in old.passages] == []
    assert new.passages[0].doc_id == "a" and "Arecibo" in new.passages[0].text


def test_every_stored_vector_and_text_is_the_new_one(changed):
    settings, _ = changed
    embedder = get_embedder(settings)
    db = lancedb.connect(settings.lancedb_uri)
    chunk = [r for r in db.open_table("chunks").to_arrow().to_pylist() if r["doc_id"] == "a"]
    assert len(chunk) == 1 and chunk[0]["text"] == NEW
    vector = np.asarray(chunk[0]["vector"])
    new_vector, old_vector = embedder.passages([passage_text("Survey", NEW), passage_text("Survey", OLD)])
    assert float(vector @ new_vector) > 0.999 and float(vector @ old_vector) < 0.9
    con = connect(settings.duckdb_path, read_only=True)
    gist = con.execute("SELECT gist FROM gists WHERE doc_id = 'a'").fetchall()[0][0]
    names = {
        r[0]
        for r in con.execute(
            "SELECT e.norm_name FROM mentions m JOIN entities e USING (entity_id) WHERE m.doc_id = 'a'"
        ).fetchall()
    }
    facts = [
        r[0]
        for r in con.execute(
            "SELECT count(*) FROM triplets t JOIN entities e ON e.entity_id = t.subject_id WHERE e.norm_name LIKE '%chandra%'"
        ).fetchall()
    ]
    con.close()
    gists = {r["id"]: r["text"] for r in db.open_table("gists").to_arrow().to_pylist()}
    assert gists["a"] == gist and "Chandra" not in gist
    assert "arecibo telescope" in names and not any("chandra" in n for n in names) and facts == [0]
    fact_texts = db.open_table("facts").to_arrow().column("text").to_pylist()
    assert not any("Chandra" in t for t in fact_texts)
