import numpy as np

from fieldmap.store import connect, insert_rows
from kg.graph import build_graph, personalized_pagerank
from kg.store import MENTION_COLUMNS


def _mention(chunk: str, entity: str, n: int):
    return (f"{chunk}:{n}", entity, chunk.split("#")[0], chunk, 0, n, n + 1, entity, "object", 1.0, "test")


def test_ppr_ranks_a_two_hop_passage_above_a_distractor(tmp_path):
    con = connect(tmp_path / "db.duckdb")
    insert_rows(
        con,
        "chunks",
        [
            "chunk_id",
            "doc_id",
            "chunk_index",
            "text",
            "start_char",
            "end_char",
            "sent_start",
            "sent_end",
            "own_sent_start",
        ],
        [(c, c.split("#")[0], 0, "t", 0, 1, 0, 1, 0) for c in ("p1#0", "p2#0", "p3#0")],
    )
    insert_rows(
        con, "entities", ["entity_id", "name", "norm_name", "type"], [(e, e, e, "object") for e in ("A", "B", "C", "D")]
    )
    # p1 mentions A and B; p2 mentions B and C (two hops from A); p3 mentions only D (a distractor)
    insert_rows(
        con,
        "mentions",
        MENTION_COLUMNS,
        [
            _mention("p1#0", "A", 0),
            _mention("p1#0", "B", 1),
            _mention("p2#0", "B", 2),
            _mention("p2#0", "C", 3),
            _mention("p3#0", "D", 4),
        ],
    )
    kg = build_graph(con)
    assert kg.stats()["passage_entity_edges"] == 5
    reset = np.zeros(kg.graph.vcount())
    reset[kg.entity_vertex()["A"]] = 1.0
    reset[: kg.n_passages] = 0.05 * np.array([0.2, 0.1, 0.3])  # dense alone would prefer the distractor
    mass = personalized_pagerank(kg, reset, damping=0.5)[: kg.n_passages]
    order = [kg.passage_ids[i] for i in np.argsort(-mass)]
    assert order == ["p1#0", "p2#0", "p3#0"]


def test_relation_edges_are_weighted_by_count(tmp_path):
    con = connect(tmp_path / "db.duckdb")
    insert_rows(con, "entities", ["entity_id", "name", "norm_name", "type"], [(e, e, e, "object") for e in ("A", "B")])
    rows = [
        (f"t{i}", "d", "d#0", 0, "A" if i % 2 else "B", "related_to", "x", "B" if i % 2 else "A", "m1", "m2", "test")
        for i in range(3)
    ]
    insert_rows(
        con,
        "triplets",
        [
            "triplet_id",
            "doc_id",
            "chunk_id",
            "sent_index",
            "subject_id",
            "relation",
            "predicate",
            "object_id",
            "subject_mention_id",
            "object_mention_id",
            "origin",
        ],
        rows,
    )
    kg = build_graph(con)
    assert kg.graph.es.select(kind_eq="relation")["weight"] == [3.0]


def test_mention_share_weights_split_a_passage_by_its_mentions(tmp_path):
    import pytest

    con = connect(tmp_path / "db.duckdb")
    insert_rows(con, "entities", ["entity_id", "name", "norm_name", "type"], [(e, e, e, "object") for e in ("A", "B")])
    # p1 mentions A three times and B once; p2 mentions B once
    insert_rows(
        con,
        "mentions",
        MENTION_COLUMNS,
        [_mention("p1#0", "A", n) for n in range(3)] + [_mention("p1#0", "B", 3), _mention("p2#0", "B", 4)],
    )
    insert_rows(
        con,
        "chunks",
        [
            "chunk_id",
            "doc_id",
            "chunk_index",
            "text",
            "start_char",
            "end_char",
            "sent_start",
            "sent_end",
            "own_sent_start",
        ],
        [(c, c.split("#")[0], 0, "t", 0, 1, 0, 1, 0) for c in ("p1#0", "p2#0")],
    )
    weight = {}
    for option in ("one", "share"):
        kg = build_graph(con, mention_weight=option)
        keys = kg.graph.vs["key"]
        weight[option] = {(keys[e.source], keys[e.target]): e["weight"] for e in kg.graph.es.select(kind_eq="mention")}
    assert set(weight["one"].values()) == {1.0}
    # share x distinct entities: p1's edges still sum to 2 (its entity count), split 3:1
    assert weight["share"] == {("p1#0", "A"): 1.5, ("p1#0", "B"): 0.5, ("p2#0", "B"): 1.0}
    with pytest.raises(ValueError):
        build_graph(con, mention_weight="idf")
