"""/v1/models and /v1/chat/completions through the official `openai` client: in process (its http_client a
TestClient), and once over a real socket with a key and two workspaces, streaming included."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from openai import OpenAI, PermissionDeniedError

from app.openai_compat import answer_text
from app.workspaces import Served, create_front
from rag.modes import DEFAULT_MODE
from tests.serving import Serving

QUESTION = "What do X-ray observations reveal about galaxy clusters?"
KEY = "chat-client-key-0123456789"


@pytest.fixture(scope="module")
def client(built_workspace):
    app = create_front([Served("demo", built_workspace)], concurrency=1)
    with TestClient(app, base_url="http://127.0.0.1:8000") as http:
        yield OpenAI(api_key="unused", base_url="http://127.0.0.1:8000/v1", http_client=http, max_retries=0)


@pytest.fixture(scope="module")
def expected(client, built_workspace):
    from rag.engine import QueryEngine

    engine = QueryEngine(built_workspace)
    try:
        return engine.ask(QUESTION, mode=DEFAULT_MODE).to_dict()
    finally:
        engine.close()


def test_models_are_the_workspaces(client):
    assert [m.id for m in client.models.list()] == ["demo"]


def test_a_completion_is_the_answer_with_citations_and_sources(client, expected):
    completion = client.chat.completions.create(
        model="demo", messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": QUESTION}]
    )
    text = completion.choices[0].message.content
    assert text == answer_text(expected)
    assert "[1]" in text and "Sources:\n[" in text
    for citation in expected["citations"]:
        assert citation["doc_id"] in text
    structured = completion.model_extra["fieldmap"]
    assert structured["answer"] == expected["answer"] and structured["citations"] == expected["citations"]
    assert [p["chunk_id"] for p in structured["passages"]] == [p["chunk_id"] for p in expected["passages"]]
    assert completion.choices[0].finish_reason == "stop"


def test_a_stream_adds_up_to_the_completion(client, expected):
    chunks = list(
        client.chat.completions.create(model="demo", messages=[{"role": "user", "content": QUESTION}], stream=True)
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) > 3 and "".join(pieces) == answer_text(expected)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["fieldmap"]["citations"] == expected["citations"]


def test_an_unknown_model_or_no_question_is_a_4xx(client):
    with pytest.raises(Exception) as error:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": QUESTION}])
    assert getattr(error.value, "status_code", None) == 404
    with pytest.raises(Exception) as error:
        client.chat.completions.create(model="demo", messages=[{"role": "assistant", "content": "hello"}])
    assert getattr(error.value, "status_code", None) == 400


@pytest.mark.slow
def test_over_a_socket_with_a_key_and_two_workspaces(built_workspace, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{KEY} = demo\n")
    served = Serving(
        [
            "--workspace",
            f"demo={built_workspace.workspace}",
            "--workspace",
            f"other={built_workspace.workspace}",
            "--keys",
            str(keys),
            "--concurrency",
            "1",
        ],
        tmp_path,
    )
    try:
        served.wait_until_up()
        chat = OpenAI(api_key=KEY, base_url=served.base + "/v1", max_retries=0)
        assert [m.id for m in chat.models.list()] == ["demo"]
        stream = chat.chat.completions.create(
            model="demo", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream)
        assert "[1]" in text and "Sources:" in text
        with pytest.raises(PermissionDeniedError):  # workspace "other" with demo's key
            chat.chat.completions.create(model="other", messages=[{"role": "user", "content": QUESTION}])
        with pytest.raises(Exception) as error:
            OpenAI(api_key="wrong-key-0123456789", base_url=served.base + "/v1", max_retries=0).models.list()
        assert getattr(error.value, "status_code", None) == 401
    finally:
        served.stop()
    assert KEY not in served.output() and "wrong-key" not in served.output()  # keys are never logged
