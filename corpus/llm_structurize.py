"""StruXGPT structurization with an LLM: numbered sentences in; scope, aspects and sub-aspects
over sentence ranges out, so the text stays verbatim.

The answer must cover every sentence without gaps or overlap (`check_coverage`). Small models number
past the last sentence or leave gaps ("1-1, 2-3, 4-5" for 3 sentences), so the ranges are first fitted
to the sentences (`fit_ranges`: in order, each from where the previous ended to at most the last
sentence, the last to the end; a range wholly past the end dropped): the titles and the order stay the
model's. An answer that still fails gets one repair request, then the document is structured offline
and the reason counted.
"""

from __future__ import annotations

import threading

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

from corpus.models import Aspect, Document, Sentence, Structure
from corpus.structurize import check_coverage, structurize
from fieldmap.llm import LLMClient
from fieldmap.llm_cache import reason_kind
from fieldmap.prompts import Prompt, llm_code_version, load_prompt
from fieldmap.settings import Settings

MAX_SENTENCES = 150  # longer documents are structured offline: one answer cannot number them reliably
OFFLINE_VERSION = "offline-2"  # 2: aspect titles by word-bounded cues or key phrases, unique in a document


class SubAspect(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    first: int  # sentence numbers as shown to the model: 1-based, inclusive
    last: int


class LLMAspect(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    first: int
    last: int
    sub_aspects: list[SubAspect]


class LLMStructure(BaseModel):
    """The model's answer. Validation context: {"n_sentences": n}."""

    model_config = ConfigDict(extra="forbid")
    scope: str
    aspects: list[LLMAspect]

    @model_validator(mode="before")
    @classmethod
    def fitted(cls, data, info: ValidationInfo):
        n_sentences = (info.context or {}).get("n_sentences")
        if not n_sentences or not isinstance(data, dict) or not isinstance(data.get("aspects"), list):
            return data
        aspects = fit_ranges(data["aspects"], 1, n_sentences)
        for aspect in aspects:
            if (
                isinstance(aspect, dict)
                and isinstance(aspect.get("sub_aspects"), list)
                and all(isinstance(aspect.get(k), int) for k in ("first", "last"))
            ):
                aspect["sub_aspects"] = fit_ranges(aspect["sub_aspects"], aspect["first"], aspect["last"])
        return {**data, "aspects": aspects}

    @model_validator(mode="after")
    def covers_every_sentence(self, info: ValidationInfo) -> "LLMStructure":
        n_sentences = (info.context or {}).get("n_sentences")
        if not self.scope.strip():
            raise ValueError("the scope is empty")
        if any(not a.title.strip() for a in self.aspects) or any(
            not s.title.strip() for a in self.aspects for s in a.sub_aspects
        ):
            raise ValueError("every aspect needs a title")
        if n_sentences is None:
            return self
        if check_coverage(self.to_structure("", ""), n_sentences) is not None:
            raise ValueError(
                f"the aspects must cover sentences 1 to {n_sentences} in order, without gaps or overlap; yours cover {_ranges(self.aspects)}"
            )
        for aspect in self.aspects:
            inner = Structure(
                "",
                "",
                tuple(Aspect(s.title, s.first - aspect.first, s.last - aspect.first + 1) for s in aspect.sub_aspects),
                "",
            )
            if aspect.sub_aspects and check_coverage(inner, aspect.last - aspect.first + 1) is not None:
                raise ValueError(
                    f"the sub_aspects of {aspect.title!r} must cover its sentences {aspect.first} to {aspect.last} in order, "
                    f"without gaps or overlap; they cover {_ranges(aspect.sub_aspects)}"
                )
        return self

    def to_structure(self, doc_id: str, method: str) -> Structure:
        """Aspects then their sub-aspects, each sub-aspect pointing at its parent's index."""
        aspects: list[Aspect] = []
        for aspect in self.aspects:
            parent = len(aspects)
            aspects.append(Aspect(aspect.title.strip(), aspect.first - 1, aspect.last))
            aspects.extend(Aspect(s.title.strip(), s.first - 1, s.last, parent) for s in aspect.sub_aspects)
        return Structure(doc_id, self.scope.strip(), tuple(aspects), method)


def fit_ranges(ranges: list, first: int, last: int) -> list:
    """Sentence ranges (dicts with int "first" and "last") fitted to cover first..last in order: sorted
    by where they start, each starting where the previous ended, ending no later than `last`, the
    final one at `last`; one starting past `last` or left empty is dropped. Anything else is left for
    the validation to report."""
    if not all(
        isinstance(r, dict) and isinstance(r.get("first"), int) and isinstance(r.get("last"), int) for r in ranges
    ):
        return ranges
    fitted, start = [], first
    for item in sorted(ranges, key=lambda r: (r["first"], r["last"])):
        end = min(max(item["last"], start), last)
        if start > last or item["first"] > last:
            break
        fitted.append({**item, "first": start, "last": end})
        start = end + 1
    if fitted:
        fitted[-1]["last"] = last
    return fitted


def _ranges(aspects: list) -> str:
    return ", ".join(f"{a.first}-{a.last}" for a in aspects) or "nothing"


def structure_messages(prompt: Prompt, document: Document, sentences: list[Sentence]) -> list[dict]:
    numbered = "\n".join(f"{n}. {' '.join(s.text.split())}" for n, s in enumerate(sentences, start=1))
    return [
        {"role": "system", "content": prompt.render("system")},
        {"role": "user", "content": prompt.render("example_user")},
        {"role": "assistant", "content": prompt.render("example_assistant")},
        {
            "role": "user",
            "content": prompt.render(
                "user", title=" ".join(document.title.split()) or "(untitled)", sentences=numbered
            ),
        },
    ]


class LLMStructurizer:
    """A `structurizer` for `corpus.steps.structure_pending`: a batch of documents in, one
    Structure each out (method "llm:<model>", or "offline" where the LLM's answer failed)."""

    def __init__(self, client: LLMClient, prompt: Prompt | None = None):
        self.client = client
        self.prompt = prompt or load_prompt("corpus", "structurize")
        self.fallbacks: dict[str, int] = {}  # reason kind -> documents structured offline
        self._lock = threading.Lock()

    def __call__(self, items: list[tuple[Document, list[Sentence]]]) -> list[Structure]:
        return self.client.map(lambda item: self.structure(*item), items)

    def structure(self, document: Document, sentences: list[Sentence]) -> Structure:
        if not sentences or len(sentences) > MAX_SENTENCES:
            if sentences:
                self._fell_back(f"too_long: {len(sentences)} sentences")
            return structurize(document, sentences)  # raises for a document with no sentences, as offline does
        repair = self.prompt.render("repair", error="$error", count=len(sentences))
        result = self.client.complete(
            structure_messages(self.prompt, document, sentences), LLMStructure, repair, {"n_sentences": len(sentences)}
        )
        if result.value is None:
            self._fell_back(result.failure or "unknown")
            return structurize(document, sentences)
        return result.value.to_structure(document.doc_id, self.client.method)

    def metadata(self) -> dict:
        return {
            **self.client.usage.as_metadata(),
            "structured_offline_after_llm_failure": dict(sorted(self.fallbacks.items())),
        }

    def _fell_back(self, reason: str) -> None:
        with self._lock:
            kind = reason_kind(reason)
            self.fallbacks[kind] = self.fallbacks.get(kind, 0) + 1


def structures_code_version(settings: Settings) -> str:
    """The structures asset's code_version: the prompt and model with an LLM, else the offline one."""
    return llm_code_version(load_prompt("corpus", "structurize"), settings, OFFLINE_VERSION)
