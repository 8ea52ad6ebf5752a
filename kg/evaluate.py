"""Extraction quality against kg-for-science style annotations: precision, recall and F1 per type
and micro-averaged, with exact and lenient span matching.

Annotation records are JSON lines `{"title", "abstract", "tagged_abstract", "tagged_phrases", ...}`
where `tagged_abstract` carries inline `<type>...</type>` tags. What is evaluated:

- The text is `tagged_abstract` with its tags removed and whitespace collapsed to single spaces
  (as the corpus loader does). It differs from `abstract` in a few records (LaTeX rendered, a typo
  fixed), and it is the text the annotators tagged, so gold offsets are exact; the extractor runs
  over the same text, chunked as the pipeline chunks documents.
- Titles are not evaluated: the pipeline extracts from document text only, never from titles.
- Gold spans come from the tags, every occurrence, nested tags included (`<dataset><instrument>
  ATCA</instrument> observations</dataset>` gives two spans), with surrounding whitespace trimmed.
  Malformed tags are repaired: a closing tag without `>` (`</dataset at`) still closes; a tag
  re-opened where it should close (`<instrument>Chandra<instrument>`) closes; anything still
  unmatched is dropped.
- A span is (start, end, type); duplicate spans count once.

Counting:
- exact: a prediction is a true positive when a gold span has the same start, end and type.
  precision = matched predictions / predictions, recall = matched gold spans / gold spans.
- lenient: a prediction is a true positive when it overlaps (shares at least one character
  with) a gold span of the same type; a gold span is recalled when a prediction of the same type
  overlaps it. precision = overlapping predictions / predictions, recall = overlapped gold spans /
  gold spans. One long prediction may recall several gold spans, and several predictions may
  overlap one gold span; each side is counted on its own.
- F1 = 2PR / (P + R); a ratio with a zero denominator is 0.0.
- micro sums the counts over types; per type uses the counts of that type only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol

from corpus.chunking import chunk_document
from corpus.models import Document
from fieldmap.settings import Settings
from kg.extract import ChunkText, Extraction
from schemas import Schema, load_schema

MODES = ("offline", "llm")
NO_LLM = "no LLM configured (set OPENAI_BASE_URL)"


class Extractor(Protocol):
    method: str

    def extract(self, chunks: list[ChunkText]) -> list[Extraction]: ...


ExtractorFactory = Callable[[Settings, Schema], Extractor]


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    type: str


@dataclass(frozen=True)
class AnnotatedText:
    line: int  # 1-based line of the annotation file
    title: str
    text: str
    gold: tuple[Span, ...]
    problems: tuple[str, ...]  # tag repairs made while parsing


def parse_tagged(tagged: str, types: Iterable[str]) -> tuple[str, list[Span], list[str]]:
    """The plain text (tags removed, whitespace collapsed), the gold spans in it, and the repairs made
    (positions in the problems are offsets in the tag-free text before whitespace was collapsed)."""
    names = sorted(set(types), key=len, reverse=True)
    tag = re.compile(r"<(/?)(" + "|".join(map(re.escape, names)) + r")\b(>?)")
    raw: list[str] = []
    raw_spans: list[tuple[int, int, str]] = []
    problems: list[str] = []
    stack: list[tuple[str, int]] = []  # open tags: (type, raw offset)
    position, length = 0, 0

    def close_unmatched(unclosed: list[tuple[str, int]]) -> None:
        # "<t>X<t>" with nothing closing either: the second opening tag was meant to close the first
        index = 0
        while index < len(unclosed):
            kind, start = unclosed[index]
            if index + 1 < len(unclosed) and unclosed[index + 1][0] == kind:
                raw_spans.append((start, unclosed[index + 1][1], kind))
                problems.append(f"<{kind}> at {start} closed by a second <{kind}>")
                index += 2
            else:
                problems.append(f"<{kind}> at {start} never closed; dropped")
                index += 1

    for match in tag.finditer(tagged):
        raw.append(tagged[position : match.start()])
        length += match.start() - position
        position = match.end()
        closing, kind, bracket = match.group(1) == "/", match.group(2), match.group(3)
        if not bracket:
            problems.append(f"tag {match.group(0)!r} without '>' at {length}")
        if not closing:
            stack.append((kind, length))
            continue
        opened = next((i for i in range(len(stack) - 1, -1, -1) if stack[i][0] == kind), None)
        if opened is None:
            problems.append(f"</{kind}> at {length} closes nothing; ignored")
            continue
        close_unmatched(stack[opened + 1 :])
        raw_spans.append((stack[opened][1], length, kind))
        del stack[opened:]
    raw.append(tagged[position:])
    close_unmatched(stack)
    raw_text = "".join(raw)
    text, offsets = _collapse_whitespace(raw_text)
    spans = set()
    for start, end, kind in raw_spans:
        while start < end and raw_text[start].isspace():
            start += 1
        while end > start and raw_text[end - 1].isspace():
            end -= 1
        if start < end:
            spans.add(Span(offsets[start], offsets[end - 1] + 1, kind))
    return text, sorted(spans, key=lambda s: (s.start, s.end, s.type)), problems


def _collapse_whitespace(raw: str) -> tuple[str, list[int]]:
    """Runs of whitespace become one space, the ends are stripped; offsets[i] is where raw[i] went."""
    out: list[str] = []
    offsets: list[int] = []
    pending_space = False
    for char in raw:
        if char.isspace():
            pending_space = bool(out)
            offsets.append(len(out))
            continue
        if pending_space:
            out.append(" ")
            pending_space = False
        offsets.append(len(out))
        out.append(char)
    return "".join(out), offsets


def load_annotations(path: str | Path, types: Iterable[str]) -> list[AnnotatedText]:
    """Every record of the annotation file with its gold spans; a bad record raises ValueError naming the line."""
    path = Path(path)
    types = set(types)
    records = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            tagged = record["tagged_abstract"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{line_no}: not an annotation record ({type(exc).__name__}: {exc})") from exc
        record_types = types | set(record.get("tagged_phrases") or {})
        text, gold, problems = parse_tagged(tagged, record_types)
        records.append(AnnotatedText(line_no, str(record.get("title") or ""), text, tuple(gold), tuple(problems)))
    return records


def chunk_texts(document: Document, chunk_size: int = 200, overlap: int = 1) -> list[ChunkText]:
    """The document chunked as the pipeline chunks it, each chunk's owned text (as kg.store.pending_chunks builds them)."""
    sentences, chunks = chunk_document(document, chunk_size, overlap)
    texts = []
    for chunk in chunks:
        starts = tuple(s.start for s in sentences[chunk.own_sent_start : chunk.sent_end])
        texts.append(
            ChunkText(
                chunk.chunk_id,
                chunk.doc_id,
                document.text[starts[0] : chunk.end],
                starts[0],
                starts,
                chunk.own_sent_start,
            )
        )
    return texts


def predict(
    records: list[AnnotatedText], extractor: Extractor, chunk_size: int = 200, overlap: int = 1
) -> tuple[list[list[Span]], dict]:
    """The extractor's typed mentions for each record, as spans (all records in one extract call),
    and the chunk counts: a chunk the LLM failed on predicts nothing (its reason is counted)."""
    chunks = [
        c
        for r in records
        for c in chunk_texts(Document(f"line-{r.line}", r.title, r.text, "annotations"), chunk_size, overlap)
    ]
    by_doc: dict[str, set[Span]] = {f"line-{r.line}": set() for r in records}
    if hasattr(extractor, "extract_with_failures"):
        extractions, failures = extractor.extract_with_failures(chunks)
    else:
        extractions, failures = extractor.extract(chunks), []
    for extraction in extractions:
        by_doc[extraction.doc_id].update(Span(m.start, m.end, m.type) for m in extraction.mentions if m.type)
    reasons: dict[str, int] = {}
    for failure in failures:
        kind = failure.reason.split(":", 1)[0]
        reasons[kind] = reasons.get(kind, 0) + 1
    chunk_counts = {"chunks": len(chunks), "failed_chunks": len(failures), "failures_by_reason": reasons}
    return [sorted(by_doc[f"line-{r.line}"], key=lambda s: (s.start, s.end, s.type)) for r in records], chunk_counts


def _prf(tp_predicted: int, predicted: int, tp_gold: int, gold: int) -> dict[str, float]:
    precision = tp_predicted / predicted if predicted else 0.0
    recall = tp_gold / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def score(gold: list[list[Span]], predicted: list[list[Span]], types: Iterable[str] = ()) -> dict:
    """P/R/F1 per type and micro-averaged, exact and lenient (see the module docstring for the counting)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold documents but {len(predicted)} predicted")
    names = list(
        dict.fromkeys([*types, *(s.type for doc in gold for s in doc), *(s.type for doc in predicted for s in doc)])
    )
    # per type: predicted, gold, exact tp, lenient tp among predictions, lenient tp among gold
    counts = {name: [0, 0, 0, 0, 0] for name in names}
    for gold_spans, predicted_spans in zip(gold, predicted):
        gold_set, predicted_set = set(gold_spans), set(predicted_spans)
        for span in predicted_set:
            row = counts[span.type]
            row[0] += 1
            row[2] += span in gold_set
            row[3] += any(_overlaps(span, g) for g in gold_set if g.type == span.type)
        for span in gold_set:
            row = counts[span.type]
            row[1] += 1
            row[4] += any(_overlaps(span, p) for p in predicted_set if p.type == span.type)
    per_type = {
        name: {"exact": _prf(tp, p, tp, g), "lenient": _prf(lp, p, lg, g), "gold": g, "predicted": p}
        for name, (p, g, tp, lp, lg) in counts.items()
    }
    p, g, tp, lp, lg = (sum(row[i] for row in counts.values()) for i in range(5))
    return {"micro": {"exact": _prf(tp, p, tp, g), "lenient": _prf(lp, p, lg, g)}, "per_type": per_type}


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def evaluate_extraction(
    annotations_path: str | Path,
    extractor: Extractor,
    *,
    mode: str | None = None,
    lines: Iterable[int] | None = None,
    chunk_size: int = 200,
    overlap: int = 1,
) -> dict:
    """`{"mode", "micro": {"exact": {precision, recall, f1}, "lenient": {...}}, "per_type": {type: {"exact",
    "lenient", "gold", "predicted"}}, "chunks", "failed_chunks", "failures_by_reason"}` for the extractor over the annotation file (only the given 1-based
    `lines` when set). The mode defaults to "offline" for the spaCy extractor and "llm" otherwise."""
    schema = getattr(extractor, "schema", None)
    types = schema.type_names if schema is not None else []
    records = load_annotations(annotations_path, types)
    if lines is not None:
        wanted = set(lines)
        records = [r for r in records if r.line in wanted]
    predicted, chunk_counts = predict(records, extractor, chunk_size, overlap)
    result = score([list(r.gold) for r in records], predicted, types)
    return {"mode": mode or ("offline" if extractor.method == "spacy" else "llm"), **result, **chunk_counts}


def offline_extractor(settings: Settings, schema: Schema) -> Extractor:
    from fieldmap.embedders import get_embedder
    from fieldmap.nlp import english
    from kg.extract import SpacyExtractor

    return SpacyExtractor(
        schema,
        english(),
        get_embedder(settings),
        settings.max_entity_words,
        settings.min_type_similarity,
        settings.spacy_processes,
    )


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="fieldmap eval extraction", description="Score extraction against annotations."
    )
    parser.add_argument("--annotations", required=True, help="a kg-for-science style annotations .jsonl")
    parser.add_argument("--mode", default="offline", choices=MODES)
    parser.add_argument("--json", dest="json_path", required=True, help="where to write the scores (JSON)")
    parser.add_argument(
        "--schema", default=None, help="science | general | a schema file (default: the settings' schema)"
    )
    return parser


def main(
    argv: list[str] | None = None, settings: Settings | None = None, llm_factory: ExtractorFactory | None = None
) -> int:
    """`fieldmap eval extraction --annotations FILE.jsonl --mode offline|llm --json OUT [--schema NAME]`."""
    return run(build_parser().parse_args(argv), settings or Settings.load(), llm_factory)


def run(args: argparse.Namespace, settings: Settings, llm_factory: ExtractorFactory | None = None) -> int:
    """Score the extractor of `args.mode`, write the scores to `args.json_path`, print the micro figures.

    `llm_factory(settings, schema)` builds the LLM extractor; without a configured LLM (or a factory)
    llm mode raises RuntimeError."""
    if not Path(args.annotations).exists():
        raise FileNotFoundError(f"annotations file {args.annotations} does not exist")
    schema = load_schema(args.schema or settings.schema_name)
    if args.mode == "llm":
        if not settings.llm_enabled:
            raise RuntimeError(NO_LLM)
        if llm_factory is None:
            raise RuntimeError("no LLM extractor available to evaluate (none was registered)")
        extractor = llm_factory(settings, schema)
    else:
        extractor = offline_extractor(settings, schema)
    result = evaluate_extraction(
        args.annotations, extractor, mode=args.mode, chunk_size=settings.chunk_size, overlap=settings.chunk_overlap
    )
    Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    micro = result["micro"]
    for matching in ("exact", "lenient"):
        m = micro[matching]
        print(f"{args.mode} {matching:>7}: P {m['precision']:.3f}  R {m['recall']:.3f}  F1 {m['f1']:.3f}")
    if result["failed_chunks"]:
        print(
            f"{result['failed_chunks']} of {result['chunks']} chunks failed (scored as predicting nothing): {result['failures_by_reason']}"
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
