"""Two clean runs of one corpus, with the parallel spaCy workers, give the same rows."""

import lancedb
import numpy as np

import kg.extract
from pipelines.run import run_pipeline
from tests.conftest import FIXTURES, make_settings
from tests.pipelines.test_lifecycle import snapshot


def _vectors(settings) -> dict[str, dict[str, np.ndarray]]:
    db = lancedb.connect(settings.lancedb_uri)
    found = {}
    for table in ("chunks", "entities", "facts", "gists"):
        arrow = db.open_table(table).to_arrow()
        found[table] = dict(
            zip(arrow.column("id").to_pylist(), np.asarray(arrow.column("vector").to_pylist(), dtype=np.float32))
        )
    return found


def test_two_clean_runs_with_spacy_workers_give_identical_rows(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join((FIXTURES / "arxiv-20.jsonl").read_text().splitlines(keepends=True)[:10])
    )  # small and quick
    monkeypatch.setattr(kg.extract, "PARALLEL_MIN", 8)  # the 10 documents' chunks go to the workers too
    monkeypatch.setenv("FIELDMAP_SPACY_PROCESSES", "2")  # whichever settings the pipeline's resource reads
    runs = [make_settings(tmp_path / f"run{n}", corpus, spacy_processes=2) for n in (1, 2)]
    for settings in runs:
        assert run_pipeline(settings).success
    first, second = (snapshot(s) for s in runs)
    assert first["entity_rows"] and first["triplet_rows"]
    for key in first:
        assert first[key] == second[key], f"{key} differs between two clean runs"
    one, two = (_vectors(s) for s in runs)
    for table in one:
        assert one[table].keys() == two[table].keys()
        worst = max(float(np.abs(one[table][i] - two[table][i]).max()) for i in one[table])
        assert worst < 1e-4, f"{table} vectors differ by {worst}"
