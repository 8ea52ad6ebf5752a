"""A changed chunk size or schema reaches the documents already stored; the dry run says so first."""

import json

from pipelines.llm_estimate import estimate_run
from pipelines.run import asset_metadata, check_results, run_pipeline
from tests.conftest import make_settings
from tests.pipelines.test_lifecycle import assert_consistent, snapshot

TEXT = " ".join(f"The Chandra telescope observed galaxy cluster number {n} in X-rays." for n in range(12))


def _settings(monkeypatch, workspace, corpus, chunk_size, **extra):
    monkeypatch.setenv("FIELDMAP_CHUNK_SIZE", str(chunk_size))  # whichever settings the pipeline's resource reads
    return make_settings(workspace, corpus, chunk_size=chunk_size, **extra)


def test_changed_settings_redo_the_stale_rows_and_the_dry_run_shows_them_first(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "title": f"Survey {i}", "text": TEXT}) + "\n" for i in ("a", "b")))
    first = _settings(monkeypatch, tmp_path / "ws", corpus, 200)
    assert run_pipeline(first).success
    assert estimate_run(first).stale == {
        "documents to re-chunk": 0,
        "documents to re-structure": 0,
        "chunks to re-extract": 0,
        "gists to rewrite": 0,
    }

    smaller = _settings(monkeypatch, tmp_path / "ws", corpus, 30)
    assert estimate_run(smaller).stale["documents to re-chunk"] == 2
    assert "2 documents to re-chunk" in estimate_run(smaller).lines()[1]
    metadata = asset_metadata(result := run_pipeline(smaller))
    assert result.success and all(check_results(result).values())
    assert metadata["chunks"]["stale_documents"] == 2 and metadata["chunks"]["documents_chunked"] == 2
    assert metadata["triplets"]["chunks_extracted"] == metadata["chunks"]["chunks_total"] > 2
    assert_consistent(smaller)
    assert all(len(text.split()) < 60 for _, _, text in snapshot(smaller)["chunk_texts"])  # the new size reached them

    general = _settings(monkeypatch, tmp_path / "ws", corpus, 30, schema_name="general")
    chunks = metadata["chunks"]["chunks_total"]
    assert estimate_run(general).stale["chunks to re-extract"] == chunks
    again = asset_metadata(run_pipeline(general))
    assert again["chunks"]["stale_documents"] == 0 and again["triplets"]["stale_chunks"] == chunks
    assert asset_metadata(run_pipeline(general))["triplets"]["chunks_extracted"] == 0  # nothing is stale any more
    assert_consistent(general)
