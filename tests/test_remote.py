"""`fieldmap ask` hands its question to a running `fieldmap serve` of the same workspace and settings
(app/remote.py), gives the answer an engine in process gives, and asks in process when no server is there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from app.remote import SERVING_FILE, ask_server
from tests.serving import Serving
from tests.test_server import REPO, comparable

QUESTION = "What do X-ray observations reveal about galaxy clusters?"


def cli_ask(workspace, cwd, *extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDMAP_", "OPENAI_"))} | {
        "PYTHONPATH": str(REPO)
    }
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "ask", "--workspace", str(workspace), QUESTION, "--json", *extra],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_ask_goes_to_the_running_server_and_answers_the_same(built_workspace, tmp_path):
    workspace = tmp_path / "ws"
    shutil.copytree(built_workspace.workspace, workspace, ignore=shutil.ignore_patterns("dagster"))
    settings = built_workspace.model_copy(update={"workspace": workspace})
    served = Serving(["--workspace", f"demo={workspace}", "--concurrency", "1"], tmp_path)
    try:
        served.wait_until_up()
        record = json.loads((workspace / SERVING_FILE).read_text())
        assert record["pid"] == served.process.pid and record["url"].endswith("/w/demo") and record["keys"] is False
        from_server = ask_server(settings, QUESTION, "hipporag", None)
        assert from_server is not None
        assert comparable(cli_ask(workspace, tmp_path)) == comparable(from_server)
        assert comparable(cli_ask(workspace, tmp_path, "--local")) == comparable(from_server)
        # other settings (a smaller top_k): not the server's answer to give
        assert ask_server(settings.model_copy(update={"top_k": 2}), QUESTION, "hipporag", None) is None
        with pytest.raises(ValueError):
            ask_server(settings, QUESTION, "no-such-mode", None)
    finally:
        served.stop()
    assert not (workspace / SERVING_FILE).exists()  # withdrawn when the server stops
    assert ask_server(settings, QUESTION, "hipporag", None) is None
