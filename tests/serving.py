"""`fieldmap serve` in a subprocess with any arguments (keys, several workspaces), on a loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.test_server import REPO, STARTUP_TIMEOUT, _free_port


class Serving:
    def __init__(self, args: list[str], tmp_path: Path, env: dict[str, str] | None = None):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"serve-{self.port}.log"
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDMAP_", "OPENAI_"))}
        environment["PYTHONPATH"] = str(REPO)  # this checkout, whatever the venv's editable install points to
        environment.update(env or {})
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), *args]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=tmp_path, env=environment, stdout=log, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_until_up(self) -> "Serving":
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (
                f"fieldmap serve exited with {self.process.returncode}:\n{self.output()}"
            )
            try:
                httpx.get(self.base + "/static/app.js", timeout=5)
                return self
            except httpx.TransportError:
                time.sleep(0.3)
        raise AssertionError(f"fieldmap serve did not answer within {STARTUP_TIMEOUT}s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
