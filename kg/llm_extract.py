"""Schema-constrained extraction with an LLM: typed entities and triplets per chunk.

The answer's entity types and relation names are the schema's (an unknown relation becomes
`related_to`, its name kept as the predicate). Entity names are aligned back to character
offsets in the chunk; a name not found in the text is dropped and counted, never guessed. A
chunk whose answer stays invalid after one repair becomes a FailedChunk with the reason.
"""

from __future__ import annotations

import bisect
import json
import re
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, create_model, model_validator

from fieldmap.llm import LLMClient
from fieldmap.llm_cache import reason_kind
from fieldmap.prompts import Prompt, llm_code_version, load_prompt
from fieldmap.settings import Settings
from kg.extract import ChunkText, Extraction, Mention, Relation
from kg.normalize import normalize_name
from kg.store import FailedChunk
from schemas import Schema, SchemaError
from schemas.loader import BUILT_IN


def find_spans(text: str, name: str) -> list[tuple[int, int]]:
    """Every place `name` occurs in `text` as whole words (not inside "radio-continuum" for
    "radio"), in any case (a sentence may capitalise it); any run of whitespace in the name
    matches any run in the text."""
    words = name.split()
    if not words:
        return []
    pattern = r"(?<![\w-])" + r"\s+".join(re.escape(w) for w in words) + r"(?![\w-])"
    return [(m.start(), m.end()) for m in re.finditer(pattern, text, re.IGNORECASE)]


def extraction_model(schema: Schema) -> type[BaseModel]:
    """The answer's pydantic model: entity types and relation names are enums of the schema's.
    Validation context: {"text": the chunk text} (at least one entity must occur in it)."""
    relations = tuple(r.name for r in schema.relation_types)
    forbid = ConfigDict(extra="forbid")

    def unknown_relation_to_related(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("relation"), str) and data["relation"] not in relations:
            data = {
                **data,
                "relation": "related_to",
                "predicate": data.get("predicate") or data["relation"].replace("_", " "),
            }
        return data

    def names_occur_in_text(self, info: ValidationInfo):
        text = (info.context or {}).get("text")
        if text is not None and not any(
            len(normalize_name(e.name)) >= 2 and find_spans(text, e.name) for e in self.entities
        ):
            raise ValueError(
                "none of the entity names occurs in the text; copy each name exactly as it is written there"
            )
        return self

    entity = create_model("Entity", __config__=forbid, name=(str, ...), type=(Literal[tuple(schema.type_names)], ...))
    triplet = create_model(
        "Triplet",
        __config__=forbid,
        subject=(str, ...),
        relation=(Literal[relations], ...),
        predicate=(str, ...),
        object=(str, ...),
        __validators__={"unknown_relation": model_validator(mode="before")(classmethod(unknown_relation_to_related))},
    )
    return create_model(
        "KnowledgeGraph",
        __config__=forbid,
        entities=(list[entity], ...),
        triplets=(list[triplet], ...),
        __validators__={"names_occur": model_validator(mode="after")(names_occur_in_text)},
    )


def examples_path(schema_name: str) -> Path:
    """The few-shot file beside the schema: schemas/science_examples.jsonl for "science",
    my_examples.jsonl beside my.yaml."""
    path = Path(schema_name)
    if not path.suffix:
        return BUILT_IN / f"{schema_name}_examples.jsonl"
    return path.with_name(f"{path.stem}_examples.jsonl")


def load_examples(schema_name: str, schema: Schema) -> list[dict]:
    """Few-shot examples ({text, entities, triplets} per line), each checked against the schema;
    none when there is no file. SchemaError names the file and line of a bad example."""
    path = examples_path(schema_name)
    if not path.exists():
        return []
    model = extraction_model(schema)
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            answer = model.model_validate(
                {"entities": record["entities"], "triplets": record["triplets"]}, context={"text": record["text"]}
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValidationError) as exc:
            raise SchemaError(f"examples {path}:{number}: {exc}") from exc
        examples.append({"text": record["text"], "answer": answer.model_dump(mode="json")})
    return examples


def extraction_messages(prompt: Prompt, schema: Schema, examples: list[dict], text: str) -> list[dict]:
    entity_types = "\n".join(
        f"- {t.name}: {t.description}" + (f" (e.g. {', '.join(t.examples[:3])})" if t.examples else "")
        for t in schema.entity_types
    )
    relation_types = "\n".join(f"- {r.name}: {r.description}" for r in schema.relation_types)
    messages = [
        {"role": "system", "content": prompt.render("system", entity_types=entity_types, relation_types=relation_types)}
    ]
    for example in examples:
        messages.append({"role": "user", "content": prompt.render("user", text=example["text"])})
        messages.append({"role": "assistant", "content": json.dumps(example["answer"], ensure_ascii=False)})
    messages.append({"role": "user", "content": prompt.render("user", text=text)})
    return messages


class LLMExtractor:
    """An extractor for `kg.steps.extract_pending`: chunks in, Extractions and FailedChunks out."""

    def __init__(
        self, schema: Schema, client: LLMClient, examples: list[dict] | None = None, prompt: Prompt | None = None
    ):
        self.schema = schema
        self.client = client
        self.method = client.method
        self.examples = examples or []
        self.prompt = prompt or load_prompt("kg", "extract")
        self.model = extraction_model(schema)
        self.spans_dropped = 0  # entity names the text does not contain
        self.triplets_dropped = 0  # triplets whose subject or object is not in the text
        self.failures: dict[str, int] = {}  # reason kind -> chunks
        self._lock = threading.Lock()

    def messages(self, chunk: ChunkText) -> list[dict]:
        return extraction_messages(self.prompt, self.schema, self.examples, chunk.text)

    def extract_with_failures(self, chunks: list[ChunkText]) -> tuple[list[Extraction], list[FailedChunk]]:
        outcomes = self.client.map(self._extract_one, chunks)
        extractions = [o for o in outcomes if isinstance(o, Extraction)]
        failures = [o for o in outcomes if isinstance(o, FailedChunk)]
        return extractions, failures

    def extract(self, chunks: list[ChunkText]) -> list[Extraction]:
        """The SpacyExtractor interface: raises on the first failed chunk."""
        extractions, failures = self.extract_with_failures(chunks)
        if failures:
            raise RuntimeError(f"chunk {failures[0].chunk_id}: {failures[0].reason}")
        return extractions

    def metadata(self) -> dict:
        return {
            **self.client.usage.as_metadata(),
            "spans_dropped": self.spans_dropped,
            "triplets_dropped": self.triplets_dropped,
            "failed_chunks_by_reason": dict(sorted(self.failures.items())),
        }

    def _extract_one(self, chunk: ChunkText) -> Extraction | FailedChunk:
        repair = self.prompt.render("repair", error="$error")
        result = self.client.complete(self.messages(chunk), self.model, repair, {"text": chunk.text})
        if result.value is None:
            reason = result.failure or "unknown: no answer"
            with self._lock:
                kind = reason_kind(reason)
                self.failures[kind] = self.failures.get(kind, 0) + 1
            return FailedChunk(chunk.chunk_id, chunk.doc_id, reason)
        extraction, dropped_spans, dropped_triplets = align(chunk, result.value, self.schema.default_type)
        with self._lock:
            self.spans_dropped += dropped_spans
            self.triplets_dropped += dropped_triplets
        return extraction


def align(chunk: ChunkText, answer: BaseModel, default_type: str) -> tuple[Extraction, int, int]:
    """The answer as an Extraction with document offsets: a mention for every occurrence of every
    entity name; returns it with the numbers of names and triplets dropped for want of a span."""
    extraction = Extraction(chunk.chunk_id, chunk.doc_id)
    mentions_of: dict[str, list[int]] = {}  # casefolded name -> mention indices
    seen: set[tuple[int, int]] = set()
    dropped_spans = 0

    def add(name: str, type_name: str) -> list[int]:
        key = " ".join(name.split()).casefold()
        if key in mentions_of:
            return mentions_of[key]
        indices = []
        for start, end in find_spans(chunk.text, name):
            text = chunk.text[start:end]
            norm = normalize_name(text)
            if len(norm) < 2 or (start, end) in seen:
                continue
            seen.add((start, end))
            doc_start = chunk.offset + start
            sentence = chunk.first_sentence + max(bisect.bisect_right(chunk.sentence_starts, doc_start) - 1, 0)
            indices.append(len(extraction.mentions))
            extraction.mentions.append(
                Mention(text, doc_start, chunk.offset + end, sentence, norm, "llm", None, type_name, 1.0)
            )
        mentions_of[key] = indices
        return indices

    types = {}
    for entity in answer.entities:
        types.setdefault(" ".join(entity.name.split()).casefold(), entity.type)
        if not add(entity.name, entity.type):
            dropped_spans += 1
    dropped_triplets = 0
    related: set[tuple[int, str, str, int]] = set()
    for triplet in answer.triplets:
        subjects = add(triplet.subject, types.get(" ".join(triplet.subject.split()).casefold(), default_type))
        objects = add(triplet.object, types.get(" ".join(triplet.object.split()).casefold(), default_type))
        pair = _closest_pair(extraction.mentions, subjects, objects)
        if pair is None:
            dropped_triplets += 1
            continue
        subject, obj = pair
        predicate = " ".join(triplet.predicate.split()) or triplet.relation.replace("_", " ")
        key = (subject, triplet.relation, predicate, obj)
        if key not in related:
            related.add(key)
            extraction.relations.append(
                Relation(subject, obj, triplet.relation, predicate, extraction.mentions[subject].sent_index)
            )
    return extraction, dropped_spans, dropped_triplets


def _closest_pair(mentions: list[Mention], subjects: list[int], objects: list[int]) -> tuple[int, int] | None:
    """The subject and object mentions nearest each other (same sentence preferred)."""
    pairs = [
        (mentions[s].sent_index != mentions[o].sent_index, abs(mentions[s].start - mentions[o].start), s, o)
        for s in subjects
        for o in objects
        if mentions[s].norm_name != mentions[o].norm_name
    ]
    return min(pairs)[2:] if pairs else None


def triplets_code_version(settings: Settings, offline: str) -> str:
    """The triplets asset's code_version: the prompt, few-shot examples and model with an LLM, else `offline`."""
    examples = examples_path(settings.schema_name)
    extra = f"{examples.read_text(encoding='utf-8')}|{settings.llm_examples}" if examples.exists() else ""
    return llm_code_version(load_prompt("kg", "extract"), settings, offline, extra)
