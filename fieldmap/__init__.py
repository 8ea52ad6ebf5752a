"""fieldmap: knowledge-graph extraction and hybrid RAG over document corpora.

`fieldmap.open(workspace)` and `fieldmap.ask(question)` are the notebook API (fieldmap/api.py)."""


def open(workspace=None, **overrides):  # noqa: A001 - the API reads as fieldmap.open(...)
    from fieldmap.api import open_workspace

    return open_workspace(workspace, **overrides)


def ask(question, workspace=None, mode="memorag", k=None):
    from fieldmap.api import ask as _ask

    return _ask(question, workspace, mode, k)
