"""The query engine over the session's 20-document workspace, shared by the retrieval tests here."""
import pytest

from rag.engine import QueryEngine

QUESTION = "Can storage rings detect a relic gravitational-wave background?"
TARGET_DOC = "http://arxiv.org/abs/gr-qc/0210091v7"


@pytest.fixture(scope="module")
def engine(built_workspace):
    engine = QueryEngine(built_workspace)
    yield engine
    engine.close()
