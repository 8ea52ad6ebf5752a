"""Checks on the workspace's DuckDB files, so damage and contention reach the user as one line with the way out.

- A database file must start with DuckDB's magic and hold its three 4 KiB headers; blocks cut off
  past those are found when DuckDB reads them (the header's block count is no lower bound on the
  size: a checkpoint truncates trailing free blocks after writing it).
- Each published snapshot gets a stamp beside it (`<snapshot>.stamp.json`: size and a SHA-256 of its
  first and last MiB); readers check it before they open the snapshot.
- DuckDB's own errors on open ("Could not set lock", "not a valid DuckDB database file",
  "Could not read enough bytes") become WorkspaceBusy or DatabaseDamaged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import duckdb

FILE_HEADER = 4096  # then two database headers of 4096 bytes each, then the blocks
SAMPLE = (
    1 << 20
)  # bytes hashed at each end of a snapshot: enough to catch overwrites of header and tail, cheap on every read
DAMAGE_SIGNS = (
    "not a valid DuckDB database",
    "Could not read enough bytes",
    "Corrupt database",
    "checksum",
    "Serialization Error",
    "INTERNAL Error",
)


class WorkspaceBusy(RuntimeError):
    """Another process writes the workspace."""


class DatabaseDamaged(RuntimeError):
    """A database or snapshot file that cannot be trusted; the message says how to get out."""


def stamp_path(snapshot: Path) -> Path:
    return snapshot.with_name(snapshot.name + ".stamp.json")


def write_stamp(snapshot: Path, stamp: dict) -> None:
    """Written atomically right after the snapshot is swapped in."""
    partial = stamp_path(snapshot).with_name(stamp_path(snapshot).name + ".tmp")
    partial.write_text(json.dumps(stamp), encoding="utf-8")
    os.replace(partial, stamp_path(snapshot))


def file_stamp(path: Path) -> dict:
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(SAMPLE))
        handle.seek(max(size - SAMPLE, 0))
        digest.update(handle.read(SAMPLE))
    return {"size": size, "sha256_ends": digest.hexdigest()}


def stamp_problem(snapshot: Path) -> str | None:
    """Why the snapshot does not match the stamp written when it was published (None: it matches, or
    it predates stamps). Read twice when they differ: a publish swaps the file, then its stamp."""
    problem = None
    for _ in range(2):
        try:
            stamp = json.loads(stamp_path(snapshot).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            problem = f"its stamp {stamp_path(snapshot).name} is unreadable"
            continue
        found = file_stamp(snapshot)
        if found == stamp:
            return None
        problem = (
            f"{found['size']:,} bytes where {stamp['size']:,} were published"
            if found["size"] != stamp.get("size")
            else "its content differs from what was published"
        )
    return problem


def header_problem(path: Path) -> str | None:
    """Why the file cannot be a whole DuckDB database (None: its headers and size agree)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(3 * FILE_HEADER)
    if head[8:12] != b"DUCK":
        return "not a DuckDB database file"
    if len(head) < 3 * FILE_HEADER:
        return f"truncated to {size:,} bytes"
    # The header's block count is no size to check against: a checkpoint truncates the free blocks at
    # the file's end after writing it, so a whole file may be shorter. Blocks cut off past that are
    # found when DuckDB reads them ("Could not read enough bytes", explained as damage below), and a
    # snapshot's truncation by its stamp.
    return None


def open_checked(path: Path, read_only: bool, way_out: str) -> duckdb.DuckDBPyConnection:
    """duckdb.connect, with a damaged file or a held lock reported as one line."""
    if path.exists():
        problem = header_problem(path)
        if problem:
            raise DatabaseDamaged(f"{path} is damaged ({problem}); {way_out}")
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise explain(exc, path, way_out) from exc


def explain(exc: duckdb.Error, path: Path, way_out: str) -> Exception:
    """The one-line error a DuckDB failure on `path` means to a user."""
    message = str(exc)
    if "Could not set lock" in message:
        pid = re.search(r"PID (\d+)", message)
        holder = f" (process {pid.group(1)})" if pid else ""
        return WorkspaceBusy(f"another process{holder} is writing {path}: wait for it to finish, then try again")
    first_line = message.splitlines()[0] if message else type(exc).__name__
    if any(sign.lower() in message.lower() for sign in DAMAGE_SIGNS):
        return DatabaseDamaged(f"{path} is damaged ({first_line}); {way_out}")
    return RuntimeError(f"cannot open {path}: {first_line}")
