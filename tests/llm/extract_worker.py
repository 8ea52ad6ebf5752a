"""LLM extraction over a prepared workspace, as a separate process (the one the resume test kills).

python -m tests.llm.extract_worker WORKSPACE CORPUS BASE_URL
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from fieldmap.llm import llm_client
from fieldmap.store import connect
from kg.llm_extract import LLMExtractor
from kg.steps import extract_pending
from schemas import load_schema
from tests.llm.conftest import fault_settings


def main(workspace: str, corpus: str, base_url: str) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    settings = fault_settings(Path(workspace), base_url, Path(corpus), llm_concurrency=1)
    con = connect(settings.duckdb_path)
    with llm_client(settings, con, "triplets") as client:
        report = extract_pending(con, LLMExtractor(load_schema("science"), client, examples=[]))
    con.close()
    print(f"extracted {report.chunks} failed {report.failed}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
