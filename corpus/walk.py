"""The files of a folder corpus, walked in sorted order, following symlinks without looping.

Whatever cannot be walked is reported instead of raised: a folder that cannot be listed, a symlink
that leads back into a folder being walked (a loop), a symlink that points nowhere, an entry with a
document suffix that is not a regular file (a FIFO would block a reader forever, a device too), and
every file of no document format (a `.jsonl` among them: JSONL is read when named on its own).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from corpus.models import BadDocument


def os_reason(exc: OSError) -> str:
    """`Permission denied` and the like, without the path (the report names the file already)."""
    return exc.strerror or type(exc).__name__


def walk_files(folder: Path, suffixes: frozenset[str]) -> tuple[list[Path], list[BadDocument]]:
    """Regular files below `folder` whose suffix is in `suffixes`, sorted, and the entries skipped."""
    files: list[Path] = []
    bad: list[BadDocument] = []
    _visit(folder, {os.path.realpath(folder)}, suffixes, files, bad)
    return files, bad


def _visit(
    folder: Path, ancestors: set[str], suffixes: frozenset[str], files: list[Path], bad: list[BadDocument]
) -> None:
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        bad.append(BadDocument(str(folder), f"cannot list folder: {os_reason(exc)}"))
        return
    for name in names:
        path = folder / name
        try:
            mode = os.stat(path).st_mode  # follows symlinks
        except OSError as exc:
            if os.path.islink(path):
                what = "symlink loop" if exc.errno == errno.ELOOP else "broken symlink"
                bad.append(BadDocument(str(path), f"{what}: {os_reason(exc)}"))
            else:
                bad.append(BadDocument(str(path), f"cannot read: {os_reason(exc)}"))
            continue
        if stat.S_ISDIR(mode):
            real = os.path.realpath(path)
            if real in ancestors:
                bad.append(BadDocument(str(path), f"symlink loop: leads back to {real}"))
                continue
            _visit(path, ancestors | {real}, suffixes, files, bad)
        elif path.suffix.lower() in suffixes:
            if stat.S_ISREG(mode):
                files.append(path)
            else:
                bad.append(BadDocument(str(path), "not a regular file (a FIFO, socket or device)"))
        else:
            bad.append(BadDocument(str(path), _not_read(path.suffix.lower(), suffixes)))


def _not_read(suffix: str, suffixes: frozenset[str]) -> str:
    if suffix in (".jsonl", ".json", ".ndjson"):
        return f"a {suffix} file inside a folder is not read: name it on its own with --corpus"
    return f"not a document file ({suffix or 'no suffix'}): a folder's documents are {', '.join(sorted(suffixes))}"
