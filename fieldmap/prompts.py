"""Prompt files beside their stage (`kg/prompts/extract.md`): a version line, then sections.

    version: 3
    === system
    text with $placeholders
    === user
    ...

A section runs from its `=== name` line to the next one. Placeholders are `string.Template`
names ($text, $schema), so JSON braces in a prompt need no escaping.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from string import Template

from fieldmap.settings import Settings

VERSION_LINE = re.compile(r"^version:\s*(\d+)\s*$")
SECTION_LINE = re.compile(r"^===\s*([a-z_]+)\s*$")


@dataclass(frozen=True)
class Prompt:
    name: str  # "<package>/<file stem>", e.g. "kg/extract"
    version: int
    sections: dict[str, str]
    sha: str  # of the whole file: an edit without a version bump still changes code_version

    def render(self, section: str, **values: object) -> str:
        """The section with its $placeholders filled; a missing value is a KeyError naming it."""
        if section not in self.sections:
            raise KeyError(f"prompt {self.name} v{self.version} has no section {section!r}")
        return Template(self.sections[section]).substitute({k: str(v) for k, v in values.items()})


def parse_prompt(name: str, text: str) -> Prompt:
    lines = text.splitlines()
    match = VERSION_LINE.match(lines[0]) if lines else None
    if match is None:
        raise ValueError(f"prompt {name}: the first line must be `version: N`")
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines[1:]:
        header = SECTION_LINE.match(line)
        if header:
            current = sections.setdefault(header.group(1), [])
        elif current is not None:
            current.append(line)
    if not sections:
        raise ValueError(f"prompt {name}: no `=== section` lines")
    bodies = {key: "\n".join(body).strip() for key, body in sections.items()}
    return Prompt(name, int(match.group(1)), bodies, hashlib.sha1(text.encode("utf-8")).hexdigest()[:8])


def load_prompt(package: str, stem: str) -> Prompt:
    """`load_prompt("kg", "extract")` reads kg/prompts/extract.md (shipped as package data)."""
    text = resources.files(package).joinpath("prompts", f"{stem}.md").read_text(encoding="utf-8")
    return parse_prompt(f"{package}/{stem}", text)


def llm_code_version(prompt: Prompt, settings: Settings, offline: str, extra: str = "") -> str:
    """An asset's code_version: the prompt's version and content plus the model (and `extra`, e.g.
    the few-shot examples) when an LLM is configured, so changing any re-materialises; else the
    offline stage's version."""
    if not settings.llm_enabled:
        return offline
    model = hashlib.sha1(f"{settings.llm_model}|{settings.openai_base_url or ''}|{extra}".encode()).hexdigest()[:8]
    return f"llm-{prompt.name.split('/')[-1]}-v{prompt.version}-{prompt.sha}-{model}"
