"""Retrieval and answers over the session's 20-document workspace (real models and stores)."""

import re

import pytest

from rag.engine import MODES, QueryEngine
from tests.rag.conftest import QUESTION, TARGET_DOC


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_finds_the_paper_the_question_is_about(engine, mode):
    answer = engine.ask(QUESTION, mode=mode, k=3)
    assert answer.passages[0].doc_id == TARGET_DOC
    scores = [p.score for p in answer.passages]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("mode", MODES)
def test_every_citation_resolves_to_a_stored_passage_and_every_marker_to_a_passage(engine, mode):
    for question in (QUESTION, "What are binary pulsars?", "How do black holes accrete?"):
        answer = engine.ask(question, mode=mode, k=5)
        assert answer.answer and answer.citations
        markers = [int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)]
        assert markers and all(1 <= n <= len(answer.passages) for n in markers)
        assert {answer.passages[n - 1].chunk_id for n in markers} == {c.chunk_id for c in answer.citations}
        for citation in answer.citations:
            stored = engine.con.execute(
                "SELECT d.title FROM chunks c JOIN documents d USING (doc_id) WHERE c.chunk_id = ? AND c.doc_id = ?",
                [citation.chunk_id, citation.doc_id],
            ).fetchall()
            assert stored == [(citation.title,)]
        texts = " ".join(p.text for p in answer.passages)
        read = " ".join(
            " ".join((p.title + " " + p.text).split()) for p in answer.passages
        )  # the reader reads titles too
        assert answer.evidence and all(e["text"] in texts for e in answer.evidence)  # the reader quotes its passages
        short = answer.answer.split(" [")[0]
        assert short in read or short in ("yes", "no")


def test_memorag_keeps_the_question_and_adds_clues_of_more_than_three_words(engine):
    answer = engine.ask(QUESTION, mode="memorag")
    assert answer.clues and all(len(c.split()) > 3 for c in answer.clues)
    assert QUESTION not in answer.clues  # the question itself is kept, but not listed as a clue
    assert "clues" in answer.timings_ms and "retrieve" in answer.timings_ms


def test_graph_mode_falls_back_to_dense_when_no_entity_links(engine):
    graph, dense = engine.retriever("hipporag"), engine.retriever("dense")
    question = "zzzz qqqq"
    assert graph.linker.link(question, engine.embedder.queries([question])[0]) == {}
    assert [h.chunk_id for h in graph.retrieve(question, 3)] == [h.chunk_id for h in dense.retrieve(question, 3)]


def test_unknown_mode_and_empty_question_are_errors(engine):
    with pytest.raises(ValueError, match="unknown mode"):
        engine.ask(QUESTION, mode="psychic")
    with pytest.raises(ValueError, match="empty"):
        engine.ask("  ")


def test_a_memoised_graph_retriever_answers_as_the_plain_one_in_every_mode(engine):
    from rag.evaluate import MemoRetriever, memoise_graph_retrieval

    memo = QueryEngine(engine.settings)
    try:
        memoise_graph_retrieval(memo)  # several clue weights in one run (fieldmap eval qa --clue-weights)
        assert isinstance(
            memo.retriever("hipporag").graph, MemoRetriever
        )  # under the next hop, which the engine still sees
        for mode in ("memorag", "hipporag"):
            twice = [memo.ask(QUESTION, mode=mode, k=3) for _ in range(2)]
            plain = engine.ask(QUESTION, mode=mode, k=3)
            assert (
                [p.chunk_id for p in twice[0].passages]
                == [p.chunk_id for p in twice[1].passages]
                == [p.chunk_id for p in plain.passages]
            ), mode
            assert twice[1].answer == plain.answer
    finally:
        memo.close()
