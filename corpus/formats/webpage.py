"""HTML pages: the main text with trafilatura (navigation, sidebars and footers left out; chosen in
benchmarks/loaders.py), its title and the page's stated publication date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from corpus.formats.base import Extracted, Unreadable, collapse

# only dates the page states in its metadata (no guessing from the body text), the original one
DATE_PARAMS = {"extensive_search": False, "original_date": True}


def read_html(path: Path, data: bytes) -> Extracted:
    import trafilatura

    found = (
        trafilatura.bare_extraction(
            data,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            date_extraction_params=DATE_PARAMS,
            as_dict=True,
        )
        or {}
    )
    text = collapse(found.get("text") or "")
    if not text:  # too little structure for main-text extraction: all of the page's visible text
        text = collapse(trafilatura.html2txt(data) or "")
    if not text:
        raise Unreadable("no text in the HTML page")
    title = collapse(found.get("title") or "") or path.stem
    return Extracted(title, text, (), parse_date(found.get("date")), {"format": "html"})


def parse_date(value: object) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
