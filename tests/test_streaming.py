"""rag/streaming.py: the answer string taken out of an LLM's JSON reply piece by piece, and the token events."""

from __future__ import annotations

import json

import pytest

from rag.streaming import AnswerText, LLMText

REPLIES = [
    '{"answer": "Prague, the \\"golden\\" city\\nof spires \\u00e9\\ud83d\\ude00 \\\\ done / \\/ [1]", "citations": [1]}',
    '{"citations": [2, 3], "note": {"answer": "not this"}, "answer": "tab\\there \\ud83d alone"}',
    '```json\n{ "answer" : "fenced \\u20AC" ,"citations":[]}\n```',
    '{"answer": "", "citations": []}',
    '{"question": "answer", "answer": "the key named \\"answer\\" is read, not its value", "x": "answer"}',
    '{"answer": "first", "answer": "second"}',
]


def _pieces_at(text: str, *cuts: int) -> list[str]:
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


@pytest.mark.parametrize("reply", REPLIES)
def test_every_split_gives_the_answer_json_loads_gives(reply):
    body = reply.strip("`").removeprefix("json\n")
    expected = json.loads(body)["answer"] if '"first"' not in reply else "first"  # the first of two keys is streamed
    whole = AnswerText()
    assert whole.feed(reply) == expected == whole.text
    for cut in range(len(reply) + 1):
        split = AnswerText()
        assert "".join(split.feed(p) for p in _pieces_at(reply, cut)) == expected, cut
    one_by_one = AnswerText()
    assert "".join(one_by_one.feed(c) for c in reply) == expected


def test_two_cuts_inside_one_escape_pair():
    reply = REPLIES[0]
    start = reply.index("\\ud83d")
    for a in range(start, start + 12):
        for b in range(a, start + 13):
            found = AnswerText()
            assert "".join(found.feed(p) for p in _pieces_at(reply, a, b)) == json.loads(reply)["answer"]


def test_the_text_arrives_as_the_reply_does():
    found = AnswerText()
    assert found.feed('{"answer": "Pra') == "Pra"
    assert found.feed("gue is") == "gue is"
    assert found.feed('", "citations": [1]}') == ""


def test_a_new_reply_after_text_resets_and_settle_makes_the_events_the_answer():
    events = []
    stream = LLMText(lambda name, data: events.append((name, data)))
    stream(None)  # the first reply: nothing to void
    stream('{"answer": "wro')
    stream('ng"}')
    stream(None)  # the repair request
    stream('{"answer": "right one", "citations": []}')
    assert [name for name, _ in events] == ["token", "token", "reset", "token"]
    assert stream.sent == "right one" and stream.chunks == 3
    stream.settle("right one")  # as streamed: nothing more
    assert len(events) == 4
    stream.settle("the reader's answer instead", by="reader")
    assert events[4][0] == "reset"
    assert "".join(d["text"] for _, d in events[5:]) == "the reader's answer instead"
    assert {d["by"] for _, d in events[5:]} == {"reader"}
