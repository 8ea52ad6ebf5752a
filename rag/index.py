"""LanceDB tables of vectors: chunks (with LanceDB's native full-text index), entities and facts.

The embedder's name and dimension are written beside the tables; opening them with another
embedder raises EmbedderMismatch instead of returning nonsense scores.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from fieldmap.embedders import Embedder
from fieldmap.progress import Progress, batches, silent

log = logging.getLogger(__name__)

META_FILE = "fieldmap-index.json"
# texts per embedding call and LanceDB append: the model sorts one call's texts by length before batching, so a
# window of thousands pads far less than 256 did (chunks of 20-280 tokens), and LanceDB gets fewer, larger fragments.
# Chunk embedding of 600 scale-corpus passages: BENCHMARKS.md "Throughput toward the hardware's limit".
EMBED_WINDOW = 4096


class EmbedderMismatch(RuntimeError):
    pass


def _quote(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def read_meta(uri: str) -> dict | None:
    """The embedder stamp beside the tables, or None; `uri` is a local path or an object-store URI (s3://...)."""
    if "://" not in uri:
        path = Path(uri) / META_FILE
        return json.loads(path.read_text()) if path.exists() else None
    from pyarrow import fs

    filesystem, base = fs.FileSystem.from_uri(uri)
    if filesystem.get_file_info(f"{base}/{META_FILE}").type == fs.FileType.NotFound:
        return None
    with filesystem.open_input_stream(f"{base}/{META_FILE}") as stream:
        return json.loads(stream.read())


def write_meta(uri: str, meta: dict) -> None:
    if "://" not in uri:
        path = Path(uri) / META_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(meta))
        return
    from pyarrow import fs

    filesystem, base = fs.FileSystem.from_uri(uri)
    filesystem.create_dir(base, recursive=True)
    with filesystem.open_output_stream(f"{base}/{META_FILE}") as stream:
        stream.write(json.dumps(meta).encode())


def chunk_vector_count(uri: str) -> int:
    """Chunk vectors stored at `uri`, without an embedder (0 when there is no LanceDB there yet)."""
    import lancedb

    if "://" not in uri and not Path(uri).exists():
        return 0
    db = lancedb.connect(uri)
    return db.open_table("chunks").count_rows() if "chunks" in db.list_tables().tables else 0


class VectorStore:
    """The LanceDB directory of a workspace, bound to one embedder."""

    def __init__(self, uri: str, embedder: Embedder):
        self.uri = uri
        self.embedder = embedder
        import lancedb  # here, not at import: a process that opens no index (most Dagster step processes) skips its seconds

        self.db = lancedb.connect(uri)
        self._check_meta()

    def _check_meta(self) -> None:
        wanted = {"embedder": self.embedder.name, "dim": self.embedder.dim}
        stored = read_meta(self.uri)
        if stored is not None:
            if stored != wanted:
                raise EmbedderMismatch(
                    f"the index at {self.uri} was built with embedder {stored['embedder']} ({stored['dim']}-d), "
                    f"but this run uses {wanted['embedder']} ({wanted['dim']}-d); set FIELDMAP_EMBEDDER={stored['embedder']} "
                    f"or delete {self.uri} to rebuild the index"
                )
        else:
            write_meta(self.uri, wanted)

    def table(self, name: str) -> "VectorTable":
        return VectorTable(self, name)


@dataclass
class SyncCounts:
    added: int  # rows embedded this time, replaced ones included
    removed: int  # rows dropped: their id is gone or their text changed
    total: int
    replaced: int = 0  # ids kept whose text changed: embedded again
    reused: int = 0  # of the added rows, those whose text the table already held under another id: not embedded again


class VectorTable:
    """Rows of (id, doc_id, text, vector) plus any extra string columns; ids are unique."""

    def __init__(self, store: VectorStore, name: str):
        self.store = store
        self.name = name
        self._matrix: tuple[list[str], np.ndarray] | None = None

    def _open(self):
        if self.name not in self.store.db.list_tables().tables:
            return None
        try:
            return self.store.db.open_table(self.name)
        except ValueError as exc:  # listed but never committed: a run was killed while creating it, so it holds no rows
            if "was not found" not in str(exc):
                raise
            log.warning("vector table %s was left half-created by an interrupted run; it is made again", self.name)
            self.store.db.drop_table(self.name)
            return None

    def ids(self) -> set[str]:
        table = self._open()
        if table is None:
            return set()
        return set(table.to_arrow().column("id").to_pylist())

    def texts(self, column: str = "text") -> dict[str, str]:
        """Each row's id and the text it was embedded from: what a sync compares, so a row whose
        text changed under a surviving id is replaced, not kept."""
        table = self._open()
        if table is None:
            return {}
        arrow = table.to_arrow().select(["id", column])
        return dict(zip(arrow.column("id").to_pylist(), arrow.column(column).to_pylist()))

    def sync(
        self, wanted: dict[str, dict], column: str, embed: str, batch: int, progress: Progress = silent, step: str = ""
    ) -> SyncCounts:
        """Make the table hold exactly `wanted` (id -> row): rows whose id is gone or whose `column`
        differs from the wanted row's are dropped, missing and changed rows are embedded (from
        their `embed` text) and added. Content, not the id, decides what is current. A missing row
        whose text some row of the table was embedded from (under another id: a document stored
        again under a new id, a chunk whose index moved) takes that row's vector instead of being embedded."""
        indexed = self.texts(column)
        stale = sorted(i for i, text in indexed.items() if i not in wanted or wanted[i][column] != text)
        kept = indexed.keys() - set(stale)
        missing = [(i, row) for i, row in wanted.items() if i not in kept]
        known = self._vectors_of_texts({row[embed] for _, row in missing}, indexed) if column == embed else {}
        if stale:
            self.delete_ids(stale)
        for done, part in enumerate(batches(missing, batch)):
            self.add([{"id": i, **row} for i, row in part], self._embedded([row[embed] for _, row in part], known))
            progress(step or f"embed {self.name}", min((done + 1) * batch, len(missing)), len(missing))
        replaced = sum(1 for i in stale if i in wanted)
        reused = sum(1 for _, row in missing if row[embed] in known)
        return SyncCounts(len(missing), len(stale), self.count(), replaced, reused)

    def _vectors_of_texts(self, texts: set[str], indexed: dict[str, str]) -> dict[str, np.ndarray]:
        """text -> the stored vector of a row embedded from it, for those of `texts` the table holds (`indexed`: id -> text)."""
        ids = {text: i for i, text in indexed.items() if text in texts}
        if not ids:
            return {}
        by_id = {}
        table = self._open()
        chosen = sorted(ids.values())
        for start in range(0, len(chosen), 500):
            arrow = (
                table.search()
                .where(f"id IN ({_quote(chosen[start : start + 500])})")
                .select(["id", "vector"])
                .limit(500)
                .to_arrow()
            )
            vectors = arrow.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, self.store.embedder.dim)
            by_id.update(zip(arrow.column("id").to_pylist(), vectors.astype(np.float32)))
        return {text: by_id[i] for text, i in ids.items() if i in by_id}

    def _embedded(self, texts: list[str], known: dict[str, np.ndarray]) -> np.ndarray:
        """The vectors of `texts`, in order: the `known` ones as they are, the rest embedded in one call."""
        fresh = [t for t in texts if t not in known]
        vectors = dict(zip(fresh, self.store.embedder.passages(fresh))) if fresh else {}
        return (
            np.stack([known[t] if t in known else vectors[t] for t in texts])
            if texts
            else np.zeros((0, self.store.embedder.dim), np.float32)
        )

    def count(self) -> int:
        table = self._open()
        return 0 if table is None else table.count_rows()

    def add(self, rows: list[dict], vectors: np.ndarray) -> None:
        if not rows:
            return
        columns = {key: [row[key] for row in rows] for key in rows[0]}
        flat = pa.array(np.asarray(vectors, dtype=np.float32).reshape(-1))
        data = pa.table({**columns, "vector": pa.FixedSizeListArray.from_arrays(flat, self.store.embedder.dim)})
        table = self._open()
        if table is None:
            self.store.db.create_table(self.name, data=data)
        else:
            table.add(data)
        self._matrix = None

    def delete_ids(self, ids: list[str]) -> None:
        table = self._open()
        for start in range(0, len(ids), 500):
            table.delete(f"id IN ({_quote(ids[start : start + 500])})")
        self._matrix = None

    def delete_docs(self, doc_ids: list[str]) -> None:
        table = self._open()
        if table is None or not doc_ids:
            return
        for start in range(0, len(doc_ids), 500):
            table.delete(f"doc_id IN ({_quote(doc_ids[start : start + 500])})")
        self._matrix = None

    def build_fulltext(self, column: str = "text") -> None:
        """(Re)build LanceDB's native inverted index on one column (it indexes one column only)."""
        table = self._open()
        if table is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table.create_fts_index(column, replace=True)

    def dense(self, query_vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Top-k ids by cosine similarity (brute force inside LanceDB, also where the synonym step indexed the table)."""
        table = self._open()
        if table is None:
            return []
        rows = (
            table.search(np.asarray(query_vector, dtype=np.float32))
            .metric("cosine")
            .bypass_vector_index()
            .select(["id", "_distance"])
            .limit(k)
            .to_list()
        )
        return [(row["id"], 1.0 - float(row["_distance"])) for row in rows]

    def fulltext(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top-k ids by BM25 over LanceDB's native inverted index."""
        table = self._open()
        if table is None or not query.strip():
            return []
        rows = table.search(query, query_type="fts").select(["id", "_score"]).limit(k).to_list()
        return [(row["id"], float(row["_score"])) for row in rows]

    def lance_table(self):
        """The LanceDB table itself, or None before the first row (for kg.synonym_ann's index)."""
        return self._open()

    def column(self, name: str) -> list:
        """One column of every row, in the order of matrix()."""
        table = self._open()
        return [] if table is None else table.to_arrow().column(name).to_pylist()

    def matrix(self) -> tuple[list[str], np.ndarray]:
        """All ids and vectors, cached until the table changes (for whole-corpus scoring)."""
        if self._matrix is None:
            table = self._open()
            if table is None:
                self._matrix = ([], np.zeros((0, self.store.embedder.dim), dtype=np.float32))
            else:
                arrow = table.to_arrow().select(["id", "vector"])
                vectors = (
                    arrow.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, self.store.embedder.dim)
                )
                self._matrix = (arrow.column("id").to_pylist(), vectors.astype(np.float32))
        return self._matrix
