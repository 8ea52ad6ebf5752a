"""Passages under their document's structure (StruXGPT): the scope, then the chunk's sentences
grouped under the aspects they belong to. The LLM answer prompt shows this rendering and the
reader reads the scope and aspect titles as each sentence's heading (`reader_structure`)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from corpus.models import Aspect, Sentence, Structure


@dataclass
class StructuredPassage:
    title: str
    scope: str
    sections: list[tuple[str, str]]  # (aspect title, the chunk's sentences in that aspect)

    @property
    def heading(self) -> str:
        """Title, scope and aspect titles: what the reader adds to every sentence's words."""
        return " — ".join(dict.fromkeys([self.title, self.scope, *(t for t, _ in self.sections)]))

    def render(self) -> str:
        """Scope.\\n1. Aspect: sentences ... as `Structure.render` lays a whole document out."""
        sentences = [Sentence("", i, 0, 0, text) for i, (_, text) in enumerate(self.sections)]
        aspects = tuple(Aspect(title, i, i + 1) for i, (title, _) in enumerate(self.sections))
        return Structure("", self.scope or self.title, aspects, "").render(sentences)


def structured_passages(con: duckdb.DuckDBPyConnection, chunk_ids: list[str]) -> dict[str, StructuredPassage]:
    """chunk id -> its structured passage, for the chunks whose document has a structure."""
    if not chunk_ids:
        return {}
    rows = con.execute(
        """SELECT c.chunk_id, d.title, s.scope, a.aspect_index, a.title, substr(d.text, se.start_char + 1, se.end_char - se.start_char)
           FROM chunks c JOIN documents d USING (doc_id) JOIN structures s USING (doc_id)
           JOIN sentences se ON se.doc_id = c.doc_id AND se.sent_index >= c.sent_start AND se.sent_index < c.sent_end
           JOIN aspects a ON a.doc_id = c.doc_id AND a.parent_index IS NULL AND se.sent_index >= a.sent_start AND se.sent_index < a.sent_end
           WHERE c.chunk_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY c.chunk_id, se.sent_index""",
        [chunk_ids],
    ).fetchall()
    found: dict[str, StructuredPassage] = {}
    last_aspect: dict[str, int] = {}
    for chunk_id, title, scope, aspect_index, aspect_title, text in rows:
        passage = found.setdefault(chunk_id, StructuredPassage(title, scope, []))
        if last_aspect.get(chunk_id) == aspect_index:
            name, body = passage.sections[-1]
            passage.sections[-1] = (name, f"{body} {text.strip()}")
        else:
            passage.sections.append((aspect_title, text.strip()))
            last_aspect[chunk_id] = aspect_index
    return found
