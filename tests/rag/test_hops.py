"""The fused top passages as a chain of hops (rag/hops.py): on a small real graph, and over the
session's 20-document workspace (real stores, graph and models)."""

import igraph as ig

from kg.graph import KnowledgeGraph
from rag.hops import chain_fill, chain_linked, chain_order, topic_vertices
from rag.mentions import Mentions
from tests.rag.conftest import QUESTION, hipporag

# five passages (vertices 0-4) and four entities (vertices 5-8); the question names "siege of cassel"
PASSAGES = ["p0", "p1", "p2", "p3", "p4"]
ENTITIES = ["e:grunberg", "e:siege", "e:kassel", "e:fulda"]
NORM = {"battle of grunberg": "e:grunberg", "siege of cassel": "e:siege", "kassel": "e:kassel", "fulda": "e:fulda"}
TITLES = {"p0": "Battle of Grunberg", "p1": "Siege of Cassel (1761)", "p2": "Weather in 1761", "p3": "Kassel", "p4": ""}
MENTIONS = {  # passage -> entities it mentions
    "p0": ["e:grunberg", "e:kassel"],
    "p1": ["e:siege", "e:kassel"],  # hop 1: about the named entity, mentions the bridge
    "p2": ["e:fulda"],
    "p3": ["e:kassel", "e:fulda"],  # hop 2: about the bridge entity p1 mentions
    "p4": ["e:fulda"],
}


def _graph() -> KnowledgeGraph:
    vertex = {pid: i for i, pid in enumerate(PASSAGES)} | {eid: len(PASSAGES) + j for j, eid in enumerate(ENTITIES)}
    edges = [(vertex[p], vertex[e]) for p, entities in MENTIONS.items() for e in entities]
    graph = ig.Graph(n=len(vertex), edges=edges)
    graph.es["kind"] = ["mention"] * len(edges)
    graph.es["weight"] = [1.0] * len(edges)
    return KnowledgeGraph(graph, PASSAGES, ENTITIES)


def test_a_title_names_its_passage_s_topic_without_its_qualifier():
    kg = _graph()
    topics = topic_vertices(TITLES, kg.passage_ids, NORM, kg.entity_vertex())
    assert topics.tolist() == [5, 6, -1, 7, -1]  # "(1761)" dropped; p2's title names no entity, p4 has none


def test_hop_one_goes_first_and_its_chain_link_second_within_the_same_set():
    kg = _graph()
    topics, mentions = topic_vertices(TITLES, kg.passage_ids, NORM, kg.entity_vertex()), Mentions.of(kg)
    named = {kg.entity_vertex()["e:siege"]}
    fused = [0, 2, 4, 1, 3]
    order = chain_order(fused, topics, named, mentions, named_first=True, chain_second=True)
    assert order == [1, 3, 0, 2, 4]  # about the named entity, then about the bridge it mentions; the rest as fused
    assert sorted(order) == sorted(fused)
    assert chain_linked(mentions, topics, 1, 3) and chain_linked(mentions, topics, 3, 1)
    assert not chain_linked(mentions, topics, 1, 2)  # p2 has no topic and does not mention p1's
    assert not chain_linked(mentions, topics, 1, 0)  # both mention Kassel, neither the other's topic: not a chain
    assert chain_order(fused, topics, named, mentions, named_first=True, chain_second=False) == [1, 0, 2, 4, 3]
    # chain only: p0 stays first and p3, whose topic (Kassel) p0 mentions, comes second
    assert chain_order(fused, topics, named, mentions, named_first=False, chain_second=True) == [0, 3, 2, 4, 1]
    # a question naming nothing that is a passage's topic, and no link: the fused order stays
    assert chain_order([2, 4, 0], topics, set(), mentions, True, True) == [2, 4, 0]


def test_the_last_place_goes_to_the_next_hop_linked_to_the_first_two():
    kg = _graph()
    topics, mentions = topic_vertices(TITLES, kg.passage_ids, NORM, kg.entity_vertex()), Mentions.of(kg)
    # a set of 3: p1 and p0 first; p3 (about Kassel, which both mention) ranks below p2 and p4 and takes the third place
    assert chain_fill([1, 0, 2, 4, 3], topics, mentions, 3) == [1, 0, 3, 2, 4]
    assert chain_fill([1, 0, 3, 2, 4], topics, mentions, 3) == [1, 0, 3, 2, 4]  # the third is the link already
    assert chain_fill([2, 4, 1, 0, 3], topics, mentions, 3) == [2, 4, 1, 0, 3]  # nothing links to p2 or p4: unchanged
    assert chain_fill([1, 0, 2, 4, 3], topics, mentions, 2) == [1, 0, 2, 4, 3]  # p3 is past twice the set's size


def test_the_chain_fill_changes_at_most_the_last_place_of_the_set(engine):
    without = hipporag(engine, chain_fill=False).retrieve(QUESTION, 12)
    retriever = hipporag(engine, chain_fill=True)
    filled = retriever.retrieve(QUESTION, 12)
    assert [h.chunk_id for h in filled[:4]] == [h.chunk_id for h in without[:4]]
    assert [h.score for h in filled] == [h.score for h in without]  # the passages move, the scores stay and descend
    vertices = [retriever._passage_vertex[h.chunk_id] for h in without]
    assert [retriever._passage_vertex[h.chunk_id] for h in filled] == chain_fill(
        vertices, retriever.topics(), retriever.mentions(), 5
    )


def test_the_chain_order_keeps_the_fused_set_and_the_ppr_order_below_it(engine):
    fused = hipporag(engine, named_first=False, chain_second=False, chain_fill=False).retrieve(QUESTION, 8)
    retriever = hipporag(engine, named_first=True, chain_second=True, chain_fill=False)
    chained = retriever.retrieve(QUESTION, 8)
    assert {h.chunk_id for h in chained[:5]} == {h.chunk_id for h in fused[:5]}  # PPR's top 5, so its Recall@5
    assert [h.chunk_id for h in chained[5:]] == [h.chunk_id for h in fused[5:]]
    assert [h.score for h in chained] == [h.score for h in fused]  # the passages move, the scores stay and descend
    vertices = [retriever._passage_vertex[h.chunk_id] for h in fused[:5]]
    expected = chain_order(
        vertices, retriever.topics(), set(retriever.named(QUESTION)), retriever.mentions(), True, True
    )
    assert [retriever._passage_vertex[h.chunk_id] for h in chained[:5]] == expected
    # callers tuned on PPR's order (memorag's clues, the reader's hops) get it without the chain
    plain = hipporag(engine, fuse_dense=0.0, named_first=False, chain_second=False, chain_fill=False).retrieve(
        QUESTION, 8
    )
    assert [h.chunk_id for h in retriever.retrieve(QUESTION, 8, reorder=False)] == [h.chunk_id for h in plain]
    topics = retriever.topics()
    assert ((topics == -1) | (topics >= retriever.kg.n_passages)).all() and len(
        topics
    ) == retriever.kg.n_passages  # -1 or an entity vertex


def test_the_next_hop_takes_the_last_place_unless_the_top_holds_it():
    from rag.next_hop import place_next_hop
    from rag.retrievers import Hit

    hits = [Hit(c, s) for c, s in zip("abcdefg", [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])]
    placed = place_next_hop(hits, Hit("x", 0.99), 5)
    assert [h.chunk_id for h in placed] == list("abcdxef")  # "e" shifts down one place, the list keeps its length
    assert [h.score for h in placed] == [h.score for h in hits]  # each place keeps its score
    moved = place_next_hop(hits, Hit("f", 0.4), 5)  # from below the top: it moves up, nothing is listed twice
    assert [h.chunk_id for h in moved] == list("abcdfeg")
    assert place_next_hop(hits, Hit("c", 0.7), 5) == hits  # the top 5 hold it already: the hop is covered
    assert place_next_hop(hits, None, 5) == hits and place_next_hop(hits[:3], Hit("x", 1.0), 5) == hits[:3]


def test_the_top_facts_are_those_a_full_sort_gives_in_its_order():
    import numpy as np

    from rag.hipporag import _top

    rng = np.random.default_rng(0)
    for n in (3, 5, 6, 1000):
        scores = rng.random(n).astype(np.float32)
        assert _top(scores, 5).tolist() == np.argsort(-scores, kind="stable")[:5].tolist(), n
