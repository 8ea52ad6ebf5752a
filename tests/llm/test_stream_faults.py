"""A streamed LLM answer (LLMClient.complete's `on_text`, rag/answer.py's llm_answer) against the fault server: the
same answer as without a stream, its text handed on piece by piece, and a stream cut mid-body retried with the
listener told that what it had is void."""

from __future__ import annotations

from fieldmap.llm import LLMClient
from rag.answer import Passage, llm_answer
from rag.streaming import LLMText
from tests.llm.conftest import fault_settings

EXPECTED = "It is said in the first passage."


def _passages(marker: str = "") -> list[Passage]:
    return [Passage("d1", "d1#0", "Galaxies", 1.0, f"It is said in the first passage about galaxies. {marker}")]


def _streamed(client, passages) -> tuple[tuple, list[tuple[str, dict]], LLMText]:
    events: list[tuple[str, dict]] = []
    text = LLMText(lambda name, data: events.append((name, data)))
    return llm_answer(client, "What is said?", passages, on_text=text), events, text


def _since_reset(events) -> str:
    last = max((i for i, (name, _) in enumerate(events) if name == "reset"), default=-1)
    return "".join(data["text"] for name, data in events[last + 1 :] if name == "token")


def test_a_streamed_answer_is_the_answer_asked_whole(tmp_path, fault_server):
    client = LLMClient(fault_settings(tmp_path, fault_server.base_url), None, "answer")
    try:
        whole = llm_answer(client, "What is said?", _passages())
        streamed, events, text = _streamed(client, _passages())
    finally:
        client.close()
    assert streamed == whole and whole[0] == EXPECTED and whole[3] is None
    assert [r.stream for r in fault_server.received] == [False, True]
    tokens = [data["text"] for name, data in events if name == "token"]
    assert len(tokens) > 3 and "".join(tokens) == EXPECTED  # piece by piece, as the chunks came
    assert text.chunks > len(tokens)  # the JSON around the answer came too, and was not sent on
    assert client.usage.completion_tokens > 0  # the usage came in the stream's last chunk


def test_a_stream_cut_midway_is_retried_and_the_text_sent_is_void(tmp_path, fault_server):
    client = LLMClient(fault_settings(tmp_path, fault_server.base_url), None, "answer")
    try:
        (answer, citations, flags, failure), events, _ = _streamed(client, _passages("TRUNCATEDONCE"))
    finally:
        client.close()
    assert failure is None and answer == EXPECTED and [c.chunk_id for c in citations] == ["d1#0"]
    assert fault_server.count("TRUNCATEDONCE") == 2  # cut, then answered
    names = [name for name, _ in events]
    assert "reset" in names and names.index("token") < names.index("reset")  # text had gone out before the cut
    assert _since_reset(events) == EXPECTED
