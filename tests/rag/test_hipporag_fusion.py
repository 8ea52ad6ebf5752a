"""hipporag's fusion of PPR's top passages with the question's dense ranks, over the session's 20-document workspace."""

from tests.rag.conftest import QUESTION, hipporag


def test_the_reordering_keeps_ppr_s_set_and_puts_the_question_s_closest_passages_first(engine):
    plain = hipporag(engine, fuse_dense=0.0).retrieve(QUESTION, 8)
    reordered = hipporag(
        engine, fuse_dense=2.0, fuse_depth=5, named_first=False, chain_second=False, chain_fill=False
    ).retrieve(QUESTION, 8)  # the fusion alone (test_hops.py: the chain)
    assert {h.chunk_id for h in reordered[:5]} == {h.chunk_id for h in plain[:5]}  # PPR's top 5, so its Recall@5
    assert [h.chunk_id for h in reordered[5:]] == [h.chunk_id for h in plain[5:]]  # the rest in PPR order
    scores = [h.score for h in reordered]
    assert scores == sorted(scores, reverse=True)
    retriever = hipporag(engine)
    dense = retriever.dense_by_passage(engine.embedder.queries([QUESTION])[0])
    five = [retriever._passage_vertex[h.chunk_id] for h in plain[:5]]
    by_dense = sorted(five, key=lambda v: -dense[v])
    fused = {v: 1 / (61 + five.index(v)) + 2 / (61 + by_dense.index(v)) for v in five}
    expected = sorted(five, key=lambda v: (-fused[v], five.index(v)))
    assert [retriever._passage_vertex[h.chunk_id] for h in reordered[:5]] == expected
