"""Fingerprints of what produces each stored row-set, so a run can tell stale rows from current ones.

A fingerprint is a short hash of everything that changes a step's output: the chunking settings for
chunks; the extractor (spaCy version of our rules, or the LLM's prompt, examples and model), the
schema and the typing settings for extractions; the structurizer's and the gist's prompt and model.
The Dagster code_version of the same assets is built from the same parts, so the UI's "stale" and
the rows the next run redoes agree.
"""

from __future__ import annotations

import hashlib

from corpus.llm_structurize import structures_code_version
from fieldmap.prompts import llm_code_version, load_prompt
from fieldmap.settings import Settings
from kg.llm_extract import triplets_code_version
from schemas import Schema

CHUNKER_VERSION = "chunker-1"  # bump when corpus.chunking changes what a chunk holds
EXTRACTOR_VERSION = (
    "spacy-3"  # spacy-3: lone words and NER labels judged per document; bump when kg.extract's rules change
)
LLM_STEPS = ("structures", "triplets", "memory")  # the steps that ask the LLM when one is configured
MEMORY_VERSION = "memory-offline-1"  # the offline gist (scope, aspects, top entities) and the gist clustering


def _hash(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode("utf-8")).hexdigest()[:12]


def chunk_fingerprint(settings: Settings) -> str:
    return _hash(CHUNKER_VERSION, settings.chunk_size, settings.chunk_overlap)


def extraction_fingerprint(settings: Settings, schema: Schema, llm: bool) -> str:
    """Of the configured extractor (`llm`: the LLM's, else spaCy's with the embedder that types names)."""
    if llm:
        return _hash(triplets_code_version(settings, EXTRACTOR_VERSION), schema.fingerprint)
    return _hash(
        EXTRACTOR_VERSION,
        schema.fingerprint,
        settings.embedder,
        settings.max_entity_words,
        settings.min_type_similarity,
    )


def structure_fingerprint(settings: Settings) -> str:
    return _hash(structures_code_version(settings))


def memory_code_version(settings: Settings) -> str:
    """The memory asset's code_version: the gist prompt and model with an LLM, else the offline one."""
    return llm_code_version(load_prompt("rag", "gist"), settings, MEMORY_VERSION)


def memory_fingerprint(settings: Settings) -> str:
    return _hash(memory_code_version(settings))
