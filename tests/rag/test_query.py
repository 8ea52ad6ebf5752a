"""Retrieval and answers over the session's 20-document workspace (real models and stores)."""
import pytest

from rag.engine import MODES, QueryEngine

QUESTION = "Can storage rings detect a relic gravitational-wave background?"
TARGET_DOC = "http://arxiv.org/abs/gr-qc/0210091v7"


@pytest.fixture(scope="module")
def engine(built_workspace):
    engine = QueryEngine(built_workspace)
    yield engine
    engine.close()


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_finds_the_paper_the_question_is_about(engine, mode):
    answer = engine.ask(QUESTION, mode=mode, k=3)
    assert answer.passages[0].doc_id == TARGET_DOC
    scores = [p.score for p in answer.passages]
    assert scores == sorted(scores, reverse=True)


def test_answer_cites_retrieved_passages_and_quotes_them(engine):
    answer = engine.ask(QUESTION, mode="hybrid", k=5)
    assert answer.answer and "[1]" in answer.answer
    retrieved = {p.chunk_id for p in answer.passages}
    assert answer.citations and all(c.chunk_id in retrieved for c in answer.citations)
    texts = " ".join(p.text for p in answer.passages)
    for sentence in answer.answer.split(" [")[0:1]:
        assert sentence in texts


def test_graph_mode_falls_back_to_dense_when_no_entity_links(engine):
    graph, dense = engine.retriever("graph"), engine.retriever("dense")
    question = "zzzz qqqq"
    assert graph.linker.link(question, engine.embedder.queries([question])[0]) == {}
    assert [h.chunk_id for h in graph.retrieve(question, 3)] == [h.chunk_id for h in dense.retrieve(question, 3)]


def test_unknown_mode_and_empty_question_are_errors(engine):
    with pytest.raises(ValueError, match="unknown mode"):
        engine.ask(QUESTION, mode="psychic")
    with pytest.raises(ValueError, match="empty"):
        engine.ask("  ")
