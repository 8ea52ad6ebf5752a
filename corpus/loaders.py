"""Read documents from JSONL files, document files (PDF, HTML, DOCX, text, markdown) and folders of them.

Bad records never stop a load: each becomes a BadDocument naming the file, line or id and the reason.
What one record may cost is bounded (Limits, from the settings): a JSONL record nested deeper than
max_json_depth is a bad record, and a document longer than max_document_chars is cut there, kept, and
listed with its size. Per-format readers live in corpus/formats/; the folder walk (symlink loops,
unreadable entries, files of no document format) in corpus/walk.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

from corpus.formats import SUFFIXES, Unreadable, read_document
from corpus.models import BadDocument, Document, content_hash
from corpus.walk import os_reason, walk_files
from fieldmap.settings import Settings

DOCUMENT_SUFFIXES = SUFFIXES  # a single file with one of these is one document; any other file is JSONL
TEXT_KEYS = ("text", "summary", "abstract", "body", "content")
DATE_KEYS = ("date", "published", "created")


@dataclass(frozen=True)
class Limits:
    """What one record may cost (Settings.max_document_chars, Settings.max_json_depth)."""

    max_chars: int = Settings.model_fields["max_document_chars"].default
    max_json_depth: int = Settings.model_fields["max_json_depth"].default

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(settings.max_document_chars, settings.max_json_depth)


@dataclass
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    bad: list[BadDocument] = field(default_factory=list)
    cut: list[BadDocument] = field(
        default_factory=list
    )  # documents kept up to the limit: listed in `skipped`, yet loaded


def load_corpus(paths: list[str | Path], limits: Limits = Limits()) -> LoadResult:
    """Load every path (a JSONL file or a folder); ids must be unique across them."""
    result = LoadResult()
    seen: dict[str, str] = {}
    for path in map(Path, paths):
        if path.is_dir():
            part = load_folder(path)
        elif path.is_file() and path.suffix.lower() in DOCUMENT_SUFFIXES:
            part = load_file(path)
        elif path.is_file():
            part = load_jsonl(path, limits.max_json_depth)
        else:
            result.bad.append(BadDocument(str(path), "no such file or folder"))
            continue
        result.bad.extend(part.bad)
        part.documents = _cut(part.documents, limits.max_chars, result.cut)
        for doc in part.documents:
            if doc.doc_id in seen:
                result.bad.append(
                    BadDocument(doc.source, f"duplicate id, first read from {seen[doc.doc_id]}", doc_id=doc.doc_id)
                )
                continue
            seen[doc.doc_id] = doc.source
            result.documents.append(doc)
    return result


def _cut(documents: list[Document], max_chars: int, cut: list[BadDocument]) -> list[Document]:
    """Documents over `max_chars` cut there (at the last space before it, if one is near), each listed with its size."""
    kept = []
    for doc in documents:
        if len(doc.text) > max_chars:
            space = doc.text.rfind(" ", max_chars - 1000, max_chars + 1)
            text = doc.text[: space if space > 0 else max_chars]
            cut.append(
                BadDocument(
                    doc.source,
                    f"{len(doc.text):,} characters: indexed up to the first {len(text):,} "
                    f"(max_document_chars is {max_chars:,})",
                    line=doc.metadata.get("line"),
                    doc_id=doc.doc_id,
                )
            )
            doc = replace(
                doc, text=text, metadata=doc.metadata, page_starts=tuple(p for p in doc.page_starts if p < len(text))
            )
        kept.append(doc)
    return kept


def load_jsonl(path: Path, max_depth: int = Limits.max_json_depth) -> LoadResult:
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
                result.bad.append(
                    BadDocument(str(path), f"malformed JSON: {exc.msg} at column {exc.colno}", line=line_no)
                )
                continue
            except RecursionError:  # deeper than Python's parser goes: deeper than any limit we allow
                result.bad.append(
                    BadDocument(str(path), f"JSON nested deeper than {max_depth} levels (max_json_depth)", line=line_no)
                )
                continue
            if _deeper_than(record, max_depth):
                result.bad.append(
                    BadDocument(str(path), f"JSON nested deeper than {max_depth} levels (max_json_depth)", line=line_no)
                )
                continue
            doc = _record_to_document(record, str(path), line_no)
            if isinstance(doc, str):
                doc_id = str(record.get("id")) if isinstance(record, dict) and record.get("id") else None
                result.bad.append(BadDocument(str(path), doc, line=line_no, doc_id=doc_id))
            else:
                result.documents.append(doc)
    return result


def _deeper_than(value: object, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels in `value` (without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


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
