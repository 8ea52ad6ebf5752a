"""`fieldmap run --dry-run`: the LLM calls, tokens and cost that the pending work would take,
worked out before anything is spent and without writing to the workspace.

The corpus is read and chunked in memory as `fieldmap run` would; each pending document and chunk
gets the exact request the LLM steps would send, so the ones the cache already answers are free.
Tokens are estimated from characters (no tokenizer is assumed for an arbitrary model).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import duckdb

from corpus.chunking import chunk_document
from corpus.llm_structurize import MAX_SENTENCES, LLMStructure, structure_messages
from corpus.loaders import Limits, load_corpus
from corpus.models import Chunk, Document, Sentence
from corpus.store import load_sentences
from fieldmap.llm import request_key_for
from fieldmap.llm_cache import cache_keys_present, cost_of, price_for
from fieldmap.prompts import load_prompt
from fieldmap.settings import Settings
from fieldmap.store import connect
from kg.extract import ChunkText
from kg.llm_extract import extraction_messages, extraction_model, load_examples
from kg.store import RETRY_LLM, pending_chunks
from pipelines.fingerprints import chunk_fingerprint, extraction_fingerprint, memory_fingerprint, structure_fingerprint
from rag.memory import GistReply, gist_messages
from schemas import load_schema

CHARS_PER_TOKEN = 4.0  # English prose and JSON under GPT-style tokenizers, roughly
TOKENS_PER_MESSAGE = 4  # chat-format overhead
# expected answer sizes in tokens (a structure's aspects grow with its sentences, an extraction with its text)
EXTRACT_ANSWER_PER_TEXT_TOKEN = 0.6
STRUCTURE_ANSWER_PER_SENTENCE = 25
GIST_ANSWER_TOKENS = 150  # a gist is a few sentences (GistReply allows up to 1,200 characters)


@dataclass
class StepEstimate:
    step: str
    items: int  # documents or chunks still to do
    cached: int  # of them, answered by the cache already
    calls: int  # requests to pay for (repairs of invalid answers may add up to as many again)
    prompt_tokens: int
    completion_tokens: int
    cost: float


@dataclass
class RunEstimate:
    model: str
    llm_enabled: bool
    steps: list[StepEstimate]
    stale: dict[str, int] = field(default_factory=dict)  # row-sets another configuration made, which the run redoes

    def as_dict(self) -> dict:
        total = {
            k: sum(getattr(s, k) for s in self.steps)
            for k in ("calls", "cached", "prompt_tokens", "completion_tokens", "cost")
        }
        return {
            "model": self.model,
            "llm_enabled": self.llm_enabled,
            "steps": [asdict(s) for s in self.steps],
            "total": total,
            "stale": self.stale,
        }

    def stale_line(self) -> str:
        found = ", ".join(f"{n} {what}" for what, n in self.stale.items() if n)
        return f"stale (made under other settings, redone by this run): {found or 'nothing'}"

    def lines(self) -> list[str]:
        if not self.llm_enabled:
            return [
                "no LLM configured (set OPENAI_API_KEY or OPENAI_BASE_URL): spaCy extracts offline, 0 calls, cost $0",
                self.stale_line(),
            ]
        lines = [f"dry run with {self.model}: nothing was sent or stored", self.stale_line()]
        for s in self.steps:
            lines.append(
                f"{s.step:>10}: {s.items} pending, {s.cached} cached, {s.calls} calls, ~{s.prompt_tokens:,} prompt + "
                f"~{s.completion_tokens:,} completion tokens, ~${s.cost:.4f}"
            )
        total = self.as_dict()["total"]
        lines.append(
            f"{'total':>10}: {total['calls']} calls, ~{total['prompt_tokens'] + total['completion_tokens']:,} tokens, ~${total['cost']:.4f}"
            " (repairs of invalid answers may add up to as many calls again)"
        )
        return lines


def stale_work(con: duckdb.DuckDBPyConnection | None, settings: Settings) -> dict[str, int]:
    """How much stored work another configuration made: what `fieldmap run` will redo."""
    if con is None:
        return {}
    schema = load_schema(settings.schema_name)
    wanted = {
        "documents to re-chunk": ("chunks", "count(DISTINCT doc_id)", chunk_fingerprint(settings), ""),
        "documents to re-structure": ("structures", "count(*)", structure_fingerprint(settings), ""),
        "chunks to re-extract": (
            "extractions",
            "count(*)",
            extraction_fingerprint(settings, schema, settings.llm_enabled),
            "AND status = 'ok'",
        ),
        "gists to rewrite": ("gists", "count(*)", memory_fingerprint(settings), ""),
    }
    return {
        what: con.execute(f"SELECT {count} FROM {table} WHERE fingerprint <> ? {extra}", [fingerprint]).fetchall()[0][0]
        for what, (table, count, fingerprint, extra) in wanted.items()
    }


def estimate_run(settings: Settings) -> RunEstimate:
    if not settings.llm_enabled:
        con = connect(settings.duckdb_path, read_only=True) if settings.duckdb_path.exists() else None
        try:
            return RunEstimate(settings.llm_model, False, [], stale_work(con, settings))
        finally:
            if con is not None:
                con.close()
    documents = load_corpus(settings.corpus_paths, Limits.of(settings)).documents  # what the documents asset reads
    con = connect(settings.duckdb_path, read_only=True) if settings.duckdb_path.exists() else None
    try:
        to_structure, to_extract, to_gist = _pending_work(con, documents, settings)
        schema = load_schema(settings.schema_name)
        structure_prompt, extract_prompt = load_prompt("corpus", "structurize"), load_prompt("kg", "extract")
        examples = load_examples(settings.schema_name, schema)[: settings.llm_examples]
        model = extraction_model(schema)
        structures = [
            (structure_messages(structure_prompt, doc, sentences), STRUCTURE_ANSWER_PER_SENTENCE * len(sentences) + 20)
            for doc, sentences in to_structure
            if len(sentences) <= MAX_SENTENCES  # longer ones are structured offline
        ]
        extractions = [
            (
                extraction_messages(extract_prompt, schema, examples, chunk.text),
                EXTRACT_ANSWER_PER_TEXT_TOKEN * len(chunk.text) / CHARS_PER_TOKEN + 30,
            )
            for chunk in to_extract
        ]
        gist_prompt = load_prompt("rag", "gist")
        gists = [(gist_messages(gist_prompt, doc.title, doc.text), GIST_ANSWER_TOKENS) for doc in to_gist]
        return RunEstimate(
            settings.llm_model,
            True,
            [
                _estimate("structures", structures, LLMStructure, settings, con),
                _estimate("triplets", extractions, model, settings, con),
                _estimate("memory", gists, GistReply, settings, con),
            ],
            stale_work(con, settings),
        )
    finally:
        if con is not None:
            con.close()


def _estimate(
    step: str, requests: list[tuple[list[dict], float]], response_model, settings: Settings, con
) -> StepEstimate:
    keys = [request_key_for(settings, messages, response_model) for messages, _ in requests]
    cached = cache_keys_present(con, keys) if con is not None else set()
    prompt = completion = calls = 0
    for key, (messages, answer_tokens) in zip(keys, requests):
        if key in cached:
            continue
        calls += 1
        prompt += int(sum(len(m["content"]) for m in messages) / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(messages)
        completion += int(min(answer_tokens, settings.llm_max_tokens))
    cost = cost_of(price_for(settings.llm_model, settings.llm_prices), prompt, completion)
    return StepEstimate(step, len(requests), len(requests) - calls, calls, prompt, completion, round(cost, 6))


def _pending_work(
    con: duckdb.DuckDBPyConnection | None, documents: list[Document], settings: Settings
) -> tuple[list, list[ChunkText], list[Document]]:
    """(document, sentences) still to structure, chunks still to extract (failed and offline
    fallbacks included, as an LLM run retries them) and documents still to gist, as the run would see them."""
    stored = dict(con.execute("SELECT doc_id, content_hash FROM documents").fetchall()) if con else {}
    chunked = (
        {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT doc_id FROM chunks WHERE fingerprint IS NULL OR fingerprint = ?",
                [chunk_fingerprint(settings)],
            ).fetchall()
        }
        if con
        else set()
    )  # chunked under other settings: chunked again, so everything about it is pending
    structured = {r[0] for r in con.execute("SELECT doc_id FROM structures").fetchall()} if con else set()
    gisted = {r[0] for r in con.execute("SELECT doc_id FROM gists").fetchall()} if con else set()
    to_structure, to_extract, in_memory = [], [], set()
    to_gist = [d for d in documents if stored.get(d.doc_id) != d.content_hash or d.doc_id not in gisted]
    for doc in documents:
        if stored.get(doc.doc_id) == doc.content_hash and doc.doc_id in chunked:
            if doc.doc_id not in structured:
                to_structure.append((doc, load_sentences(con, doc.doc_id, doc.text)))
            continue
        in_memory.add(doc.doc_id)  # new, changed or not chunked yet: everything about it is pending
        sentences, chunks = chunk_document(doc, settings.chunk_size, settings.chunk_overlap)
        if sentences:
            to_structure.append((doc, sentences))
        to_extract.extend(_chunk_text(doc, sentences, c) for c in chunks)
    if con is not None:
        wanted = {d.doc_id for d in documents} - in_memory
        fingerprint = extraction_fingerprint(settings, load_schema(settings.schema_name), True)
        to_extract.extend(c for c in pending_chunks(con, RETRY_LLM, fingerprint) if c.doc_id in wanted)
    return to_structure, to_extract, to_gist


def _chunk_text(doc: Document, sentences: list[Sentence], chunk: Chunk) -> ChunkText:
    """The owned part of a chunk, as kg.store.pending_chunks reads it back from DuckDB."""
    owned = sentences[chunk.own_sent_start : chunk.sent_end]
    return ChunkText(
        chunk.chunk_id,
        doc.doc_id,
        doc.text[owned[0].start : chunk.end],
        owned[0].start,
        tuple(s.start for s in owned),
        chunk.own_sent_start,
    )
