"""The scale acceptance of issue 3: a synthetic workspace of 100,000 passages in a real DuckDB file,
then the graph build, synonym edges, PPR latency, peak memory and the graph pickle, with a
neighbourhood-restricted PPR measured at 100k and on MuSiQue (Recall@2/@5 with and without it).

The restriction (HippoParams.ppr_neighbourhood_hops > 0, from graphs of ppr_whole_graph_below vertices): PPR on the entity seeds'
k-hop neighbourhood plus the top dense passages and their entities, where vertices with more than
ppr_neighbourhood_max_degree edges are kept but not expanded (two plain hops through hub entities
reach 40% of the 100k graph), computed with the whole graph's transition probabilities (a walk
leaving the neighbourhood is dropped) by power iteration over a CSR adjacency built once.

    .venv/bin/python benchmarks/scale_graph.py [--passages 100000] [--json benchmarks/out/scale-graph.json]

The workspace is SYNTHETIC (not a replica): replicating the 1,000-abstract workspace 72 times would
give 72 disconnected copies whose most frequent entity still occurs in only ~170 passages. Instead
the generator reproduces the statistics measured on the demo workspace (/tmp/ws1000, 1,380 chunks,
20,677 entities, 39,779 mentions, 16,815 triplets, see WS1000 below):

* mentions per chunk: the empirical histogram of the demo workspace (mean 29);
* 88.3% of a chunk's mentions name distinct entities (35,141 distinct chunk-entity pairs), the rest
  repeat one of them; the second chunk of a two-chunk document (37.8% of documents) shares 18.6% of
  its entities with the first (the overlapping sentences);
* entities are drawn from a Zipf-Mandelbrot law, p(rank r) ~ (r + q)^-(1/beta), sampled through a
  Lomax variate. The Heaps exponent beta = 0.863 is the one measured on the demo workspace (vocabulary
  growth over shuffled chunks; 0.872 on MuSiQue); q = 75 makes 1,380 synthetic chunks have ~19,900
  entities against the real 20,677 (the check is in the JSON). Vocabulary then grows as N^0.863:
  ~0.82M entities for 100k passages (2.9M mentions), 82% of them in one passage, 249 in more than
  1,000. A two-parameter law cannot match both ends: at the demo size the synthetic head is lighter
  (top entities in ~70-80 passages against 108-169), so real hubs would be about twice as large;
* triplets: Binomial(mentions, 0.427) per chunk (12.4 per chunk), subject and object two distinct
  entities of the chunk, relation types in the demo workspace's proportions;
* entity vectors: random unit vectors of dim 384 (random pairs are ~N(0, 1/384), never near the 0.8
  threshold) with planted near-duplicate groups of 2-4 entities (55% of entities, every pair of a
  group >= 0.84), i.e. ~0.53 synonym edges per entity as MuSiQue with minilm has (12,497 / 23,516).
  Planted edges among entities first seen before the last 1% of passages are inserted as already
  scanned; `update_synonyms` is then run for real on the entities first seen in the last 1% of
  passages (the incremental case), then on a random sample re-marked as unscanned (the cost of a
  scan against all entities). The full first scan is only extrapolated from that (labelled so).

Unlike real text, the synthetic graph has no topical clustering: entities co-occur at random, which
makes neighbourhoods larger than in a real corpus of the same size (a pessimistic case for the
restricted PPR), while the whole-graph PPR cost depends on the vertex and edge counts only.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import resource
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fieldmap.settings import Settings  # noqa: E402
from fieldmap.store import connect, insert_rows  # noqa: E402
from kg.graph import (  # noqa: E402
    Adjacency,
    KnowledgeGraph,
    WholeGraphPageRank,
    build_graph,
    personalized_pagerank,
    restricted_pagerank,
)
from kg.store import MENTION_COLUMNS, TRIPLET_COLUMNS  # noqa: E402
from kg.synonyms import SIMILARITY_BLOCK_BYTES, update_synonyms  # noqa: E402
from rag.hipporag import HippoParams, HippoRAGRetriever  # noqa: E402

# measured on /tmp/ws1000 (the 1,000-abstract demo corpus, spaCy extraction)
WS1000 = {
    "chunks": 1380,
    "entities": 20677,
    "mentions": 39779,
    "triplets": 16815,
    "distinct_chunk_entity_pairs": 35141,
    "entities_in_one_passage": 17304,
    "top5_entity_passages": [108, 123, 132, 148, 169],
    "heaps_beta": 0.863,
}
MENTIONS_PER_CHUNK = [
    0,
    4,
    4,
    11,
    16,
    13,
    17,
    11,
    23,
    21,
    24,
    26,
    23,
    27,
    21,
    26,
    34,
    35,
    33,
    31,
    28,
    39,
    36,
    26,
    29,
    26,
    28,
    23,
    34,
    29,
    24,
    24,
    34,
    14,
    29,
    35,
    27,
    27,
    38,
    36,
    38,
    41,
    35,
    35,
    35,
    36,
    25,
    33,
    23,
    18,
    19,
    15,
    10,
    4,
    4,
    3,
    8,
    1,
    1,
    1,
    2,
]
DISTINCT_SHARE = 35141 / 39779
TWO_CHUNK_DOCS = 376 / 998
OVERLAP_SHARE = 0.186
TRIPLETS_PER_MENTION = 16815 / 39779
RELATIONS = {
    "related_to": 15182,
    "studies": 438,
    "measures": 389,
    "produces": 301,
    "uses": 290,
    "observes": 122,
    "part_of": 93,
}
TYPES = ["object", "property", "method", "field", "model", "modality", "instrument", "dataset", "task"]
HEAPS_BETA = 0.863
ZIPF_OFFSET = 75.0
DIM = 384
SYNONYM_GROUP_SHARE = 0.55
SYNONYM_TOP_K = 100  # Settings.synonym_top_k
MUSIQUE_EDGES_PER_ENTITY = 12497 / 23516


class Memory:
    """RSS of this process every 20 ms, so each step reports its own peak."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._process = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._process.memory_info().rss))
            time.sleep(0.02)

    def rss_mb(self) -> int:
        return round(self._process.memory_info().rss / 2**20)

    def peak_mb(self, start: float, end: float) -> int:
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return round(max(inside + [self._process.memory_info().rss]) / 2**20)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Step:
    """Wall time, RSS at the start and peak RSS of one step; ru_maxrss (process lifetime) after it."""

    def __init__(self, results: dict, name: str, memory: Memory):
        self.results, self.name, self.memory = results, name, memory

    def __enter__(self):
        gc.collect()
        self.rss_before = self.memory.rss_mb()
        self.wall0 = time.time()
        self.t0 = time.perf_counter()
        print(f"[{time.strftime('%H:%M:%S')}] {self.name} ...", flush=True)
        return self

    def __exit__(self, *exc) -> None:
        seconds = time.perf_counter() - self.t0
        self.results.setdefault("steps", {})[self.name] = {
            "seconds": round(seconds, 2),
            "rss_start_mb": self.rss_before,
            "peak_rss_mb": self.memory.peak_mb(self.wall0, time.time()),
            "ru_maxrss_mb_after": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
        print(
            f"    {self.name}: {seconds:.1f} s, peak RSS {self.results['steps'][self.name]['peak_rss_mb']} MB",
            flush=True,
        )


def machine() -> dict:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "memory_available_gb_at_start": round(psutil.virtual_memory().available / 2**30, 1),
        "load_average_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "igraph": __import__("igraph").__version__,
        "duckdb": __import__("duckdb").__version__,
        "numpy": np.__version__,
    }


# ---------------------------------------------------------------- the synthetic corpus


@dataclasses.dataclass
class Corpus:
    chunk_ids: list[str]
    doc_ids: list[str]
    chunk_entities: list[np.ndarray]  # per chunk: entity ranks of its mentions, distinct ones first
    chunk_distinct: np.ndarray  # per chunk: how many of those are distinct
    triplets: list[tuple[np.ndarray, np.ndarray]]  # per chunk: positions (into the distinct ones) of subject, object
    relation_of: list[np.ndarray]


def zipf_ranks(rng: np.random.Generator, n: int) -> np.ndarray:
    """Zipf-Mandelbrot ranks, p(r) ~ (r + q)^-(1/beta), from a Lomax variate; the far tail (ranks past
    1e15, where a repeat is impossible at this size) gets fresh negative ranks."""
    alpha = 1.0 / HEAPS_BETA - 1.0
    with np.errstate(over="ignore"):
        x = ZIPF_OFFSET * (rng.random(n) ** (-1.0 / alpha) - 1.0)
    far = ~(x < 1e15)
    ranks = np.floor(np.where(far, 0, x)).astype(np.int64)
    ranks[far] = -1 - np.arange(int(far.sum()))
    return ranks


def generate(n_passages: int, seed: int) -> Corpus:
    rng = np.random.default_rng(seed)
    docs = rng.random(n_passages) < TWO_CHUNK_DOCS  # one draw per document; enough documents for sure
    sizes = np.where(docs, 2, 1)
    n_docs = int(np.searchsorted(np.cumsum(sizes), n_passages)) + 1
    chunk_doc = np.repeat(np.arange(n_docs), sizes[:n_docs])[:n_passages]
    chunk_index = np.concatenate([np.arange(s) for s in sizes[:n_docs]])[:n_passages]
    histogram = np.asarray(MENTIONS_PER_CHUNK, dtype=float)
    mentions = rng.choice(len(histogram), n_passages, p=histogram / histogram.sum())
    distinct = np.maximum(1, np.round(mentions * DISTINCT_SHARE)).astype(int)
    copied = np.where(chunk_index > 0, np.round(distinct * OVERLAP_SHARE), 0).astype(int)
    fresh = distinct - copied
    ranks = zipf_ranks(rng, int(fresh.sum()))
    starts = np.concatenate([[0], np.cumsum(fresh)])
    relation_names = np.array(list(RELATIONS))
    relation_p = np.array(list(RELATIONS.values()), dtype=float)
    relation_p /= relation_p.sum()
    chunk_entities, chunk_distinct, triplets, relation_of = [], np.zeros(n_passages, dtype=int), [], []
    previous = np.zeros(0, dtype=np.int64)
    for c in range(n_passages):
        own = ranks[starts[c] : starts[c + 1]]
        if copied[c] and len(previous):
            own = np.concatenate([own, rng.choice(previous, min(copied[c], len(previous)), replace=False)])
        own = np.asarray(list(dict.fromkeys(own.tolist())), dtype=np.int64)  # distinct, first-seen order
        repeats = rng.choice(own, mentions[c] - len(own)) if mentions[c] > len(own) else own[:0]
        chunk_entities.append(np.concatenate([own, repeats]))
        chunk_distinct[c] = len(own)
        t = rng.binomial(mentions[c], TRIPLETS_PER_MENTION) if len(own) > 1 else 0
        subjects = rng.integers(0, len(own), t)
        objects = (subjects + rng.integers(1, max(len(own), 2), t)) % max(len(own), 1)
        triplets.append((subjects, objects))
        relation_of.append(relation_names[rng.choice(len(relation_names), t, p=relation_p)])
        previous = own
    chunk_ids = [f"s{d}#{i}" for d, i in zip(chunk_doc.tolist(), chunk_index.tolist())]
    doc_ids = [f"s{d}" for d in chunk_doc.tolist()]
    return Corpus(chunk_ids, doc_ids, chunk_entities, chunk_distinct, triplets, relation_of)


def entity_table(corpus: Corpus) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct ranks, the chunk each is first seen in, the passages each occurs in."""
    flat = np.concatenate([e[:d] for e, d in zip(corpus.chunk_entities, corpus.chunk_distinct)])
    owner = np.repeat(np.arange(len(corpus.chunk_ids)), corpus.chunk_distinct)
    ranks, first, passages = np.unique(flat, return_index=True, return_counts=True)
    return ranks, owner[first], passages


def entity_id_strings(n: int) -> list[str]:
    """'e:' + 16 hex digits, a bijection of the index (odd multiplier mod 2^64), so ids look hashed."""
    mixed = (np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)).tolist()
    return [f"e:{m:016x}" for m in mixed]


def corpus_stats(corpus: Corpus) -> dict:
    ranks, _, passages = entity_table(corpus)
    return {
        "chunks": len(corpus.chunk_ids),
        "entities": len(ranks),
        "mentions": int(sum(len(e) for e in corpus.chunk_entities)),
        "triplets": int(sum(len(s) for s, _ in corpus.triplets)),
        "distinct_chunk_entity_pairs": int(corpus.chunk_distinct.sum()),
        "entities_in_one_passage": int((passages == 1).sum()),
        "top5_entity_passages": sorted(passages.tolist())[-5:],
    }


def write_workspace(
    con, corpus: Corpus, entity_ids: list[str], index_of_rank: dict[int, int], batch: int = 10_000
) -> None:
    chunk_rows = [
        (cid, did, int(cid.rsplit("#", 1)[1]), f"synthetic passage {cid}", 0, 800, 0, 5, 0)
        for cid, did in zip(corpus.chunk_ids, corpus.doc_ids)
    ]
    insert_rows(
        con,
        "chunks",
        [
            "chunk_id",
            "doc_id",
            "chunk_index",
            "text",
            "start_char",
            "end_char",
            "sent_start",
            "sent_end",
            "own_sent_start",
        ],
        chunk_rows,
    )
    del chunk_rows
    insert_rows(
        con,
        "entities",
        ["entity_id", "name", "norm_name", "type"],
        [(eid, f"entity {i}", f"entity {i}", TYPES[i % len(TYPES)]) for i, eid in enumerate(entity_ids)],
    )
    for start in range(0, len(corpus.chunk_ids), batch):
        mention_rows, triplet_rows = [], []
        for c in range(start, min(start + batch, len(corpus.chunk_ids))):
            cid, did = corpus.chunk_ids[c], corpus.doc_ids[c]
            ents = [entity_ids[index_of_rank[r]] for r in corpus.chunk_entities[c].tolist()]
            for j, eid in enumerate(ents):
                mention_rows.append(
                    (f"{cid}:{30 * j}", eid, did, cid, j // 6, 30 * j, 30 * j + 20, eid, "object", 1.0, "noun_chunk")
                )
            subjects, objects = corpus.triplets[c]
            for n, (s, o, relation) in enumerate(
                zip(subjects.tolist(), objects.tolist(), corpus.relation_of[c].tolist())
            ):
                triplet_rows.append(
                    (
                        f"{cid}:{s // 6}:{n}",
                        did,
                        cid,
                        s // 6,
                        ents[s],
                        relation,
                        "of",
                        ents[o],
                        f"{cid}:{30 * s}",
                        f"{cid}:{30 * o}",
                        "spacy",
                    )
                )
        insert_rows(con, "mentions", MENTION_COLUMNS, mention_rows)
        insert_rows(con, "triplets", TRIPLET_COLUMNS, triplet_rows)


# ---------------------------------------------------------------- synonym vectors


def planted_vectors(n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Random unit vectors with near-duplicate groups of 2-4; returns the vectors and the planted pairs."""
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        block = vectors[start : start + 100_000]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    members = rng.permutation(n)[: int(SYNONYM_GROUP_SHARE * n)]
    pairs: list[tuple[int, int]] = []
    position = 0
    sizes = rng.choice([2, 3, 4], size=len(members), p=[0.5, 0.3, 0.2])
    groups: dict[int, list[np.ndarray]] = {2: [], 3: [], 4: []}
    for size in sizes:
        if position + size > len(members):
            break
        groups[int(size)].append(members[position : position + size])
        position += size
    for size, rows in groups.items():
        if not rows:
            continue
        group = np.stack(rows)
        centre = vectors[group[:, 0]]
        for j in range(1, size):
            cosine = rng.uniform(0.92, 0.99, (len(group), 1)).astype(np.float32)
            noise = vectors[group[:, j]]
            noise = noise - np.einsum("ij,ij->i", noise, centre)[:, None] * centre
            noise /= np.linalg.norm(noise, axis=1, keepdims=True)
            vectors[group[:, j]] = cosine * centre + np.sqrt(1 - cosine**2) * noise
        for a in range(size):
            for b in range(a + 1, size):
                pairs.extend(zip(group[:, a].tolist(), group[:, b].tolist()))
    return vectors, pairs


def synonym_rows(
    pairs: list[tuple[int, int]], entity_ids: list[str], vectors: np.ndarray
) -> list[tuple[str, str, float]]:
    if not pairs:
        return []
    left, right = np.asarray(pairs).T
    similarity = np.einsum("ij,ij->i", vectors[left], vectors[right]).tolist()
    rows = []
    for a, b, s in zip(left.tolist(), right.tolist(), similarity):
        x, y = entity_ids[a], entity_ids[b]
        rows.append((x, y, s) if x < y else (y, x, s))
    return rows


# ---------------------------------------------------------------- PPR queries


def ppr_queries(
    kg: KnowledgeGraph, con, n_queries: int, rng: np.random.Generator, passage_node_weight: float = 0.3
) -> list[dict]:
    """Seeds as HippoRAGRetriever.retrieve makes them: the entities of the kept facts (here: the facts
    of two random 'gold' chunks, like a two-hop MuSiQue question), at most 5, weighted by a normalised
    fact score over the passages the entity occurs in; every passage seeded with passage_node_weight x
    its min-max normalised dense score (synthetic: cosine-like scores, the gold chunks on top)."""
    entity_vertex = kg.entity_vertex()
    passage_degree = dict(con.execute("SELECT entity_id, count(DISTINCT chunk_id) FROM mentions GROUP BY 1").fetchall())
    with_facts = [
        r[0] for r in con.execute("SELECT chunk_id FROM triplets GROUP BY 1 HAVING count(*) >= 3 ORDER BY 1").fetchall()
    ]
    passage_vertex = kg.passage_vertex()
    queries = []
    for _ in range(n_queries):
        gold = rng.choice(len(with_facts), 2, replace=False)
        gold_chunks = [with_facts[g] for g in gold]
        facts = con.execute(
            "SELECT subject_id, object_id FROM triplets WHERE chunk_id IN (?, ?) ORDER BY triplet_id", gold_chunks
        ).fetchall()
        order = rng.permutation(len(facts))[:5]  # linking_top_k = 5 facts
        scores = np.sort(rng.uniform(0.3, 0.9, len(order)))[::-1]
        normalised = (scores - scores.min()) / max(np.ptp(scores), 1e-12)
        seeds: dict[int, float] = {}
        for index, score in zip(order, normalised):
            for entity in facts[index]:
                vertex = entity_vertex[entity]
                if vertex in seeds or len(seeds) < 5:
                    seeds[vertex] = seeds.get(vertex, 0.0) + max(score, 0.05) / passage_degree.get(entity, 1)
        dense = rng.normal(0.25, 0.07, kg.n_passages)
        for chunk in gold_chunks:
            dense[passage_vertex[chunk]] += 0.3
        queries.append(
            {
                "seeds": seeds,
                "dense": (dense - dense.min()) / np.ptp(dense),
                "passage_node_weight": passage_node_weight,
                "gold": [passage_vertex[c] for c in gold_chunks],
            }
        )
    return queries


def reset_vector(kg: KnowledgeGraph, query: dict) -> np.ndarray:
    reset = np.zeros(kg.graph.vcount())
    for vertex, weight in query["seeds"].items():
        reset[vertex] = weight
    reset[: kg.n_passages] += query["passage_node_weight"] * query["dense"]
    return reset


def percentiles(values: list[float]) -> dict:
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 1),
        "p95_ms": round(float(np.percentile(values, 95)), 1),
        "mean_ms": round(float(np.mean(values)), 1),
        "n": len(values),
    }


# ---------------------------------------------------------------- MuSiQue


def musique(workspace: str, questions_path: Path, restriction: dict) -> dict:
    from fieldmap.settings import Settings
    from rag.engine import QueryEngine
    from rag.evaluate import evaluate_retrieval, load_questions

    settings = Settings.load(
        workspace=workspace, config_file="/nonexistent", env={}, schema_name="general", embedder="minilm"
    )
    questions = load_questions(questions_path)
    engine = QueryEngine(settings)
    try:
        retriever = engine.retriever("hipporag")
        full_params = dataclasses.replace(retriever.params, ppr_neighbourhood_hops=0)  # the whole graph
        retriever.params = full_params
        out = {"workspace": workspace, "questions": len(questions), "graph": retriever.kg.stats()}
        out["whole_graph"] = evaluate_retrieval(engine, questions, ["hipporag"], [2, 5])["hipporag"]
        restricted_params = dataclasses.replace(
            full_params, **restriction, ppr_whole_graph_below=0
        )  # restricted whatever the size
        retriever.params = restricted_params
        out["restricted"] = evaluate_retrieval(engine, questions, ["hipporag"], [2, 5])["hipporag"]
        out["restricted_params"] = restriction
        # per question: the same top-5 documents (as a set)? how large is the neighbourhood?
        chunk_doc = dict(engine.con.execute("SELECT chunk_id, doc_id FROM chunks").fetchall())
        sizes: list[int] = []
        neighbourhood = retriever.neighbourhood
        retriever.neighbourhood = lambda *a: sizes.append(len(v := neighbourhood(*a))) or v
        same = 0
        for question in questions:
            top = []
            for params in (full_params, restricted_params):
                retriever.params = params
                ranked = [chunk_doc[h.chunk_id] for h in retriever.retrieve(question["question"], 15)]
                top.append(list(dict.fromkeys(ranked))[:5])
            same += set(top[0]) == set(top[1])
        del retriever.neighbourhood
        retriever.params = full_params
        out["questions_with_the_same_top5_documents"] = same
        out["restricted_vertices_p50"] = int(np.percentile(sizes, 50)) if sizes else 0
        out["restricted_vertices_p95"] = int(np.percentile(sizes, 95)) if sizes else 0
        out["graph_vertices"] = retriever.kg.graph.vcount()
    finally:
        engine.close()
    return out


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--workdir", default="/tmp/fieldmap-scale")
    parser.add_argument("--json", default="benchmarks/out/scale-graph.json")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--synonym-sample", type=int, default=2048, help="entities re-scanned against all")
    parser.add_argument("--hops", type=int, default=3, help="HippoParams.ppr_neighbourhood_hops of the restricted PPR")
    parser.add_argument("--dense-passages", type=int, default=100, help="HippoParams.ppr_neighbourhood_passages")
    parser.add_argument("--max-degree", type=int, default=150, help="HippoParams.ppr_neighbourhood_max_degree")
    parser.add_argument("--musique", default="/tmp/musique-minilm", help="MuSiQue workspace ('' to skip)")
    parser.add_argument("--questions", default="/work/shared/data/musique/questions.jsonl")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    results: dict = {
        "command": " ".join([Path(sys.executable).as_posix()] + sys.argv),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "synthetic": True,
        "method": "synthetic (see the docstring of benchmarks/scale_graph.py)",
    }
    print(json.dumps(results["machine"]), flush=True)
    memory = Memory()
    wall = time.perf_counter()
    rng = np.random.default_rng(args.seed)

    # the generator against the measured workspace, at the demo size
    small = generate(WS1000["chunks"], args.seed + 1)
    results["calibration"] = {
        "demo_workspace_measured": WS1000,
        "synthetic_at_1380_chunks": corpus_stats(small),
        "heaps_beta": HEAPS_BETA,
        "zipf_offset_q": ZIPF_OFFSET,
    }
    del small

    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    db_path = workdir / "fieldmap.duckdb"
    with Step(results, "generate", memory):
        corpus = generate(args.passages, args.seed)
        ranks, first_chunk, _ = entity_table(corpus)
        index_of_rank = {r: i for i, r in enumerate(ranks.tolist())}
        entity_ids = entity_id_strings(len(ranks))
    with Step(results, "write_duckdb", memory):
        con = connect(db_path)
        write_workspace(con, corpus, entity_ids, index_of_rank)
        con.execute("CHECKPOINT")
    counts = {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
        for t in ("chunks", "entities", "mentions", "triplets")
    }
    counts["documents_implied"] = len(set(corpus.doc_ids))
    counts["mentions_per_chunk"] = round(counts["mentions"] / counts["chunks"], 2)
    counts["triplets_per_chunk"] = round(counts["triplets"] / counts["chunks"], 2)
    counts["entity_passage_frequency"] = dict(
        con.execute(
            """SELECT CASE WHEN n = 1 THEN '1' WHEN n <= 10 THEN '2-10' WHEN n <= 100 THEN '11-100' WHEN n <= 1000 THEN '101-1000' ELSE '>1000' END, count(*)
           FROM (SELECT entity_id, count(DISTINCT chunk_id) n FROM mentions GROUP BY 1) GROUP BY 1"""
        ).fetchall()
    )
    counts["top5_entity_passages"] = [
        r[0]
        for r in con.execute(
            "SELECT count(DISTINCT chunk_id) n FROM mentions GROUP BY entity_id ORDER BY n DESC LIMIT 5"
        ).fetchall()
    ]
    counts["duckdb_file_mb"] = round(db_path.stat().st_size / 2**20)
    results["workspace"] = counts
    print(json.dumps(counts), flush=True)

    # synonyms: planted groups, old-old edges as already scanned; then the incremental 1% and a sample, for real
    new_cut = int(round(args.passages * 0.99))
    is_new = first_chunk >= new_cut
    del corpus, index_of_rank
    gc.collect()
    with Step(results, "synonym_vectors", memory):
        vectors, planted = planted_vectors(len(entity_ids), rng)
        old_pairs = [(a, b) for a, b in planted if not is_new[a] and not is_new[b]]
        insert_rows(
            con, "synonyms", ["entity_a", "entity_b", "similarity"], synonym_rows(old_pairs, entity_ids, vectors)
        )
        insert_rows(
            con, "synonym_scanned", ["entity_id"], [(eid,) for eid, new in zip(entity_ids, is_new.tolist()) if not new]
        )
    new_truth = {tuple(sorted((entity_ids[a], entity_ids[b]))) for a, b in planted if is_new[a] or is_new[b]}
    with Step(results, "synonyms_incremental_1pct", memory):
        report = update_synonyms(con, entity_ids, vectors, SYNONYM_TOP_K)
    found = (
        {tuple(r) for r in con.execute("SELECT entity_a, entity_b FROM synonyms").fetchall()}
        if report.edges_added
        else set()
    )
    results["synonyms_incremental_1pct"] = {
        "what": "update_synonyms on the entities first seen in the last 1% of passages, against all entities (measured)",
        "entities_total": len(entity_ids),
        "entities_scanned": report.scanned,
        "edges_added": report.edges_added,
        "edges_total": report.edges_total,
        "threshold": report.threshold,
        "planted_pairs_found": len(new_truth & found),
        "planted_pairs_with_new_entity": len(new_truth),
        "seconds": results["steps"]["synonyms_incremental_1pct"]["seconds"],
        "peak_rss_mb": results["steps"]["synonyms_incremental_1pct"]["peak_rss_mb"],
    }
    del found
    sample = rng.choice(np.flatnonzero(~is_new), args.synonym_sample, replace=False)
    con.execute(
        "DELETE FROM synonym_scanned WHERE entity_id IN (SELECT unnest(?::VARCHAR[]))",
        [[entity_ids[i] for i in sample.tolist()]],
    )
    with Step(results, "synonyms_sample_rescan", memory):
        sample_report = update_synonyms(con, entity_ids, vectors, SYNONYM_TOP_K)
    sample_set = set(sample.tolist())
    sample_truth = sum(1 for a, b in planted if a in sample_set or b in sample_set)
    per_entity = results["steps"]["synonyms_sample_rescan"]["seconds"] / sample_report.scanned
    results["synonyms_sample"] = {
        "what": f"{sample_report.scanned} random entities re-marked unscanned, update_synonyms against all {len(entity_ids)} (measured)",
        "entities_scanned": sample_report.scanned,
        "pairs_found": sample_report.edges_added,
        "planted_pairs_touching_sample": sample_truth,
        "seconds": results["steps"]["synonyms_sample_rescan"]["seconds"],
        "ms_per_scanned_entity": round(per_entity * 1000, 2),
        "EXTRAPOLATION_full_first_scan_seconds": round(per_entity * len(entity_ids)),
        "extrapolation_note": "full first scan of every entity = measured seconds per scanned entity x entity count (not run)",
        "similarity_block_rows": SIMILARITY_BLOCK_BYTES // (4 * len(entity_ids)),
        "similarity_block_mb": round(SIMILARITY_BLOCK_BYTES / 2**20),
        "planted_edges_per_entity": round(len(planted) / len(entity_ids), 3),
        "musique_minilm_edges_per_entity": round(MUSIQUE_EDGES_PER_ENTITY, 3),
    }
    del vectors, planted, sample_set
    gc.collect()

    # the graph
    with Step(results, "build_graph", memory):
        kg = build_graph(con)
    results["graph"] = {
        **kg.stats(),
        "vertices": kg.graph.vcount(),
        "edges": kg.graph.ecount(),
        "seconds": results["steps"]["build_graph"]["seconds"],
        "peak_rss_mb": results["steps"]["build_graph"]["peak_rss_mb"],
    }
    print(json.dumps(results["graph"]), flush=True)
    graph_path = workdir / "graph.pkl"
    with Step(results, "graph_save", memory):
        kg.save(graph_path)
    del kg
    gc.collect()
    with Step(results, "graph_load", memory):
        kg = KnowledgeGraph.load(graph_path)
    results["graph_pickle"] = {
        "mb": round(graph_path.stat().st_size / 2**20, 1),
        "save_seconds": results["steps"]["graph_save"]["seconds"],
        "load_seconds": results["steps"]["graph_load"]["seconds"],
    }

    # PPR on the whole graph, as HippoRAGRetriever.retrieve calls it
    queries = ppr_queries(kg, con, args.queries, rng)
    full_top: list[np.ndarray] = []
    latencies = []
    personalized_pagerank(kg, reset_vector(kg, queries[0]), 0.5)  # warm-up
    with Step(results, "ppr_whole_graph", memory):
        for query in queries:
            reset = reset_vector(kg, query)
            started = time.perf_counter()
            mass = personalized_pagerank(kg, reset, 0.5)[: kg.n_passages]
            latencies.append((time.perf_counter() - started) * 1000)
            full_top.append(np.argsort(-mass)[:10])
    results["ppr_whole_graph"] = {
        **percentiles(latencies),
        "seeds": "5 entities + every passage (0.3 x min-max dense)",
        "damping": 0.5,
    }
    print(json.dumps(results["ppr_whole_graph"]), flush=True)

    # the whole-graph PPR as HippoRAGRetriever runs it now: power iteration over a sparse operator built once
    with Step(results, "power_operator_build", memory):
        whole = WholeGraphPageRank(kg)
    latencies, agree = [], []
    with Step(results, "ppr_whole_graph_power", memory):
        for query, top in zip(queries, full_top):
            reset = reset_vector(kg, query)
            started = time.perf_counter()
            mass = whole(reset, 0.5)[: kg.n_passages]
            power_top = np.argsort(-mass)[:10]
            latencies.append((time.perf_counter() - started) * 1000)
            agree.append(len(set(power_top.tolist()) & set(top.tolist())) / 10)
    results["ppr_whole_graph_power"] = {
        **percentiles(latencies),
        "operator_build_seconds": results["steps"]["power_operator_build"]["seconds"],
        "top10_overlap_with_prpack": round(float(np.mean(agree)), 3),
    }
    print(json.dumps(results["ppr_whole_graph_power"]), flush=True)
    del whole
    gc.collect()

    # the restriction, with the code HippoRAGRetriever.retrieve runs when ppr_neighbourhood_hops > 0
    restriction = {
        "ppr_neighbourhood_hops": args.hops,
        "ppr_neighbourhood_passages": args.dense_passages,
        "ppr_neighbourhood_max_degree": args.max_degree,
    }
    retriever = HippoRAGRetriever.__new__(
        HippoRAGRetriever
    )  # the graph part only: no facts, linker or embedder at 100k
    retriever.kg, retriever.params = (
        kg,
        dataclasses.replace(HippoParams.of(Settings()), **restriction, ppr_whole_graph_below=0),
    )  # restricted whatever the size
    with Step(results, "adjacency_build", memory):
        adjacency = Adjacency.of(kg)
    latencies, sizes, agree5, agree10, gold_full, gold_restricted = [], [], [], [], [], []
    with Step(results, "ppr_restricted", memory):
        for query, top in zip(queries, full_top):
            reset = reset_vector(kg, query)
            started = time.perf_counter()
            vertices = retriever.neighbourhood(query["seeds"], reset, 10)
            mass = restricted_pagerank(kg, reset, vertices, 0.5, adjacency)[: kg.n_passages]
            restricted_top = np.argsort(-mass)[:10]
            latencies.append((time.perf_counter() - started) * 1000)
            sizes.append(len(vertices))
            agree5.append(len(set(restricted_top[:5].tolist()) & set(top[:5].tolist())) / 5)
            agree10.append(len(set(restricted_top.tolist()) & set(top.tolist())) / 10)
            gold_full.append(len(set(query["gold"]) & set(top[:5].tolist())) / 2)
            gold_restricted.append(len(set(query["gold"]) & set(restricted_top[:5].tolist())) / 2)
    results["ppr_restricted"] = {
        **percentiles(latencies),
        **restriction,
        "includes": "neighbourhood + PPR on it + top-10 (the one-off Adjacency.of is in adjacency_build)",
        "adjacency_build_seconds": results["steps"]["adjacency_build"]["seconds"],
        "adjacency_mb": round(
            (adjacency.offsets.nbytes + adjacency.targets.nbytes + adjacency.weights.nbytes + adjacency.strength.nbytes)
            / 2**20
        ),
        "subgraph_vertices_p50": int(np.percentile(sizes, 50)),
        "subgraph_vertices_p95": int(np.percentile(sizes, 95)),
        "graph_vertices": kg.graph.vcount(),
        "top5_overlap_with_whole_graph": round(float(np.mean(agree5)), 3),
        "top10_overlap_with_whole_graph": round(float(np.mean(agree10)), 3),
        "synthetic_gold_recall@5_whole_graph": round(float(np.mean(gold_full)), 3),
        "synthetic_gold_recall@5_restricted": round(float(np.mean(gold_restricted)), 3),
    }
    print(json.dumps(results["ppr_restricted"]), flush=True)
    con.close()
    del kg, queries, retriever, adjacency
    gc.collect()

    if args.musique and Path(args.musique, "fieldmap.duckdb").exists():
        with Step(results, "musique_recall", memory):
            results["musique"] = musique(args.musique, Path(args.questions), restriction)
        print(json.dumps(results["musique"]), flush=True)

    memory.stop()
    results["wall_seconds"] = round(time.perf_counter() - wall, 1)
    results["peak_rss_mb_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    results["load_average_at_end"] = list(os.getloadavg())
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(markdown(results))
    print(f"\nwritten {out}")


def markdown(r: dict) -> str:
    s, g, w = r["steps"], r["graph"], r["workspace"]
    inc, smp = r["synonyms_incremental_1pct"], r["synonyms_sample"]
    m = r["machine"]
    lines = [
        f"Synthetic workspace: {w['chunks']:,} passages, {w['entities']:,} entities, {w['mentions']:,} mentions, {w['triplets']:,} triplets "
        f"(DuckDB {w['duckdb_file_mb']} MB). Machine: {m['nproc']} cores ({m['cpu_model']}), {m['memory_gb']} GB, load average at start "
        f"{m['load_average_at_start'][0]:.2f}.",
        "",
        "| step | figure | wall time | peak RSS |",
        "|---|---|---|---|",
        f"| write synthetic DuckDB (insert_rows) | {w['mentions']:,} mentions | {s['write_duckdb']['seconds']:.1f} s | {s['write_duckdb']['peak_rss_mb']:,} MB |",
        f"| `build_graph` | {g['vertices']:,} vertices, {g['edges']:,} edges ({g['passage_entity_edges']:,} mention, {g['relation_edges']:,} relation, {g['synonym_edges']:,} synonym) "
        f"| {g['seconds']:.1f} s | {g['peak_rss_mb']:,} MB |",
        f"| synonyms, incremental (entities new in the last 1% of passages) | {inc['entities_scanned']:,} scanned vs {inc['entities_total']:,}, {inc['edges_added']:,} edges, "
        f"planted found {inc['planted_pairs_found']:,}/{inc['planted_pairs_with_new_entity']:,} | {inc['seconds']:.1f} s | {inc['peak_rss_mb']:,} MB |",
        f"| synonyms, sample re-scan | {smp['entities_scanned']:,} scanned vs all ({smp['ms_per_scanned_entity']} ms/entity) | {smp['seconds']:.1f} s | {s['synonyms_sample_rescan']['peak_rss_mb']:,} MB |",
        f"| synonyms, full first scan (**extrapolation** from the sample) | {w['entities']:,} entities | ~{smp['EXTRAPOLATION_full_first_scan_seconds']:,} s | (blocks of {smp['similarity_block_rows']:,} rows: {smp['similarity_block_mb']:,} MB) |",
        f"| `KnowledgeGraph.save` / `load` | pickle {r['graph_pickle']['mb']} MB | {s['graph_save']['seconds']:.1f} s / {s['graph_load']['seconds']:.1f} s | {s['graph_save']['peak_rss_mb']:,} / {s['graph_load']['peak_rss_mb']:,} MB |",
        f"| PPR, whole graph ({r['ppr_whole_graph']['n']} queries) | p50 {r['ppr_whole_graph']['p50_ms']:,} ms, p95 {r['ppr_whole_graph']['p95_ms']:,} ms | | {s['ppr_whole_graph']['peak_rss_mb']:,} MB |",
    ]
    p = r["ppr_restricted"]
    lines.append(
        f"| PPR, restricted (hops={p['ppr_neighbourhood_hops']}, max_degree={p['ppr_neighbourhood_max_degree']}, +{p['ppr_neighbourhood_passages']} dense passages) "
        f"| p50 {p['p50_ms']:,} ms, p95 {p['p95_ms']:,} ms; subgraph p50 {p['subgraph_vertices_p50']:,} / p95 {p['subgraph_vertices_p95']:,} vertices | | {s['ppr_restricted']['peak_rss_mb']:,} MB |"
    )
    lines.append(
        f"| `Adjacency.of` (once per graph, for the restricted PPR) | {p['adjacency_mb']} MB of arrays | {s['adjacency_build']['seconds']:.1f} s | {s['adjacency_build']['peak_rss_mb']:,} MB |"
    )
    if "musique" in r:
        mq = r["musique"]
        lines += [
            "",
            f"| MuSiQue ({mq['questions']} questions, minilm), hipporag | Recall@2 | Recall@5 | query p50 | query p95 |",
            "|---|---|---|---|---|",
        ]
        for name in ("whole_graph", "restricted"):
            v = mq[name]
            lines.append(
                f"| {name.replace('_', ' ')} | {v['recall@2']:.4f} | {v['recall@5']:.4f} | {v['p50_ms']:.0f} ms | {v['p95_ms']:.0f} ms |"
            )
        lines.append(
            f"\nMuSiQue: the same top-5 documents in {mq['questions_with_the_same_top5_documents']}/{mq['questions']} questions; restricted subgraph "
            f"p50 {mq['restricted_vertices_p50']:,} of {mq['graph_vertices']:,} vertices. At {w['chunks']:,} passages: top-5 overlap with the whole-graph PPR "
            f"{p['top5_overlap_with_whole_graph']:.0%}, synthetic gold Recall@5 {p['synthetic_gold_recall@5_whole_graph']:.2f} (whole) vs "
            f"{p['synthetic_gold_recall@5_restricted']:.2f} (restricted)."
        )
    lines.append(
        f"\nprocess peak RSS (ru_maxrss) {r['peak_rss_mb_process']:,} MB; total wall time {r['wall_seconds']:.0f} s"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
