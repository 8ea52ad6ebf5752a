"""Readers for single document files: plain text and markdown, PDF, HTML and DOCX.

Each reader takes the file's path and bytes and returns an `Extracted` (title, whitespace-collapsed
text, page boundaries for paged formats, a date when the file states one), or raises `Unreadable`
with a one-line reason (and the line, for text files) that the loader reports in `skipped`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable


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


def _readers() -> dict[str, tuple[str, Callable[[Path, bytes], Extracted]]]:
    from corpus.formats import pdf, text, webpage, word

    return {
        ".txt": ("text", text.read_text), ".md": ("text", text.read_text), ".markdown": ("text", text.read_text),
        ".pdf": ("PDF", pdf.read_pdf), ".html": ("HTML", webpage.read_html), ".htm": ("HTML", webpage.read_html),
        ".docx": ("DOCX", word.read_docx),
    }


SUFFIXES = frozenset((".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".docx"))


def read_document(path: Path, data: bytes) -> Extracted:
    """The reader for the file's suffix applied to its bytes; any failure inside a parser becomes
    `Unreadable` naming the format, so one bad file never stops a load."""
    kind, reader = _readers()[path.suffix.lower()]
    try:
        return reader(path, data)
    except Unreadable:
        raise
    except Exception as exc:  # a parser's own error on a malformed file; the run goes on without it
        detail = " ".join(str(exc).split())[:200]
        raise Unreadable(f"cannot parse as {kind}: {type(exc).__name__}{': ' + detail if detail else ''}") from exc
