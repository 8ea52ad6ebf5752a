"""hipporag's lexical evidence over the session's 20-document workspace (real stores, graph and models)."""
import numpy as np
import pytest

from rag.hipporag import HippoParams
from tests.rag.conftest import QUESTION, TARGET_DOC, hipporag


def test_lexical_scores_are_relative_to_the_best_hit_and_zero_without_query_words(engine):
    retriever = hipporag(engine)
    scores = retriever.lexical_by_passage(QUESTION)
    assert scores.max() == pytest.approx(1.0) and scores.min() == 0.0
    best = retriever.kg.passage_ids[int(np.argmax(scores))]
    assert engine.con.execute("SELECT doc_id FROM chunks WHERE chunk_id = ?", [best]).fetchall() == [(TARGET_DOC,)]
    assert not retriever.lexical_by_passage("zzzz qqqq").any()


def test_fused_order_is_by_fused_score_and_keeps_the_target_on_top(engine):
    fused = hipporag(engine, fuse_dense=1.0, fuse_lexical=0.5, lexical_passage_weight=0.2, fuse_depth=0).retrieve(QUESTION, 5)
    scores = [h.score for h in fused]
    assert scores == sorted(scores, reverse=True) and len(fused) == 5
    top = engine.con.execute("SELECT doc_id FROM chunks WHERE chunk_id = ?", [fused[0].chunk_id]).fetchall()
    assert top == [(TARGET_DOC,)]
    # a passage first in all three lists scores the most RRF can give: (1 + 1 + 0.5) / (60 + 1)
    assert scores[0] <= 2.5 / 61 + 1e-12


def test_the_reordering_keeps_ppr_s_set_and_puts_the_question_s_closest_passages_first(engine):
    plain = hipporag(engine, fuse_dense=0.0).retrieve(QUESTION, 8)
    reordered = hipporag(engine, fuse_dense=2.0, fuse_depth=5, named_first=False, chain_second=False, chain_fill=False).retrieve(QUESTION, 8)  # the fusion alone (test_hops.py: the chain)
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


def test_ngram_links_find_a_name_inside_a_longer_phrase(engine):
    name, entity_id = engine.con.execute(
        "SELECT norm_name, entity_id FROM entities WHERE len(norm_name) > 8 AND norm_name NOT LIKE '% %' ORDER BY norm_name LIMIT 1").fetchall()[0]
    question = f"What did the authors of the {name} measurements around 1990 conclude?"
    assert entity_id in engine.linker.ngrams(question)
    assert engine.linker.ngrams("what is it of the and") == {}
    retriever = hipporag(engine, ngram_entity_weight=1.0)
    assert retriever._entity_vertex[entity_id] in retriever.named(question)
    assert HippoParams().ngram_entity_weight == 0.0  # off unless the settings turn it on
