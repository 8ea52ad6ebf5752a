"""An answer's progress as it is made, for a caller that shows it (app/webapp.py, app/openai_compat.py).

`QueryEngine.ask(..., on_event=listener)` calls `listener(name, data)` from its own thread:

    retrieved  {"passages": [{"number", "title", "chunk_id", "doc_id"}], "retrieval"}   as soon as retrieval ends
    hop        {"bridge", "passage", "title"}   each bridge of a multi-hop chain, as the reader reads it
    token      {"text", "by": "llm" | "reader"}   answer text: the LLM's as its reply streams in, the reader's when read
    reset      {"reason"}   the answer text sent so far is void (the LLM's reply was retried, repaired or replaced)

The answer `ask` returns is the truth: the text of the `token` events since the last `reset` equals its `answer`.
An LLM answers in JSON ({"answer": "...", "citations": [...]}): `AnswerText` takes the answer's string out of the
reply as it arrives, escapes and all, whatever the pieces it arrives in.
"""

from __future__ import annotations

from typing import Callable

Listener = Callable[[str, dict], None]
WORDS_PER_TOKEN = 3  # the reader's answer, made at once, goes out a few words an event
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class AnswerText:
    """The value of a JSON object's top-level string field `key`, decoded as `json.loads` would, taken from the
    object's text piece by piece: `feed(piece)` returns the answer text that piece completed."""

    def __init__(self, key: str = "answer"):
        self.key = key
        self.text = ""  # the value so far
        self._depth = 0
        self._string: str | None = None  # inside a string: "key", "value" (the one wanted) or "other"
        self._escape: str | None = None  # an escape read so far ("\\", "\\u00")
        self._high: str | None = None  # a high surrogate waiting for its low half
        self._name = ""  # the key being read
        self._last_key = ""
        self._expect = ""  # at depth 1: "key" after { or ",", "value" after ":"
        self._found = False

    def feed(self, piece: str) -> str:
        out: list[str] = []
        for char in piece:
            if self._string is not None:
                self._in_string(char, out)
            elif char == '"':
                wanted = self._depth == 1 and self._expect == "value" and self._last_key == self.key
                kind = "key" if self._depth == 1 and self._expect == "key" else "other"
                self._string = "value" if wanted and not self._found else kind
                self._name = ""
                self._expect = ""
            elif char in "{[":
                self._depth += 1
                self._expect = "key" if self._depth == 1 and char == "{" else ""
            elif char in "}]":
                self._depth -= 1
            elif self._depth == 1 and char == ":":
                self._expect = "value"
            elif self._depth == 1 and char == ",":
                self._expect = "key"
        text = "".join(out)
        self.text += text
        return text

    def _in_string(self, char: str, out: list[str]) -> None:
        if self._escape is not None:
            self._escape += char
            if self._escape[1] != "u":
                self._add(_ESCAPES.get(char, char), out)
            elif len(self._escape) == 6:
                self._add(chr(int(self._escape[2:], 16)), out)
            else:
                return
            self._escape = None
        elif char == "\\":
            self._escape = "\\"
        elif char == '"':
            self._flush(out)
            if self._string == "key":
                self._last_key = self._name
            elif self._string == "value":
                self._found = True
            self._string = None
        else:
            self._add(char, out)

    def _add(self, char: str, out: list[str]) -> None:
        """One decoded character; a surrogate pair becomes one character, as json.loads makes it."""
        if self._high is not None:
            high, self._high = self._high, None
            if "\udc00" <= char <= "\udfff":
                char = chr(0x10000 + ((ord(high) - 0xD800) << 10) + (ord(char) - 0xDC00))
            else:
                self._put(high, out)
        if "\ud800" <= char <= "\udbff" and self._escape is not None:
            self._high = char
            return
        self._put(char, out)

    def _flush(self, out: list[str]) -> None:
        if self._high is not None:
            self._put(self._high, out)
            self._high = None

    def _put(self, char: str, out: list[str]) -> None:
        if self._string == "value":
            out.append(char)
        elif self._string == "key":
            self._name += char


class LLMText:
    """`LLMClient.complete`'s `on_text` for an answer: each reply's answer string as `token` events, and a `reset`
    when a new reply begins after one that had sent text."""

    def __init__(self, emit: Listener):
        self.emit = emit
        self.sent = ""  # the answer text sent since the last reset
        self.chunks = 0  # pieces of content received, all replies together
        self._answer = AnswerText()

    def __call__(self, piece: str | None) -> None:
        if piece is None:
            self._answer = AnswerText()
            self.reset("a new reply")
            return
        self.chunks += 1
        text = self._answer.feed(piece)
        if text:
            self.sent += text
            self.emit("token", {"text": text, "by": "llm"})

    def reset(self, reason: str) -> None:
        if self.sent:
            self.sent = ""
            self.emit("reset", {"reason": reason})

    def settle(self, answer: str, by: str = "llm") -> None:
        """The answer as given: sent again whole where what was sent differs from it."""
        if self.sent != answer:
            self.reset("the answer given differs from the text sent")
            words(self.emit, answer, by)
            self.sent = answer


def words(emit: Listener, text: str, by: str) -> None:
    """`text` as `token` events of a few words each (a text made at once)."""
    pieces = text.split(" ")
    for i in range(0, len(pieces), WORDS_PER_TOKEN):
        if pieces[i : i + WORDS_PER_TOKEN] != [""]:
            emit("token", {"text": (" " if i else "") + " ".join(pieces[i : i + WORDS_PER_TOKEN]), "by": by})


def retrieved(emit: Listener, passages: list, label: str) -> None:
    emit(
        "retrieved",
        {
            "passages": [
                {"number": n, "title": p.title, "chunk_id": p.chunk_id, "doc_id": p.doc_id}
                for n, p in enumerate(passages, 1)
            ],
            "retrieval": label,
        },
    )


class Hops:
    """The reader's `on_hop`: each bridge of a chain as a `hop` event when it is read."""

    def __init__(self, emit: Listener):
        self.emit = emit
        self.sent: list[tuple[str, int]] = []

    def __call__(self, bridge: str, number: int, passage) -> None:
        self.sent.append((bridge, number))
        self.emit("hop", {"bridge": bridge, "passage": number, "title": passage.title})

    def settle(self, chain: list[tuple[str, int]], passages: list) -> None:
        """The chain read, told after reading where it is not what was told (a comparison's sides are read
        before they are compared)."""
        if list(chain) != self.sent:
            for bridge, number in chain:
                if (bridge, number) not in self.sent:
                    self(bridge, number, passages[number - 1])
