"""What every reader shares: the extracted document, the error that reports an unreadable file, whitespace rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


class Unreadable(Exception):
    """The file cannot become a document; `reason` says why in one line, `line` where (text files)."""

    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.line = line


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    page_starts: tuple[int, ...] = ()  # character offset in `text` where each page begins (paged formats)
    date: date | None = None
    metadata: dict = field(default_factory=dict)


def collapse(text: str) -> str:
    """Runs of whitespace become one space; NUL and other C0 controls (not tab or newline) go."""
    return " ".join(text.translate(_CONTROLS).split())


_CONTROLS = {c: None for c in range(32) if chr(c) not in "\t\n\r\f\v"}


def join_pages(pages: list[str]) -> tuple[str, tuple[int, ...]]:
    """Collapsed page texts joined by one space, and where each page starts; page i covers
    [starts[i], starts[i + 1]) (the last page runs to the end), so every character has one page."""
    text, starts = "", []
    for page in pages:
        body = collapse(page)
        if text and body:
            text += " "
        starts.append(len(text))
        text += body
    return text, tuple(starts)
