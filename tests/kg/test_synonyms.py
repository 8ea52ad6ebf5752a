import numpy as np

from fieldmap.embedders import get_embedder
from fieldmap.settings import Settings
from fieldmap.store import connect, insert_rows
from kg.synonyms import calibrate_threshold, update_synonyms

NAMES = ["hubble space telescope", "the hubble telescope", "hubble space telescope (hst)", "galaxy cluster", "clusters of galaxies",
         "magnetic field strength", "supernova remnant", "dark energy", "pulsar timing array", "gamma-ray burst"]


def _entities(con, names):
    ids = [f"e{i}" for i in range(len(names))]
    insert_rows(con, "entities", ["entity_id", "name", "norm_name", "type"], [(i, n, n, "object") for i, n in zip(ids, names)])
    return ids


def test_two_spellings_of_one_name_join_and_unrelated_names_do_not(tmp_path):
    con = connect(tmp_path / "db.duckdb")
    ids = _entities(con, NAMES)
    vectors = get_embedder(Settings.load(env={}, config_file=tmp_path / "none.toml")).passages(NAMES)
    report = update_synonyms(con, ids, vectors, top_k=5, threshold=0.8)
    pairs = {tuple(sorted((a, b))) for a, b, _ in con.execute("SELECT entity_a, entity_b, similarity FROM synonyms").fetchall()}
    assert ("e0", "e2") in pairs  # "hubble space telescope" ~ "hubble space telescope (hst)"
    linked = {x for pair in pairs for x in pair}
    assert not linked & {"e6", "e7", "e8", "e9"}  # remnant, dark energy, PTA, GRB stay alone
    assert report.edges_total == len(pairs) and report.scanned == len(NAMES)


def test_incremental_runs_scan_only_new_entities_and_never_re_add_edges(tmp_path):
    con = connect(tmp_path / "db.duckdb")
    ids = _entities(con, ["alpha centauri", "alpha centauri a"])
    vectors = np.array([[1.0, 0.0], [0.96, 0.28]], dtype=np.float32)
    first = update_synonyms(con, ids, vectors, top_k=5, threshold=0.9)
    assert (first.scanned, first.edges_added) == (1 + 1, 1)
    again = update_synonyms(con, ids, vectors, top_k=5, threshold=0.9)
    assert (again.scanned, again.edges_added, again.edges_total) == (0, 0, 1)
    ids.append("e_new")
    insert_rows(con, "entities", ["entity_id", "name", "norm_name", "type"], [("e_new", "alpha cen", "alpha cen", "object")])
    vectors = np.vstack([vectors, [[0.97, 0.243]]]).astype(np.float32)
    third = update_synonyms(con, ids, vectors, top_k=5, threshold=0.9)
    assert third.scanned == 1 and third.edges_added == 2 and third.edges_total == 3


def test_threshold_is_calibrated_above_random_pairs():
    rng = np.random.default_rng(1)
    crowded = rng.normal(size=(500, 16)) * 0.05 + 1.0  # every pair very similar, like e5-small
    crowded /= np.linalg.norm(crowded, axis=1, keepdims=True)
    assert calibrate_threshold(crowded) > 0.95
    spread = rng.normal(size=(500, 16))
    spread /= np.linalg.norm(spread, axis=1, keepdims=True)
    assert calibrate_threshold(spread) == 0.8
