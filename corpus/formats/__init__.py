"""Readers for single document files: plain text and markdown, PDF, HTML and DOCX.

Each reader takes the file's path and bytes and returns an `Extracted` (title, whitespace-collapsed
text, page boundaries for paged formats, a date when the file states one), or raises `Unreadable`
with a one-line reason (and the line, for text files) that the loader reports in `skipped`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from corpus.formats.base import Extracted, Unreadable, collapse, join_pages

__all__ = ["Extracted", "Unreadable", "collapse", "join_pages", "read_document", "SUFFIXES"]


def _readers() -> dict[str, tuple[str, Callable[[Path, bytes], Extracted]]]:
    from corpus.formats import pdf, text, webpage, word

    return {
        ".txt": ("text", text.read_text),
        ".md": ("text", text.read_text),
        ".markdown": ("text", text.read_text),
        ".pdf": ("PDF", pdf.read_pdf),
        ".html": ("HTML", webpage.read_html),
        ".htm": ("HTML", webpage.read_html),
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
