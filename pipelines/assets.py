"""The pipeline's assets: each reads from the workspace, calls a stage, writes, returns counts."""

import json

import dagster as dg

from corpus.llm_structurize import structures_code_version
from corpus.loaders import Limits
from corpus.steps import ingest
from corpus.store import clear_stale
from dashboards import build_dashboard
from fieldmap.embedders import get_embedder
from fieldmap.llm import llm_client
from fieldmap.settings import Settings
from fieldmap.store import set_meta
from kg.graph import build_graph
from kg.llm_extract import triplets_code_version
from pipelines.fingerprints import CHUNKER_VERSION, EXTRACTOR_VERSION, memory_code_version, memory_fingerprint
from pipelines.resources import FieldmapResource, for_context
from pipelines.stages import chunk_step, llm_offline, record_llm_health, structure_step, triplet_step
from rag.index import VectorStore
from rag.memory import update_memory
from rag.steps import sync_chunk_vectors, sync_entity_vectors, sync_fact_vectors, sync_synonyms

# the decorators carry the offline code versions; the entry point's settings set the LLM's (versioned_assets)
_OFFLINE = Settings()


@dg.asset(
    group_name="corpus",
    description="Documents read from the corpus: new ones stored, changed ones replaced, bad records listed.",
)
def documents(context: dg.AssetExecutionContext, fieldmap: FieldmapResource) -> dg.MaterializeResult:
    settings = fieldmap.settings()
    with fieldmap.writer() as con:
        report = ingest(con, settings.corpus_paths, Limits.of(settings))
        set_meta(con, "corpus", json.dumps(settings.corpus))  # later commands default to it
    for bad in report.skipped:
        context.log.warning(f"skipped {bad}")
    return dg.MaterializeResult(
        metadata={
            "new": len(report.new),
            "changed": len(report.changed),
            "unchanged": report.unchanged,
            "removed": len(report.removed),
            "skipped": len(report.skipped),
            "tombstoned": report.tombstoned,
            "skipped_reasons": dg.MetadataValue.md("\n".join(f"- {b}" for b in report.skipped[:50]) or "none"),
        }
    )


@dg.asset(
    group_name="corpus",
    deps=[documents],
    code_version=CHUNKER_VERSION,
    description="Sentence-aware chunks with stable ids; documents chunked under other chunking settings are chunked again.",
)
def chunks(
    context: dg.AssetExecutionContext, fieldmap: FieldmapResource, progress: dg.ResourceParam[object]
) -> dg.MaterializeResult:
    with fieldmap.writer() as con:
        return dg.MaterializeResult(metadata=chunk_step(con, fieldmap.settings(), for_context(progress, context)))


@dg.asset(
    group_name="corpus",
    deps=[chunks],
    code_version=structures_code_version(_OFFLINE),
    description="StruXGPT-style structure per document: scope and aspects over verbatim sentences (by the LLM when one is configured).",
)
def structures(
    context: dg.AssetExecutionContext, fieldmap: FieldmapResource, progress: dg.ResourceParam[object]
) -> dg.MaterializeResult:
    with fieldmap.writer() as con:
        return dg.MaterializeResult(
            metadata=structure_step(con, fieldmap.settings(), for_context(progress, context), fieldmap.breakers)
        )


@dg.asset(
    group_name="kg",
    deps=[chunks],
    code_version=triplets_code_version(_OFFLINE, EXTRACTOR_VERSION),
    description="Schema-typed entities, mentions and triplets in DuckDB (by the LLM when one is configured, else spaCy), each traceable to document, chunk and sentence.",
)
def triplets(
    context: dg.AssetExecutionContext, fieldmap: FieldmapResource, progress: dg.ResourceParam[object]
) -> dg.MaterializeResult:
    with fieldmap.writer() as con:
        metadata, error = triplet_step(con, fieldmap.settings(), for_context(progress, context), fieldmap.breakers)
    if error:
        context.log.error(error)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name="rag",
    deps=[chunks, triplets],
    description="LanceDB vectors of chunks (with the native full-text index) and entities.",
)
def vector_index(
    context: dg.AssetExecutionContext, fieldmap: FieldmapResource, progress: dg.ResourceParam[object]
) -> dg.MaterializeResult:
    settings = fieldmap.settings()
    store = VectorStore(settings.lancedb_uri, get_embedder(settings))
    with fieldmap.writer() as con:
        chunk_counts = sync_chunk_vectors(con, store, for_context(progress, context))
        entity_counts = sync_entity_vectors(con, store, for_context(progress, context))
        fact_counts = sync_fact_vectors(con, store, for_context(progress, context))
    return dg.MaterializeResult(
        metadata={
            "chunk_vectors_added": chunk_counts.added,
            "chunk_vectors_replaced": chunk_counts.replaced,
            "chunk_vectors_removed": chunk_counts.removed,
            "chunk_vectors": chunk_counts.total,
            "vectors_reused": chunk_counts.reused + entity_counts.reused + fact_counts.reused,
            "fact_vectors_replaced": fact_counts.replaced,
            "entity_vectors_added": entity_counts.added,
            "entity_vectors": entity_counts.total,
            "fact_vectors_added": fact_counts.added,
            "fact_vectors": fact_counts.total,
            "embedder": store.embedder.name,
        }
    )


@dg.asset(
    group_name="kg",
    deps=[triplets, vector_index],
    description="The igraph knowledge graph: passage and entity nodes; mention, relation and synonym edges (new entities only are scanned for synonyms).",
)
def graph(context: dg.AssetExecutionContext, fieldmap: FieldmapResource) -> dg.MaterializeResult:
    settings = fieldmap.settings()
    store = VectorStore(settings.lancedb_uri, get_embedder(settings))
    with fieldmap.writer() as con:
        synonyms = sync_synonyms(
            con,
            store,
            settings.synonym_top_k,
            settings.synonym_threshold,
            settings.synonym_ann_min_entities,
            settings.synonym_ann_index,
        )
        knowledge_graph = build_graph(con)
    knowledge_graph.save(settings.graph_path)
    return dg.MaterializeResult(
        metadata={
            **knowledge_graph.stats(),
            "synonym_threshold": round(synonyms.threshold, 4),
            "entities_scanned_for_synonyms": synonyms.scanned,
            "synonym_edges_added": synonyms.edges_added,
            "synonym_method": synonyms.method,
            "path": str(settings.graph_path),
        }
    )


@dg.asset(group_name="dashboards", deps=[triplets, structures], description="The self-contained HTML trend dashboard.")
def dashboard(context: dg.AssetExecutionContext, fieldmap: FieldmapResource) -> dg.MaterializeResult:
    settings = fieldmap.settings()
    with fieldmap.writer() as con:
        path = build_dashboard(con, settings.dashboard_dir)
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(path)), "url": dg.MetadataValue.url(path.resolve().as_uri())}
    )


@dg.asset(
    group_name="rag",
    deps=[structures, triplets, vector_index],
    code_version=memory_code_version(_OFFLINE),
    description="MemoRAG's global memory: a gist per document (LLM summary, or offline scope, aspects and top entities) and topic clusters of gists.",
)
def memory(
    context: dg.AssetExecutionContext, fieldmap: FieldmapResource, progress: dg.ResourceParam[object]
) -> dg.MaterializeResult:
    settings = fieldmap.settings()
    store = VectorStore(settings.lancedb_uri, get_embedder(settings))
    with fieldmap.writer() as con, llm_client(settings, con, "memory", fieldmap.breakers) as client:
        fingerprint = memory_fingerprint(settings)
        stale, _ = clear_stale(con, "gists", fingerprint, ("gists",))
        report = update_memory(con, store, client, progress=for_context(progress, context), fingerprint=fingerprint)
        record_llm_health(con, "memory", client)
    usage = {**client.usage.as_metadata(), **llm_offline(client)} if client is not None else {}
    return dg.MaterializeResult(
        metadata={
            "gists_added": report.gists_added,
            "stale_gists": stale,
            "fingerprint": fingerprint,
            "gists_failed": report.gists_failed,
            "gists": report.gist_vectors,
            "clusters": report.clusters,
            **usage,
        }
    )


ALL_ASSETS = [documents, chunks, structures, triplets, vector_index, graph, memory, dashboard]


def versioned_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """ALL_ASSETS with the code versions of these settings (the LLM's prompt and model when one is
    configured), so the UI marks an asset stale exactly when its fingerprinted rows are (pipelines.sharded.assets_for
    adds the shards)."""
    versions = {
        "structures": structures_code_version(settings),
        "triplets": triplets_code_version(settings, EXTRACTOR_VERSION),
        "memory": memory_code_version(settings),
    }

    def versioned(spec: dg.AssetSpec) -> dg.AssetSpec:
        version = versions.get(spec.key.to_user_string())
        return spec.replace_attributes(code_version=version) if version else spec

    return dg.map_asset_specs(versioned, ALL_ASSETS)
