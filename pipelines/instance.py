"""One Dagster instance per workspace: `<workspace>/dagster` is DAGSTER_HOME for `fieldmap run` and `make ui`.

So the UI shows every materialisation, its metadata and the asset checks' results of the CLI's runs, and the
schedule's and sensor's state survive restarts. A DAGSTER_HOME the user set wins; the entry point (the CLI,
the Makefile) reads the environment and passes it here.

    python -m pipelines.instance DIR   # prepare DIR as a DAGSTER_HOME (what `make ui` does first)
"""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg

from fieldmap.settings import Settings

# Written once, never overwritten (a user's own dagster.yaml stays as it is). Telemetry off: nothing leaves the
# machine. Storage is Dagster's default: SQLite files under the home, which `dagster dev` and the CLI share.
DAGSTER_YAML = """\
# fieldmap's Dagster instance for this workspace (pipelines/instance.py); edit freely, it is not rewritten.
telemetry:
  enabled: false
"""


def dagster_home(settings: Settings, user_home: str | None = None) -> Path:
    """The user's DAGSTER_HOME when set, else `<workspace>/dagster`; absolute, as Dagster requires."""
    return Path(user_home).expanduser().resolve() if user_home else (settings.workspace / "dagster").resolve()


def prepare_home(home: Path) -> Path:
    """The directory, with a dagster.yaml, ready to be DAGSTER_HOME."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    return home


def workspace_instance(settings: Settings, user_home: str | None = None) -> dg.DagsterInstance:
    """The persistent Dagster instance of this workspace (close it when done, e.g. `with ... as instance`)."""
    return dg.DagsterInstance.from_config(str(prepare_home(dagster_home(settings, user_home))))


if __name__ == "__main__":
    print(prepare_home(Path(sys.argv[1]).resolve()))
