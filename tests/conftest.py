"""Shared fixtures: real fixture files, real DuckDB/LanceDB/spaCy/igraph, one built workspace per session."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fieldmap.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def make_settings(workspace: Path, *corpus: Path, **extra) -> Settings:
    """Settings isolated from the developer's environment and fieldmap.toml."""
    return Settings.load(workspace=workspace, config_file=workspace / "none.toml", env={}, corpus=[str(c) for c in corpus], **extra)


def build_here(workspace: Path, *corpus: Path) -> Settings:
    """A workspace built in this process, where the models stay loaded from test to test: a CLI test builds
    its starting workspace so, and runs the commands it is about through the console script (a `fieldmap run`
    there would pay the model loads again)."""
    from pipelines.run import run_pipeline

    settings = make_settings(workspace, *corpus)
    assert run_pipeline(settings).success
    return settings


@pytest.fixture(scope="session")
def built_workspace(tmp_path_factory) -> Settings:
    """The 20-document arXiv fixture run through every asset once, shared read-only by query tests."""
    workspace = tmp_path_factory.mktemp("ws20")
    corpus = workspace / "arxiv-20.jsonl"
    shutil.copy(FIXTURES / "arxiv-20.jsonl", corpus)
    return build_here(workspace, corpus)
