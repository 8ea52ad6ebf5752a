"""The LLM's answer streams as it is written: `fieldmap serve` over a workspace built offline, answering with the
real llama.cpp server (SmolLM2-135M), asked through the official `openai` client with `stream: true`.

A stream cut from an answer made whole arrives in one burst; one forwarded from the LLM's own stream arrives
token by token as the model writes, spread over the time it takes. A second ask is answered from the query
cache: its answer comes whole, at once, and the reply is the same."""

from __future__ import annotations

import json
import shutil
import time

import httpx
import pytest
from openai import OpenAI

from app.openai_compat import answer_text
from tests.conftest import FIXTURES, build_here
from tests.llm.conftest import LOCAL_LLM
from tests.serving import Serving

pytestmark = pytest.mark.llm
QUESTION = "What do rotation curves reveal about the mass of spiral galaxies?"


@pytest.fixture(scope="module")
def served(llama_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("llm-stream")
    shutil.copy(FIXTURES / "llm-3.jsonl", root / "corpus.jsonl")
    settings = build_here(root / "ws", root / "corpus.jsonl")  # offline: the LLM only answers
    env = {"OPENAI_BASE_URL": str(llama_server), **{f"FIELDMAP_{k.upper()}": str(v) for k, v in LOCAL_LLM.items()}}
    serving = Serving(["--workspace", f"demo={settings.workspace}", "--concurrency", "1"], root, env=env)
    try:
        yield serving.wait_until_up()
    finally:
        serving.stop()


def _ask(served) -> tuple[list[tuple[float, str]], dict]:
    """(arrival time, content) of each content delta, and the answer's `fieldmap` field from the last chunk."""
    chat = OpenAI(api_key="unused", base_url=served.base + "/v1", max_retries=0, timeout=900)
    stream = chat.chat.completions.create(
        model="demo", messages=[{"role": "user", "content": QUESTION}], stream=True, extra_body={"mode": "dense"}
    )
    deltas, last = [], None
    for chunk in stream:
        if chunk.choices[0].delta.content:
            deltas.append((time.monotonic(), chunk.choices[0].delta.content))
        last = chunk
    assert last is not None and last.choices[0].finish_reason == "stop"
    return deltas, last.model_extra["fieldmap"]


def test_the_llm_answer_streams_as_the_model_writes_it(served, llama_server):
    deltas, answer = _ask(served)
    assert not any(flag.startswith("LLM answer failed") for flag in answer["flags"]), answer["flags"]
    assert answer["answer"], "the model gave an empty answer"
    text = "".join(piece for _, piece in deltas)
    assert text == answer_text(answer) and text.startswith(answer["answer"])
    written, so_far = [], ""  # the deltas that carry the answer itself
    for at, piece in deltas:
        if len(so_far) >= len(answer["answer"]):
            break
        written.append(at)
        so_far += piece
    assert len(written) > 1, "the answer came in one piece"
    # as the model wrote it (~40 ms a token here), not in one burst once it was done (microseconds apart)
    assert written[-1] - written[0] > 0.02, [round(t - written[0], 3) for t in written]
    assert "Sources:" in text  # the rest of the reply followed the answer

    cached_deltas, cached = _ask(served)  # the same question: the query cache answers, whole and at once
    assert cached == answer
    assert cached_deltas[0][1] == answer["answer"]
    assert "".join(piece for _, piece in cached_deltas) == text


def test_the_page_stream_sends_the_llm_answer_as_it_is_written(served):
    """/ask/stream (the page's): the passages, then the LLM's answer in `answer` events by "llm", then `done`."""
    found = []  # (arrival time, event, data)
    question = {"question": "What does the telescope observe?", "mode": "dense"}
    with httpx.stream("POST", served.base + "/w/demo/ask/stream", json=question, timeout=900) as reply:
        name = None
        for line in reply.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                found.append((time.monotonic(), name, json.loads(line[6:])))
    names = [name for _, name, _ in found]
    assert names[0] == "status" and names[-1] == "done" and names.index("retrieved") < names.index("answer")
    done = found[-1][2]
    assert done["method"].startswith("llm:") and done["answer"], done["flags"]
    written = [(at, data) for at, name, data in found if name == "answer"]
    assert {data["by"] for _, data in written} == {"llm"} and "reset" not in names
    assert len(written) > 1 and "".join(data["text"] for _, data in written) == done["answer"]
    assert written[-1][0] - written[0][0] > 0.02  # as the model wrote it
