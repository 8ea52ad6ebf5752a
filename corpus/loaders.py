"""Read documents from JSONL files, document files (PDF, HTML, DOCX, text, markdown) and folders of them.

Bad records never stop a load: each becomes a BadDocument naming the file, line or id and the reason.
Per-format readers live in corpus/formats/; the folder walk (symlink loops, unreadable entries) in
corpus/walk.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from corpus.formats import SUFFIXES, Unreadable, read_document
from corpus.models import BadDocument, Document, content_hash
from corpus.walk import os_reason, walk_files

DOCUMENT_SUFFIXES = SUFFIXES  # a single file with one of these is one document; any other file is JSONL
TEXT_KEYS = ("text", "summary", "abstract", "body", "content")
DATE_KEYS = ("date", "published", "created")


@dataclass
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    bad: list[BadDocument] = field(default_factory=list)


def load_corpus(paths: list[str | Path]) -> LoadResult:
    """Load every path (a JSONL file or a folder); ids must be unique across them."""
    result = LoadResult()
    seen: dict[str, str] = {}
    for path in map(Path, paths):
        if path.is_dir():
            part = load_folder(path)
        elif path.is_file() and path.suffix.lower() in DOCUMENT_SUFFIXES:
            part = load_file(path)
        elif path.is_file():
            part = load_jsonl(path)
        else:
            result.bad.append(BadDocument(str(path), "no such file or folder"))
            continue
        result.bad.extend(part.bad)
        for doc in part.documents:
            if doc.doc_id in seen:
                result.bad.append(BadDocument(doc.source, f"duplicate id, first read from {seen[doc.doc_id]}", doc_id=doc.doc_id))
                continue
            seen[doc.doc_id] = doc.source
            result.documents.append(doc)
    return result


def load_jsonl(path: Path) -> LoadResult:
    result = LoadResult()
    try:
        handle = open(path, "rb")
    except OSError as exc:
        result.bad.append(BadDocument(str(path), f"cannot read: {os_reason(exc)}"))
        return result
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8-sig" if line_no == 1 else "utf-8"))
            except UnicodeDecodeError as exc:
                result.bad.append(BadDocument(str(path), f"not UTF-8 ({exc.reason} at byte {exc.start})", line=line_no))
                continue
            except json.JSONDecodeError as exc:
                result.bad.append(BadDocument(str(path), f"malformed JSON: {exc.msg} at column {exc.colno}", line=line_no))
                continue
            doc = _record_to_document(record, str(path), line_no)
            if isinstance(doc, str):
                doc_id = str(record.get("id")) if isinstance(record, dict) and record.get("id") else None
                result.bad.append(BadDocument(str(path), doc, line=line_no, doc_id=doc_id))
            else:
                result.documents.append(doc)
    return result


def _record_to_document(record: object, source: str, line_no: int) -> Document | str:
    """A Document, or the reason the record cannot be one."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    text = next((record[k] for k in TEXT_KEYS if isinstance(record.get(k), str)), None)
    if text is None:
        return f"no text field (one of {', '.join(TEXT_KEYS)})"
    text = " ".join(text.split())
    if not text:
        return "empty text"
    title = " ".join(str(record.get("title") or "").split())
    raw_id = record.get("id")
    doc_id = str(raw_id) if raw_id not in (None, "") else "sha1:" + content_hash(title + "\n" + text)[:16]
    metadata = {k: v for k, v in record.items() if k not in ("id", "title", *TEXT_KEYS)} | {"line": line_no}
    return Document(doc_id, title, text, source, _parse_date(record), metadata)


def _parse_date(record: dict) -> date | None:
    for key in DATE_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
            except ValueError:
                continue
    return None


def load_folder(folder: Path) -> LoadResult:
    """Every document file below folder (see DOCUMENT_SUFFIXES); the id is the path relative to the folder."""
    files, bad = walk_files(folder, DOCUMENT_SUFFIXES)
    result = LoadResult(bad=bad)
    for path in files:
        _add(result, path, path.relative_to(folder).as_posix(), str(folder))
    return result


def load_file(path: Path) -> LoadResult:
    """One document file given on its own; its id is its file name."""
    result = LoadResult()
    _add(result, path, path.name, str(path))
    return result


def _add(result: LoadResult, path: Path, doc_id: str, source: str) -> None:
    """Read one file into result: a Document, or a BadDocument naming the file, line and reason."""
    try:
        data = path.read_bytes()
    except OSError as exc:  # unreadable (permissions, I/O error, vanished): reported, the load goes on
        result.bad.append(BadDocument(str(path), f"cannot read: {os_reason(exc)}", doc_id=doc_id))
        return
    try:
        found = read_document(path, data)
    except Unreadable as exc:
        result.bad.append(BadDocument(str(path), exc.reason, line=exc.line, doc_id=doc_id))
        return
    if not found.text:
        result.bad.append(BadDocument(str(path), "empty text", doc_id=doc_id))
        return
    metadata = {"path": str(path)} | found.metadata
    result.documents.append(Document(doc_id, found.title, found.text, source, found.date, metadata, found.page_starts))
