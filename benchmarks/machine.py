"""What a benchmark records of the machine it ran on: the CPU as `lscpu` names it and the load at a moment."""

from __future__ import annotations

import subprocess


def cpu() -> str:
    """`lscpu`'s model name, CPU count, family and model on one line."""
    lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    wanted = ("Model name", "CPU(s)", "CPU family", "Model:")
    return "; ".join(" ".join(line.split()) for line in lines if line.startswith(wanted))


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
