"""The query engine over the session's 20-document workspace, shared by the retrieval tests here."""

import dataclasses

import pytest

from kg.graph import KnowledgeGraph
from rag.engine import QueryEngine
from rag.hipporag import HippoParams, HippoRAGRetriever

QUESTION = "Can storage rings detect a relic gravitational-wave background?"
TARGET_DOC = "http://arxiv.org/abs/gr-qc/0210091v7"


@pytest.fixture(scope="module")
def engine(built_workspace):
    engine = QueryEngine(built_workspace)
    yield engine
    engine.close()


def hipporag(engine, **overrides) -> HippoRAGRetriever:
    """A hipporag retriever over the engine's stores with the settings' parameters and these overrides."""
    params = dataclasses.replace(HippoParams.of(engine.settings), **overrides)
    return HippoRAGRetriever(
        KnowledgeGraph.load(engine.settings.graph_path),
        engine.store.table("facts"),
        engine.linker,
        engine.retriever("dense"),
        params,
    )
