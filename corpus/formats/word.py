"""Word .docx files with python-docx: paragraphs and table rows in document order."""

from __future__ import annotations

import io
from pathlib import Path

from corpus.formats.base import Extracted, Unreadable, collapse


def read_docx(path: Path, data: bytes) -> Extracted:
    import docx
    from docx.table import Table

    if not data.startswith(b"PK"):
        raise Unreadable("not a DOCX: not a ZIP container")
    document = docx.Document(io.BytesIO(data))
    blocks, heading = [], ""
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            blocks += [" ".join(collapse(cell.text) for cell in row.cells) for row in item.rows]
            continue
        blocks.append(item.text)
        style = (item.style.name if item.style is not None else "") or ""
        if not heading and style.startswith(("Heading", "Title")):
            heading = collapse(item.text)
    text = collapse("\n".join(blocks))
    if not text:
        raise Unreadable("empty text")
    title = collapse(document.core_properties.title or "") or heading or path.stem
    return Extracted(title, text, (), None, {"format": "docx"})
