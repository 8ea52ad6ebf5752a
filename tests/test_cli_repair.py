"""`fieldmap delete` of an unknown id, `undelete` and `retry-failed`, through the console script."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import build_here

FIELDMAP = [sys.executable, "-m", "app.cli"]  # this checkout's CLI, installed or not


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    return subprocess.run(FIELDMAP + list(args), cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def test_delete_unknown_id_is_an_error_unless_forced_and_undelete_restores(tmp_path: Path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"id": "x1", "title": "Crab", "text": "The Chandra telescope observed the Crab Nebula."}\n')
    workspace = str(tmp_path / "ws")
    build_here(
        tmp_path / "ws", corpus
    )  # in this process; delete, undelete, status and retry-failed through the console script
    typo = _run("delete", "--workspace", workspace, "x2", cwd=tmp_path)
    assert (
        typo.returncode == 2 and "'x2'" in typo.stderr and "--force" in typo.stderr and "Traceback" not in typo.stderr
    )
    never = _run("undelete", "--workspace", workspace, "x1", cwd=tmp_path)
    assert never.returncode == 2 and "never deleted" in never.stderr
    forced = _run("delete", "--workspace", workspace, "--force", "x1", "x2", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "deleted: x1" in forced.stdout and "not stored (remembered as deleted: --force): x2" in forced.stdout
    status = json.loads(_run("status", "--workspace", workspace, "--json", cwd=tmp_path).stdout)
    assert status["documents"] == 0 and [r["doc_id"] for r in status["skipped_records"]] == [
        "x1"
    ]  # the tombstoned record is listed
    restored = _run("undelete", "--workspace", workspace, "x1", cwd=tmp_path)
    assert restored.returncode == 0 and "undeleted: x1" in restored.stdout
    retried = _run("retry-failed", "--workspace", workspace, cwd=tmp_path)
    assert retried.returncode == 0 and "0 chunks to retry" in retried.stdout
    assert json.loads(_run("status", "--workspace", workspace, "--json", cwd=tmp_path).stdout)["documents"] == 1
