"""What every `fieldmap` command shares: the two consoles, the settings of its arguments, the options every command
takes, the progress bars."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.progress import Progress

from fieldmap.settings import Settings

console = Console(stderr=True)  # progress, warnings, errors
out = Console()  # results


def settings_of(args: argparse.Namespace, **extra) -> Settings:
    settings = Settings.load(workspace=args.workspace, config_file=args.config, **extra)
    if settings.workspace.exists() and not settings.workspace.is_dir():
        raise ValueError(
            f"the workspace {settings.workspace} is a file, not a folder: name a folder (it is created when missing)."
        )
    return settings


class RichProgress:
    """One bar per pipeline step."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        if step not in self.tasks:
            self.tasks[step] = self.progress.add_task(step, total=total)
        self.progress.update(self.tasks[step], completed=done, total=total)


def common_options(workspace: bool = True) -> argparse.ArgumentParser:
    """The options every command takes (`serve` has a --workspace of its own: NAME=PATH, repeatable)."""
    common = argparse.ArgumentParser(add_help=False)
    if workspace:
        common.add_argument("--workspace", "-w", help="workspace directory (default .fieldmap/ or FIELDMAP_WORKSPACE)")
    common.add_argument("--config", help="a fieldmap.toml (default ./fieldmap.toml when present); it must exist")
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="print the traceback of an error"
    )
    return common
