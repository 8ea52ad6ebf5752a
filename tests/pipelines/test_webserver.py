"""dagster-webserver on a loopback port: the definitions load, and a run launched through GraphQL succeeds.

The webserver gets its own DAGSTER_HOME whose dagster.yaml uses the DefaultRunCoordinator, so a launched run
starts at once (the default QueuedRunCoordinator would wait for a dagster-daemon that nothing starts here), and
the default run launcher runs it in a subprocess of the code server. The run uses the job's default run config:
the multiprocess executor, one step at a time (pipelines/definitions.py says why).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fieldmap.store import connect
from pipelines.checks import ALL_CHECKS
from tests.conftest import FIXTURES

REPO = Path(__file__).resolve().parents[2]
ASSETS = {"documents", "chunks", "structures", "triplets", "vector_index", "graph", "memory", "dashboard"}
DOCS = 5
STARTUP_TIMEOUT = 180
RUN_TIMEOUT = 300

DAGSTER_YAML = """\
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
"""

REPOSITORIES = """
query {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        jobs { name }
        schedules { name cronSchedule }
        sensors { name }
        assetNodes { assetKey { path } description groupName }
      }
    }
    ... on PythonError { message stack }
  }
}"""

LOCATIONS = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries { name loadStatus locationOrLoadError { __typename ... on PythonError { message stack } } }
    }
  }
}"""

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}"""

RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      status
      assetMaterializations {
        assetKey { path }
        metadataEntries { label ... on IntMetadataEntry { intValue } }
      }
    }
    ... on Error { message }
  }
}"""

EVENTS = """
query Events($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run {
      eventConnection(limit: 1000) {
        events {
          __typename
          ... on ExecutionStepFailureEvent { stepKey error { message stack } }
          ... on RunFailureEvent { message }
          ... on AssetCheckEvaluationEvent { evaluation { checkName success } }
        }
      }
    }
  }
}"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        reply = json.loads(response.read())
    assert not reply.get("errors"), reply["errors"]
    return reply["data"]


class Webserver:
    """`python -m dagster_webserver` started from the repository root; its output goes to files."""

    def __init__(self, tmp_path: Path, env: dict[str, str]):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        self.stdout = tmp_path / "webserver.out"
        self.stderr = tmp_path / "webserver.err"
        command = [
            sys.executable,
            "-m",
            "dagster_webserver",
            "-m",
            "pipelines.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            # its own process group, so the code server and run workers it starts are stopped with it
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=err, start_new_session=True)

    def query(self, query: str, variables: dict | None = None) -> dict:
        return _graphql(self.url, query, variables)

    def wait_until_loaded(self) -> dict:
        """The one repository, once the server answers and the code location has loaded."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"dagster-webserver exited with {self.process.returncode}"
            try:
                entries = self.query(LOCATIONS)["workspaceOrError"].get("locationEntries", [])
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
                continue
            errors = [
                e["locationOrLoadError"]
                for e in entries
                if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"
            ]
            assert not errors, f"the code location failed to load: {errors}"
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                repositories = self.query(REPOSITORIES)["repositoriesOrError"]
                assert repositories["__typename"] == "RepositoryConnection", repositories
                assert len(repositories["nodes"]) == 1, repositories["nodes"]
                return repositories["nodes"][0]
            time.sleep(1)
        raise AssertionError(f"dagster-webserver did not load the definitions within {STARTUP_TIMEOUT}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
            except ProcessLookupError:
                pass

    def output(self) -> str:
        def tail(path: Path) -> str:
            return path.read_text(errors="replace")[-20000:] if path.exists() else ""

        return f"--- webserver stderr ---\n{tail(self.stderr)}\n--- webserver stdout ---\n{tail(self.stdout)}"


@pytest.fixture
def webserver(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    corpus = tmp_path / f"arxiv-{DOCS}.jsonl"
    corpus.write_text("".join((FIXTURES / "arxiv-20.jsonl").read_text().splitlines(keepends=True)[:DOCS]))
    # the developer's FIELDMAP_* and OPENAI_* settings would change what the run does: drop them
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDMAP_", "OPENAI_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), FIELDMAP_WORKSPACE=str(tmp_path / "ws"), FIELDMAP_CORPUS=str(corpus))
    server = Webserver(tmp_path, env)
    server.workspace = tmp_path / "ws"
    try:
        yield server
    finally:
        server.stop()


def _metadata(materializations: list[dict]) -> dict[str, dict]:
    return {
        "/".join(m["assetKey"]["path"]): {e["label"]: e.get("intValue") for e in m["metadataEntries"]}
        for m in materializations
    }


@pytest.mark.slow
@pytest.mark.timeout(STARTUP_TIMEOUT + RUN_TIMEOUT + 120)
def test_webserver_lists_the_definitions_and_runs_the_pipeline(webserver):
    try:
        repository = webserver.wait_until_loaded()

        nodes = {"/".join(n["assetKey"]["path"]): n for n in repository["assetNodes"]}
        assert set(nodes) == ASSETS
        for key, node in nodes.items():
            assert node["description"], f"{key} has no description"
            assert node["groupName"] and node["groupName"] != "default", f"{key} has no group"
        assert "fieldmap_pipeline" in {j["name"] for j in repository["jobs"]}
        assert "daily_refresh" in {s["name"] for s in repository["schedules"]}
        assert "inbox_sensor" in {s["name"] for s in repository["sensors"]}

        selector = {
            "repositoryLocationName": repository["location"]["name"],
            "repositoryName": repository["name"],
            "jobName": "fieldmap_pipeline",
        }
        launched = webserver.query(LAUNCH, {"params": {"selector": selector, "runConfigData": {}}})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]

        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            run = webserver.query(RUN, {"runId": run_id})["runOrError"]
            assert run["__typename"] == "Run", run
            if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            assert time.monotonic() < deadline, f"run {run_id} still {run['status']} after {RUN_TIMEOUT}s"
            time.sleep(2)
        events = webserver.query(EVENTS, {"runId": run_id})["runOrError"]["eventConnection"]["events"]
        failures = [e for e in events if e["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent")]
        assert run["status"] == "SUCCESS", json.dumps(failures, indent=1)[:20000]

        metadata = _metadata(run["assetMaterializations"])
        assert set(metadata) == ASSETS
        assert metadata["documents"]["new"] == DOCS and metadata["chunks"]["documents_chunked"] == DOCS
        assert metadata["structures"]["documents_structured"] == DOCS
        checks = {
            e["evaluation"]["checkName"]: e["evaluation"]["success"]
            for e in events
            if e["__typename"] == "AssetCheckEvaluationEvent"
        }
        assert set(checks) == {key.name for check in ALL_CHECKS for key in check.check_keys} and all(checks.values()), (
            checks
        )

        con = connect(webserver.workspace / "fieldmap.duckdb", read_only=True)
        try:
            assert con.execute("SELECT count(*) FROM documents").fetchall() == [(DOCS,)]
            assert con.execute("SELECT count(*) FROM chunks").fetchall()[0][0] >= DOCS
        finally:
            con.close()
    except BaseException:
        print(webserver.output())
        raise


ASSET_STATE = """
query {
  assetNodes {
    assetKey { path }
    assetMaterializations(limit: 1) { runId metadataEntries { label ... on IntMetadataEntry { intValue } } }
    assetChecksOrError { __typename ... on AssetChecks { checks { name executionForLatestMaterialization { status runId evaluation { success } } } } }
  }
}"""

SCHEDULES = """
query { repositoriesOrError { ... on RepositoryConnection { nodes { schedules { name scheduleState { status } } } } } }"""

START_SCHEDULE = """
mutation Start($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}"""


def _schedule_status(server: Webserver) -> str:
    schedules = server.query(SCHEDULES)["repositoriesOrError"]["nodes"][0]["schedules"]
    return {s["name"]: s["scheduleState"]["status"] for s in schedules}["daily_refresh"]


@pytest.mark.slow
@pytest.mark.timeout(2 * STARTUP_TIMEOUT + RUN_TIMEOUT + 120)
def test_the_ui_shows_what_the_cli_ran_and_keeps_schedule_state(tmp_path):
    """`fieldmap run` records into <workspace>/dagster; the webserver on that DAGSTER_HOME (what `make ui` starts)
    shows the eight materialisations with their metadata and the checks' results, and a started schedule is still
    running after a restart."""
    from pipelines.instance import dagster_home
    from tests.conftest import make_settings

    corpus = tmp_path / f"arxiv-{DOCS}.jsonl"
    corpus.write_text("".join((FIXTURES / "arxiv-20.jsonl").read_text().splitlines(keepends=True)[:DOCS]))
    workspace = tmp_path / "ws"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDMAP_", "OPENAI_", "DAGSTER_"))}
    env["PYTHONPATH"] = str(REPO)
    run = subprocess.run(
        [sys.executable, "-m", "app.cli", "run", "--workspace", str(workspace), "--corpus", str(corpus)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert run.returncode == 0, run.stderr[-5000:]
    home = dagster_home(make_settings(workspace))
    assert home == (workspace / "dagster").resolve() and (home / "dagster.yaml").exists()

    env.update(DAGSTER_HOME=str(home), FIELDMAP_WORKSPACE=str(workspace), FIELDMAP_CORPUS=str(corpus))
    server = Webserver(tmp_path, env)
    try:
        repository = server.wait_until_loaded()
        nodes = {"/".join(n["assetKey"]["path"]): n for n in server.query(ASSET_STATE)["assetNodes"]}
        assert set(nodes) == ASSETS
        latest = {key: node["assetMaterializations"] for key, node in nodes.items()}
        assert all(len(m) == 1 for m in latest.values()), latest
        run_ids = {m[0]["runId"] for m in latest.values()}
        assert len(run_ids) == 1, "all eight come from the one CLI run"
        metadata = _metadata([{"assetKey": {"path": key.split("/")}, **m[0]} for key, m in latest.items()])
        assert metadata["documents"]["new"] == DOCS and metadata["chunks"]["documents_chunked"] == DOCS

        checks = {}
        for node in nodes.values():
            assert node["assetChecksOrError"]["__typename"] == "AssetChecks", node["assetChecksOrError"]
            for check in node["assetChecksOrError"]["checks"]:
                checks[check["name"]] = check["executionForLatestMaterialization"]
        assert set(checks) == {key.name for check in ALL_CHECKS for key in check.check_keys}
        assert all(
            e is not None and e["status"] == "SUCCEEDED" and e["evaluation"]["success"] and e["runId"] in run_ids
            for e in checks.values()
        ), checks

        assert _schedule_status(server) == "STOPPED"
        selector = {
            "repositoryLocationName": repository["location"]["name"],
            "repositoryName": repository["name"],
            "scheduleName": "daily_refresh",
        }
        started = server.query(START_SCHEDULE, {"selector": selector})["startSchedule"]
        assert started["__typename"] == "ScheduleStateResult" and started["scheduleState"]["status"] == "RUNNING", (
            started
        )
        server.stop()

        server = Webserver(tmp_path, env)
        server.wait_until_loaded()
        assert _schedule_status(server) == "RUNNING"
    except BaseException:
        print(server.output())
        raise
    finally:
        server.stop()
