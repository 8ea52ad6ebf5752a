import numpy as np

from fieldmap.embedders import get_embedder
from fieldmap.settings import Settings
from fieldmap.store import connect, insert_rows
from kg.synonyms import calibrate_threshold, update_synonyms

NAMES = [
    "hubble space telescope",
    "the hubble telescope",
    "hubble space telescope (hst)",
    "galaxy cluster",
    "clusters of galaxies",
    "magnetic field strength",
    "supernova remnant",
    "dark energy",
    "pulsar timing array",
    "gamma-ray burst",
]


def _entities(con, names):
    ids = [f"e{i}" for i in range(len(names))]
    insert_rows(
        con, "entities", ["entity_id", "name", "norm_name", "type"], [(i, n, n, "object") for i, n in zip(ids, names)]
    )
    return ids


def test_two_spellings_of_one_name_join_and_unrelated_names_do_not(tmp_path):
    con = connect(tmp_path / "db.duckdb")
    ids = _entities(con, NAMES)
    vectors = get_embedder(Settings.load(env={}, config_file=tmp_path / "none.toml")).passages(NAMES)
    report = update_synonyms(con, ids, vectors, top_k=5, threshold=0.8)
    pairs = {
        tuple(sorted((a, b)))
        for a, b, _ in con.execute("SELECT entity_a, entity_b, similarity FROM synonyms").fetchall()
    }
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
    insert_rows(
        con, "entities", ["entity_id", "name", "norm_name", "type"], [("e_new", "alpha cen", "alpha cen", "object")]
    )
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


def _clustered_vectors(count: int, seed: int = 7) -> np.ndarray:
    """Unit vectors in groups around shared centres, spread so that pair similarities straddle 0.8
    as minilm's spellings of one name do: one group has more than top_k + 1 members above the
    threshold, two more than the index's first 32 candidates (its cut-off and re-query paths)."""
    rng = np.random.default_rng(seed)
    sizes = [120, 40, 40]
    while sum(sizes) < count:
        sizes.append(int(min(count - sum(sizes), rng.choice([1, 2, 3, 4, 8]))))
    vectors = []
    for size in sizes:
        spread = (
            0.4 if size >= 40 else rng.uniform(0.35, 0.6)
        )  # cosine between two members ~ 1 / (1 + spread^2): 0.86; 0.89-0.74
        vectors.append(rng.normal(size=384) + spread * rng.normal(size=(size, 384)))
    vectors = np.vstack(vectors).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _rows(con):
    return {(a, b): s for a, b, s in con.execute("SELECT entity_a, entity_b, similarity FROM synonyms").fetchall()}


def test_ann_path_finds_the_brute_force_pairs_with_the_same_similarities(tmp_path):
    from kg.synonym_ann import AnnChoice, vector_table

    vectors = _clustered_vectors(1500)
    ids = [f"e{i:05d}" for i in range(len(vectors))]
    exact_con, ann_con = connect(tmp_path / "exact.duckdb"), connect(tmp_path / "ann.duckdb")
    exact = update_synonyms(exact_con, ids, vectors, top_k=100, threshold=0.8)
    ann = update_synonyms(
        ann_con,
        ids,
        vectors,
        top_k=100,
        threshold=0.8,
        ann=AnnChoice(vector_table(str(tmp_path / "lance"), "entities", ids, vectors), min_entities=1000),
    )
    assert (exact.method, ann.method) == ("exact", "IVF_HNSW_SQ")
    truth, found = _rows(exact_con), _rows(ann_con)
    assert len(truth) > 4000
    common = truth.keys() & found.keys()
    assert len(common) >= 0.95 * len(truth) and len(common) >= 0.95 * len(found)
    assert all(found[pair] == truth[pair] for pair in common)  # re-scored exactly: the same float64 value
    assert min(found.values()) >= 0.8


def test_incremental_ann_run_scans_only_new_entities_and_adds_no_duplicates(tmp_path):
    from kg.synonym_ann import AnnChoice, vector_table

    vectors = _clustered_vectors(1500, seed=11)
    ids = [f"e{i:05d}" for i in range(len(vectors))]
    order = np.random.default_rng(0).permutation(len(ids))
    old, new = order[:1250], order[1250:]  # new entities join groups that already have old members
    con = connect(tmp_path / "db.duckdb")
    table = vector_table(str(tmp_path / "lance"), "entities", [ids[i] for i in old], vectors[old])
    first = update_synonyms(
        con, [ids[i] for i in old], vectors[old], top_k=100, threshold=0.8, ann=AnnChoice(table, min_entities=500)
    )
    before = _rows(con)
    table.add(vector_table(str(tmp_path / "lance"), "added", [ids[i] for i in new], vectors[new]).to_arrow())
    all_ids, all_vectors = [ids[i] for i in order], vectors[order]
    second = update_synonyms(
        con, all_ids, all_vectors, top_k=100, threshold=0.8, ann=AnnChoice(table, min_entities=500)
    )
    assert (first.scanned, second.scanned) == (1250, 250) and second.method == "IVF_HNSW_SQ"
    after = _rows(con)
    assert before.items() <= after.items()  # old edges kept as they were
    added = after.keys() - before.keys()
    new_ids = {ids[i] for i in new}
    assert all(a in new_ids or b in new_ids for a, b in added) and len(added) == second.edges_added
    assert (
        second.edges_total
        == len(after)
        == con.execute("SELECT count(DISTINCT (entity_a, entity_b)) FROM synonyms").fetchall()[0][0]
    )
    truth = _rows_of(update_synonyms, tmp_path, all_ids, all_vectors)
    assert len(after.keys() & truth.keys()) >= 0.95 * len(truth)
    again = update_synonyms(con, all_ids, all_vectors, top_k=100, threshold=0.8, ann=AnnChoice(table, min_entities=500))
    assert (again.scanned, again.edges_added, again.edges_total) == (0, 0, len(after))


def _rows_of(update, tmp_path, ids, vectors):
    con = connect(tmp_path / "truth.duckdb")
    update(con, ids, vectors, top_k=100, threshold=0.8)
    return _rows(con)


def test_small_scans_stay_exact_whatever_the_index():
    from kg.synonym_ann import AnnChoice

    choice = AnnChoice(table=None, min_entities=50_000)
    assert not choice.wanted(new=10_000, total=200_000)  # 2e9 comparisons: under a 50k first scan's 2.5e9
    assert choice.wanted(new=50_000, total=50_000) and choice.wanted(new=7_000, total=818_000)
