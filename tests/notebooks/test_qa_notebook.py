"""The question-answer notebook runs top to bottom, so it never rots."""

import re
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "qa.ipynb"


def test_notebook_executes_and_shows_cited_answers(built_workspace, monkeypatch):
    monkeypatch.setenv("FIELDMAP_WORKSPACE", str(built_workspace.workspace))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    started = time.perf_counter()
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    assert time.perf_counter() - started < 120
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    markdown = "".join(o["data"].get("text/markdown", "") for o in outputs if "data" in o)
    assert markdown.count("**Q:**") == 3
    assert markdown.count("**A:**") == 3 and len(re.findall(r"- \[\d+\] ", markdown)) >= 3  # cited passages listed
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)
