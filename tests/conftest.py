"""Shared fixtures: real fixture files, real DuckDB/LanceDB/spaCy/igraph, one built workspace per session."""

from __future__ import annotations

import inspect
import re
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
    return Settings.load(
        workspace=workspace, config_file=workspace / "none.toml", env={}, corpus=[str(c) for c in corpus], **extra
    )


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


# `make test-fast` leaves out the tests marked `workspace`: those that build a workspace (or read the session's), start
# a server or the CLI. A test is marked when it, a fixture it uses or a helper of its module calls one of these.
BUILDS = re.compile(
    r"\b(run_pipeline|build_here|materialize|subprocess\.\w+|Popen|stdio_client|llama_server|built_workspace)\b|\.build\("
)


def _builds(function, helpers: set[str]) -> bool:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return bool(BUILDS.search(source)) or any(re.search(rf"\b{name}\(", source) for name in helpers)


def pytest_collection_modifyitems(items) -> None:
    helpers_of: dict[object, set[str]] = {}
    for item in items:
        module = getattr(item, "module", None)
        if module not in helpers_of:  # the module's own functions and classes that build, one level deep
            own = [(n, o) for n, o in vars(module).items() if inspect.isfunction(o) or inspect.isclass(o)]
            helpers_of[module] = {
                n for n, o in own if getattr(o, "__module__", None) == module.__name__ and _builds(o, set())
            }
        helpers = helpers_of[module]
        fixtures = [d.func for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs]
        if any(_builds(f, helpers) for f in [getattr(item, "function", None), *fixtures] if f is not None):
            item.add_marker(pytest.mark.workspace)
