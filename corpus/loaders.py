"""Read documents from JSONL files and folders of .txt/.md files.

Bad records never stop a load: each becomes a BadDocument naming the file, line or id and the reason.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from corpus.models import BadDocument, Document, content_hash

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
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
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
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
    """Every .txt/.md file below folder; the id is the path relative to the folder."""
    result = LoadResult()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES):
        rel_id = path.relative_to(folder).as_posix()
        try:
            content = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            result.bad.append(BadDocument(str(path), f"not UTF-8 ({exc.reason} at byte {exc.start})", doc_id=rel_id))
            continue
        title, body = _split_title(content, path.stem)
        text = " ".join(body.split())
        if not text:
            result.bad.append(BadDocument(str(path), "empty text", doc_id=rel_id))
            continue
        result.documents.append(Document(rel_id, title, text, str(folder), None, {"path": str(path)}))
    return result


def _split_title(content: str, fallback: str) -> tuple[str, str]:
    """A leading markdown heading becomes the title; otherwise the file name does."""
    lines = content.lstrip().splitlines()
    if lines and lines[0].startswith("#"):
        return lines[0].lstrip("#").strip() or fallback, "\n".join(lines[1:])
    return fallback, content
