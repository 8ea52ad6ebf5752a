"""The records that flow out of the corpus stage."""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from datetime import date


def content_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Document:
    doc_id: str  # the source's own id, verbatim; else "sha1:<content hash prefix>"
    title: str
    text: str
    source: str  # the corpus path it was read from: a JSONL file or a folder
    date: date | None = None
    metadata: dict = field(default_factory=dict, hash=False, compare=False)
    # paged sources (PDF): the offset in `text` where each page begins; page n covers
    # [page_starts[n - 1], page_starts[n]) and the last page runs to the end. Empty otherwise.
    page_starts: tuple[int, ...] = field(default=(), compare=False)

    @property
    def content_hash(self) -> str:
        return content_hash(self.title + "\n" + self.text)

    def page_of(self, offset: int) -> int | None:
        """The 1-based page holding character `offset`, or None for an unpaged document."""
        return page_of(self.page_starts, offset)

    def page_ranges(self) -> list[tuple[int, int, int]]:
        """(page, start_char, end_char) for every page, contiguous over the whole text."""
        ends = self.page_starts[1:] + (len(self.text),)
        return [(i + 1, start, end) for i, (start, end) in enumerate(zip(self.page_starts, ends))]


def page_of(page_starts: tuple[int, ...], offset: int) -> int | None:
    """The 1-based page whose range holds `offset` (see Document.page_starts)."""
    if not page_starts:
        return None
    return max(1, bisect.bisect_right(page_starts, offset))


@dataclass(frozen=True)
class BadDocument:
    """A record that was skipped, with where it came from and why."""

    source: str
    reason: str
    line: int | None = None
    doc_id: str | None = None

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line is not None else "")
        who = f" (id {self.doc_id})" if self.doc_id else ""
        return f"{where}{who}: {self.reason}"


@dataclass(frozen=True)
class Sentence:
    doc_id: str
    index: int  # position in the document
    start: int  # character offsets in the document text
    end: int
    text: str


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    index: int
    text: str
    start: int  # character offsets in the document text
    end: int
    sent_start: int  # document sentence indices covered: [sent_start, sent_end)
    sent_end: int
    own_sent_start: int  # first sentence this chunk owns (the rest overlap the previous chunk)


@dataclass(frozen=True)
class Aspect:
    title: str
    sent_start: int  # [sent_start, sent_end) in document sentence indices
    sent_end: int
    parent: int | None = None  # index of the parent aspect for sub-aspects


@dataclass(frozen=True)
class Structure:
    """StruXGPT's view of a document: a scope and aspects over verbatim sentences."""

    doc_id: str
    scope: str
    aspects: tuple[Aspect, ...]
    method: str  # "offline" or "llm:<model>"

    def render(self, sentences: list[Sentence]) -> str:
        """Scope.\\n1. Aspect: sentences ... (the StruXGPT rendering used in later prompts)."""
        lines = [self.scope.rstrip(".") + "."]
        for number, aspect in enumerate(a for a in self.aspects if a.parent is None):
            body = " ".join(s.text for s in sentences[aspect.sent_start : aspect.sent_end])
            lines.append(f"{number + 1}. {aspect.title}: {body}")
        return "\n".join(lines)
