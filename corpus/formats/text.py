"""Plain text and markdown files: UTF-8 (a byte-order mark is dropped) or BOM-marked UTF-16."""

from __future__ import annotations

from pathlib import Path

from corpus.formats.base import Extracted, Unreadable, collapse

BINARY_MAGIC = {
    b"%PDF-": "a PDF",
    b"PK\x03\x04": "a ZIP archive (DOCX, XLSX, ...)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\xd0\xcf\x11\xe0": "an old Office (OLE) file",
}


def read_text(path: Path, data: bytes) -> Extracted:
    content = decode_text(data, path.suffix)
    title, body = split_title(content, path.stem)
    return Extracted(title, collapse(body), metadata={"format": "text"})


def decode_text(data: bytes, suffix: str = ".txt") -> str:
    """The file's text, or Unreadable naming what it is instead (a PDF or other binary under a text
    name, a NUL byte, bytes that are not UTF-8) and the line where the problem is."""
    for magic, what in BINARY_MAGIC.items():
        if data.lstrip(b"\xef\xbb\xbf")[: len(magic)] == magic:
            raise Unreadable(f"{what} with a {suffix} name: give it its real extension to load it", line=1)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise Unreadable(
                f"not valid UTF-16 ({exc.reason})", line=data[: exc.start].decode("utf-16", "replace").count("\n") + 1
            )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise Unreadable(f"NUL byte at byte {nul}: a binary file, not text", line=data.count(b"\n", 0, nul) + 1)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 ({exc.reason} at byte {exc.start})", line=data.count(b"\n", 0, exc.start) + 1)


def split_title(content: str, fallback: str) -> tuple[str, str]:
    """A leading markdown heading becomes the title; otherwise the file name does."""
    lines = content.lstrip().splitlines()
    if lines and lines[0].startswith("#"):
        return lines[0].lstrip("#").strip() or fallback, "\n".join(lines[1:])
    return fallback, content
