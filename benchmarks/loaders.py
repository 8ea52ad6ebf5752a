"""Compare document-text extractors on files whose source text is known, for text quality and speed.

    PYTHONPATH=. .venv/bin/python benchmarks/loaders.py [--docs 120] [--markitdown DIR]

Fixtures are made from the demo corpus (examples/astro-ph-1000.jsonl): its abstracts are printed
into a multi-page PDF by headless Chromium (one abstract per section, pages breaking where they
fall), wrapped in HTML pages with navigation, a sidebar and a footer around the article, and
written into DOCX files with python-docx. Quality is the bag-of-words recall of the source text
(how much of it came out) and precision (how much of what came out is source text: boilerplate
and garbled words lower it), over lower-cased alphanumeric words. Speed is pages (PDF) or files
per second, single-threaded, best of 3 runs. markitdown is measured when importable (install it
into a separate folder and pass --markitdown DIR, so it does not enter the project's venv).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
BOILERPLATE = (
    "Home News Missions About us Log in Subscribe to our newsletter",
    "Popular this week: Ten facts about comets. How to see the aurora. Our best photos of Saturn.",
    "Copyright 2024 Observatory News. All rights reserved. Cookie settings. Privacy policy. Contact.",
)


def words(text: str) -> Counter:
    return Counter(re.findall(r"[a-z0-9]+", text.lower()))


def quality(source: str, extracted: str) -> tuple[float, float]:
    src, out = words(source), words(extracted)
    common = sum((src & out).values())
    return common / max(1, sum(src.values())), common / max(1, sum(out.values()))


def abstracts(n: int) -> list[tuple[str, str]]:
    rows = []
    with open(ROOT / "examples" / "astro-ph-1000.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            rows.append((" ".join(record["title"].split()), " ".join(record["summary"].split())))
            if len(rows) == n:
                break
    return rows


def make_pdf(items: list[tuple[str, str]], out: Path) -> str:
    body = "".join(f"<h2>{html.escape(t)}</h2><p>{html.escape(a)}</p>" for t, a in items)
    page = out.with_suffix(".html")
    page.write_text(
        f"<html><head><meta charset='utf-8'><title>Benchmark</title></head>"
        f"<body style='font-family:serif;font-size:11pt;margin:2cm'>{body}</body></html>",
        encoding="utf-8",
    )
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                shutil.which("chromium") or "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--no-pdf-header-footer",
                f"--print-to-pdf={out}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return " ".join(f"{t} {a}" for t, a in items)


def make_html(title: str, text: str) -> str:
    nav, side, foot = (html.escape(b) for b in BOILERPLATE)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
        f"<header><nav>{nav}</nav></header><aside class='sidebar'><p>{side}</p></aside>"
        f"<main><article><h1>{html.escape(title)}</h1>"
        + "".join(f"<p>{html.escape(s)}.</p>" for s in text.split(". ") if s)
        + f"</article></main><footer><p>{foot}</p></footer></body></html>"
    )


def make_docx(title: str, text: str, out: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    for sentence in text.split(". "):
        document.add_paragraph(sentence + ".")
    document.save(out)


# ---------------------------------------------------------------- candidates


def pdf_pypdfium2(path: Path) -> tuple[str, int]:
    from corpus.formats.pdf import read_pdf

    found = read_pdf(path, path.read_bytes())
    return found.text, len(found.page_starts)


def pdf_pypdf(path: Path) -> tuple[str, int]:
    from pypdf import PdfReader

    reader = PdfReader(path)
    return " ".join(page.extract_text() or "" for page in reader.pages), len(reader.pages)


def html_trafilatura(data: bytes) -> str:
    from corpus.formats.webpage import read_html

    return read_html(Path("x.html"), data).text


def html_all_text(data: bytes) -> str:
    import trafilatura

    return trafilatura.html2txt(data)


def docx_python_docx(path: Path) -> str:
    from corpus.formats.word import read_docx

    return read_docx(path, path.read_bytes()).text


def markitdown_convert(path: Path) -> str:
    from markitdown import MarkItDown

    return MarkItDown(enable_plugins=False).convert(str(path)).text_content


def best_of(fn: Callable[[], object], label: str, runs: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    print(f"{label}: best of {runs} {best:.2f} s", file=sys.stderr, flush=True)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=120, help="abstracts per fixture set")
    parser.add_argument(
        "--markitdown", help="a folder holding markitdown (pip install --target DIR markitdown[pdf,docx])"
    )
    args = parser.parse_args()
    if args.markitdown:
        sys.path.append(args.markitdown)
    try:
        import markitdown  # noqa: F401

        have_markitdown = True
    except ImportError:
        have_markitdown = False
    items = abstracts(args.docs)
    rows = Rows()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pdf = tmp / "abstracts.pdf"
        source = make_pdf(items, pdf)
        print(f"printed {pdf.stat().st_size} bytes", file=sys.stderr, flush=True)
        pdf_candidates = {"pypdfium2": pdf_pypdfium2, "pypdf": pdf_pypdf}
        if have_markitdown:
            pdf_candidates["markitdown (pdfminer.six)"] = lambda p: (markitdown_convert(p), None)
        pages = pdf_pypdfium2(pdf)[1]
        for name, fn in pdf_candidates.items():
            seconds, (text, _) = best_of(lambda: fn(pdf), name)
            rows.append(("PDF", name, *quality(source, text), f"{pages / seconds:.1f} pages/s", f"{pages} pages"))

        pages_html = []
        for i, (t, a) in enumerate(items):
            pages_html.append(tmp / f"p{i}.html")
            pages_html[-1].write_text(make_html(t, a), encoding="utf-8")
        sources = [f"{t} {a}" for t, a in items]
        html_candidates = {
            "trafilatura (main text)": lambda p: html_trafilatura(p.read_bytes()),
            "all visible text (html2txt)": lambda p: html_all_text(p.read_bytes()),
        }
        if have_markitdown:
            html_candidates["markitdown"] = markitdown_convert
        for name, fn in html_candidates.items():
            seconds, texts = best_of(lambda: [fn(p) for p in pages_html], name)
            recall, precision = _mean_quality(sources, texts)
            rows.append(("HTML", name, recall, precision, f"{len(items) / seconds:.1f} files/s", f"{len(items)} pages"))

        docx_files = []
        for i, (t, a) in enumerate(items):
            docx_files.append(tmp / f"d{i}.docx")
            make_docx(t, a, docx_files[-1])
        docx_candidates = {"python-docx": docx_python_docx}
        if have_markitdown:
            docx_candidates["markitdown (mammoth)"] = markitdown_convert
        for name, fn in docx_candidates.items():
            seconds, texts = best_of(lambda: [fn(p) for p in docx_files], name)
            recall, precision = _mean_quality(sources, texts)
            rows.append(("DOCX", name, recall, precision, f"{len(items) / seconds:.1f} files/s", f"{len(items)} files"))


class Rows:
    """Prints the markdown table row by row, as each candidate finishes."""

    def __init__(self) -> None:
        print("| format | extractor | word recall | word precision | speed | fixture |")
        print("|---|---|---|---|---|---|", flush=True)

    def append(self, row: tuple) -> None:
        fmt, name, recall, precision, speed, what = row
        print(f"| {fmt} | {name} | {recall:.3f} | {precision:.3f} | {speed} | {what} |", flush=True)


def _mean_quality(sources: list[str], texts: list[str]) -> tuple[float, float]:
    scores = [quality(s, t) for s, t in zip(sources, texts)]
    return sum(r for r, _ in scores) / len(scores), sum(p for _, p in scores) / len(scores)


if __name__ == "__main__":
    main()
