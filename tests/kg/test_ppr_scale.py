"""The neighbourhood-restricted PPR (HippoParams.ppr_neighbourhood_hops) agrees with the whole-graph PPR
when the neighbourhood holds every vertex that can carry mass."""

import dataclasses
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest

from fieldmap.settings import Settings
from fieldmap.store import connect, insert_rows
from kg.graph import (
    Adjacency,
    WholeGraphPageRank,
    build_graph,
    neighbourhood,
    personalized_pagerank,
    restricted_pagerank,
)
from kg.store import MENTION_COLUMNS, TRIPLET_COLUMNS
from rag.hipporag import HippoParams, HippoRAGRetriever

PASSAGES = ("p1#0", "p2#0", "p3#0", "p4#0", "q1#0", "q2#0", "r1#0")
# PPR on the whole graph, passages in the order of their mass (no fusion, no chain order)
PLAIN = dataclasses.replace(
    HippoParams.of(Settings()),
    ppr_neighbourhood_hops=0,
    fuse_dense=0.0,
    fuse_depth=0,
    named_first=False,
    chain_second=False,
    chain_fill=False,
)
MENTIONS = {"p1#0": "AB", "p2#0": "BC", "p3#0": "CD", "p4#0": "DE", "q1#0": "X", "q2#0": "XY", "r1#0": "Z"}


def _graph(tmp_path):
    """Three components: p1-p4 (a chain A-B-C-D-E through passages, plus a relation A-C), q1-q2
    (entities X, Y) and r1 (entity Z)."""
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
        [(c, c.split("#")[0], 0, "t", 0, 1, 0, 1, 0) for c in PASSAGES],
    )
    insert_rows(con, "entities", ["entity_id", "name", "norm_name", "type"], [(e, e, e, "object") for e in "ABCDEXYZ"])
    rows = [
        (f"{c}:{n}", e, c.split("#")[0], c, 0, n, n + 1, e, "object", 1.0, "test")
        for c, names in MENTIONS.items()
        for n, e in enumerate(names)
    ]
    insert_rows(con, "mentions", MENTION_COLUMNS, rows)
    insert_rows(
        con,
        "triplets",
        TRIPLET_COLUMNS,
        [(f"t{i}", "p1", "p1#0", 0, "A", "related_to", "x", "C", "m", "m", "test") for i in range(2)],
    )
    return build_graph(con)


def test_neighbourhood_counts_hops_from_the_seeds(tmp_path):
    kg = _graph(tmp_path)
    entity = kg.entity_vertex()
    keys = lambda vertices: {kg.graph.vs[int(v)]["key"] for v in vertices}  # noqa: E731
    assert keys(neighbourhood(kg, [entity["A"]], 1)) == {"A", "p1#0", "C"}
    assert keys(neighbourhood(kg, [entity["A"]], 2)) == {"A", "p1#0", "C", "B", "p2#0", "p3#0"}
    assert len(neighbourhood(kg, [], 2)) == 0
    # C has 3 edges (p2, p3, the relation to A): with max_degree 2 it is reached but not expanded
    assert keys(neighbourhood(kg, [entity["A"]], 2, max_degree=2)) == {"A", "p1#0", "C", "B"}


def test_restricted_pagerank_equals_the_whole_graph_on_whole_components(tmp_path):
    kg = _graph(tmp_path)
    entity, passage = kg.entity_vertex(), kg.passage_vertex()
    reset = np.zeros(kg.graph.vcount())
    reset[entity["A"]] = 1.0
    reset[passage["q1#0"]] = 0.2  # r1 has no restart weight: its component carries no mass
    full = personalized_pagerank(kg, reset, 0.5)
    component = neighbourhood(kg, [entity["A"], passage["q1#0"]], 10)
    assert "r1#0" not in {kg.graph.vs[int(v)]["key"] for v in component}
    restricted = restricted_pagerank(kg, reset, component, 0.5)
    assert np.allclose(restricted, full, atol=1e-9)
    adjacency = Adjacency.of(kg)
    assert np.allclose(adjacency.strength, kg.graph.strength(weights="weight"))
    assert np.allclose(restricted_pagerank(kg, reset, component, 0.5, adjacency), full, atol=1e-9)


def test_power_iteration_gives_igraphs_scores(tmp_path):
    kg = _graph(tmp_path)
    kg.graph.add_vertices(1, {"key": ["lonely#0"], "kind": ["passage"]})  # no edges: a walk there restarts
    ppr = WholeGraphPageRank(kg)
    rng = np.random.default_rng(7)
    for damping in (0.5, 0.85):
        reset = rng.random(kg.graph.vcount()) * (rng.random(kg.graph.vcount()) < 0.5)
        reset[-1] = 0.3
        assert np.allclose(ppr(reset, damping), personalized_pagerank(kg, reset, damping), atol=1e-8)
    with pytest.raises(ValueError):
        ppr(np.zeros(kg.graph.vcount()))


def _retriever(kg, params: HippoParams, seeds: dict[str, float], dense: dict[str, float]) -> HippoRAGRetriever:
    """The retriever with stub embedder, dense scores and seeds (no LanceDB, no linker)."""
    retriever = HippoRAGRetriever.__new__(HippoRAGRetriever)
    retriever.kg, retriever.params = kg, params
    retriever._passage_vertex, retriever._entity_vertex = kg.passage_vertex(), kg.entity_vertex()
    retriever._adjacency = retriever._whole = retriever._aligned = None
    retriever.recent_mass = OrderedDict()
    ids = list(dense)
    retriever.dense = SimpleNamespace(
        embedder=SimpleNamespace(queries=lambda texts: [np.zeros(1)]),
        scores=lambda vector: (ids, np.array([dense[i] for i in ids])),
    )
    retriever.seeds = lambda query, vector: {retriever._entity_vertex[e]: w for e, w in seeds.items()}
    return retriever


def test_restricted_retrieval_ranks_like_the_whole_graph_when_the_neighbourhood_holds_the_mass(tmp_path):
    kg = _graph(tmp_path)
    seeds = {"A": 1.0}
    dense = {"p1#0": 0.1, "p2#0": 0.3, "p3#0": 0.2, "p4#0": 0.0, "q1#0": 0.6, "q2#0": 0.5, "r1#0": 0.0}  # r1: min-max 0
    full = _retriever(kg, PLAIN, seeds, dense).retrieve("q", 5)
    # 5 hops from A reach E (A-C-p3-D-p4-E); the top max(3, k=5) dense passages include q1, q2 with X, Y
    params = dataclasses.replace(PLAIN, ppr_neighbourhood_hops=5, ppr_neighbourhood_passages=3, ppr_whole_graph_below=0)
    restricted = _retriever(kg, params, seeds, dense).retrieve("q", 5)
    assert [h.chunk_id for h in restricted] == [h.chunk_id for h in full]
    assert np.allclose([h.score for h in restricted], [h.score for h in full], atol=1e-9)


def test_restricted_retrieval_returns_passages_of_the_neighbourhood_only(tmp_path):
    kg = _graph(tmp_path)
    dense = {"p1#0": 0.1, "p2#0": 0.3, "p3#0": 0.2, "p4#0": 0.0, "q1#0": 0.6, "q2#0": 0.5, "r1#0": 0.05}
    params = dataclasses.replace(PLAIN, ppr_neighbourhood_hops=1, ppr_neighbourhood_passages=1, ppr_whole_graph_below=0)
    hits = _retriever(kg, params, {"A": 1.0}, dense).retrieve("q", 2)
    # 1 hop from A: p1; at least k=2 dense passages: q1, q2
    assert {h.chunk_id for h in hits} <= {"p1#0", "q1#0", "q2#0"} and len(hits) == 2
    # below ppr_whole_graph_below vertices the same parameters run PPR on the whole graph
    small = dataclasses.replace(params, ppr_whole_graph_below=kg.graph.vcount() + 1)
    assert [h.chunk_id for h in _retriever(kg, small, {"A": 1.0}, dense).retrieve("q", 2)] == [
        h.chunk_id for h in _retriever(kg, PLAIN, {"A": 1.0}, dense).retrieve("q", 2)
    ]
