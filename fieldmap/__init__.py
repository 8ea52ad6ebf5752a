"""fieldmap: knowledge-graph extraction and hybrid RAG over document corpora.

`fieldmap.open(workspace)` and `fieldmap.ask(question)` are the notebook API (app/api.py)."""

import os as _os

# torch's OpenMP threads wait for work asleep instead of spinning. On the shared 2-core machine the spinning threads of the
# 2-thread embedder fought spaCy's workers and every neighbour: entity names embedded at 43-145/s against 252-296/s
# passive, under the same load (BENCHMARKS.md "Throughput toward the hardware's limit"). libgomp reads this once, when
# torch is first imported (spaCy imports it too), so it is set here, before any of fieldmap's modules; a value the
# caller set wins. It is not a Settings field because it must be in place before Settings can be loaded.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# The notebook entry: the kernel's one reference upward, deferred so that importing any kernel module never loads
# app/ (tests/test_layers.py allows exactly these two imports).
def open(workspace=None, **overrides):  # noqa: A001 - the API reads as fieldmap.open(...)
    from app.api import open_workspace

    return open_workspace(workspace, **overrides)


def ask(question, workspace=None, mode=None, k=None):
    """`mode`: None for the default (rag.modes.DEFAULT_MODE)."""
    from app.api import ask as _ask

    return _ask(question, workspace, mode, k)
