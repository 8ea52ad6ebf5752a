"""`fieldmap run --corpus` takes one or more paths, and repeating the flag still works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import build_parser
from tests.conftest import FIXTURES

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("argv", "corpus"),
    [
        (["--corpus", "a.jsonl"], ["a.jsonl"]),
        (["--corpus", "a.jsonl", "b.jsonl"], ["a.jsonl", "b.jsonl"]),
        (["--corpus", "a.jsonl", "--corpus", "b/"], ["a.jsonl", "b/"]),
        (["--corpus", "a.jsonl", "b.jsonl", "--schema", "general", "--corpus", "c/"], ["a.jsonl", "b.jsonl", "c/"]),
        ([], None),
    ],
)
def test_corpus_takes_several_paths_and_repeats(argv, corpus):
    assert build_parser().parse_args(["run", *argv]).corpus == corpus


def test_corpus_without_a_path_is_an_error(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--corpus"])
    assert "--corpus" in capsys.readouterr().err


def test_every_listed_corpus_is_read(tmp_path):
    """A dry run with an LLM configured (nothing is sent) counts the documents of both files given to one --corpus."""
    first = tmp_path / "first.jsonl"
    first.write_text("".join((FIXTURES / "arxiv-20.jsonl").read_text().splitlines(keepends=True)[:3]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDMAP_", "OPENAI_", "DAGSTER_"))}
    env.update(PYTHONPATH=str(REPO), OPENAI_BASE_URL="http://127.0.0.1:9/v1")  # a port nothing listens on
    command = [
        sys.executable,
        "-m",
        "app.cli",
        "run",
        "--dry-run",
        "--workspace",
        str(tmp_path / "ws"),
        "--corpus",
        str(first),
        str(FIXTURES / "arxiv-5-more.jsonl"),
    ]
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    pending = re.search(r"structures: (\d+) pending", run.stdout)
    assert pending and int(pending.group(1)) == 3 + 5, run.stdout
