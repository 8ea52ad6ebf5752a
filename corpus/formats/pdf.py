"""PDF text with pypdfium2 (PDFium's text layer, page by page; chosen in benchmarks/loaders.py).

The document text is the pages' text joined in order, and `page_starts` records where each page
begins, so every sentence, chunk, mention and triplet can be traced to its page (see the `pages`
table and the `*_pages` views in schemas/ddl.sql). No OCR: a PDF without a text layer is skipped.
"""

from __future__ import annotations

from pathlib import Path

from corpus.formats.base import Extracted, Unreadable, collapse, join_pages

# PDFium writes a hyphen that ends a line as U+0002 (or U+FFFE), with no line break after it,
# whether the word was split there or is a compound ("citizen-science"): it becomes a hyphen again,
# since dropping it breaks the far more common compounds (benchmarks/loaders.py)
LINE_END_HYPHENS = ("\x02", "\ufffe")


def read_pdf(path: Path, data: bytes) -> Extracted:
    import pypdfium2 as pdfium

    check_envelope(data)
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise Unreadable("encrypted PDF: it needs a password to open") from exc
        raise Unreadable(f"damaged PDF: {exc}") from exc
    try:
        pages = [page_text(pdf[i]) for i in range(len(pdf))]
        info = pdf.get_metadata_dict(skip_empty=True)
    finally:
        pdf.close()
    text, starts = join_pages(pages)
    if not text:
        raise Unreadable(f"no text layer in its {len(pages)} page(s): a scanned PDF? run OCR on it first")
    empty = [i + 1 for i, p in enumerate(pages) if not p.strip()]
    title = collapse(info.get("Title", "")) or path.stem
    metadata = {"format": "pdf", "pages": len(pages)} | ({"pages_without_text": empty} if empty else {})
    return Extracted(title, text, starts, None, metadata)


def check_envelope(data: bytes) -> None:
    """A PDF starts with %PDF- (in its first 1 KB) and ends with %%EOF (in its last 2 KB): a file cut
    short loses the end marker, and PDFium would otherwise repair it silently into fewer pages."""
    if b"%PDF-" not in data[:1024]:
        raise Unreadable("not a PDF: no %PDF- header")
    if b"%%EOF" not in data[-2048:]:
        raise Unreadable("truncated PDF: no %%EOF end marker (the file was cut short)")


def page_text(page) -> str:
    """One page's text; a word hyphenated across a line end is joined with its hyphen (a true soft
    hyphen, U+00AD, is dropped)."""
    textpage = page.get_textpage()
    try:
        raw = textpage.get_text_bounded()
    finally:
        textpage.close()
        page.close()
    raw = raw.replace("\r\n", "\n")
    for hyphen in LINE_END_HYPHENS:
        raw = raw.replace(hyphen + "\n", "-").replace(hyphen, "-")
    return raw.replace("-\n", "-").replace("\u00ad\n", "").replace("\u00ad", "")
