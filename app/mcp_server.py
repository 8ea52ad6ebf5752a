"""`fieldmap mcp`: the workspace as MCP tools over stdio, so an agent can ask, search and look up entities.

Tools: ask, search, find_entities, entity, document. They read the published snapshot through the same
Service as the HTTP API (app/service.py) and pick up a newer one without a restart. Their arguments are
checked and capped as the HTTP API's are (the Service does it for both); a bad argument, an unknown id or a
damaged snapshot comes back as a tool error naming the problem.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from app.service import MAX_NAME, MAX_QUESTION, NotBuilt, Service
from fieldmap.dbfile import DatabaseDamaged
from fieldmap.settings import Settings
from rag.modes import DEFAULT_MODE, MODES

INSTRUCTIONS = (
    "fieldmap answers questions over a document corpus with citations and exposes its knowledge graph. "
    "Use `ask` for a question (the answer cites passages as [n]), `search` for ranked passages, "
    "`find_entities` to find an entity id by name and `entity` for its facts, neighbours and documents by year."
)


@contextmanager
def _tool_errors(service: Service) -> Iterator[None]:
    """The caller's mistakes, an unbuilt workspace and a damaged snapshot as tool errors that say what is wrong
    (the SDK hides any other exception's message)."""
    try:
        yield
    except (ValueError, NotBuilt, DatabaseDamaged) as exc:
        raise ToolError(str(exc)) from exc
    except KeyError as exc:
        raise ToolError(exc.args[0] if exc.args else "not found") from exc
    except Exception as exc:
        damage = service.damaged(exc)
        if damage is None:
            raise
        raise ToolError(str(damage)) from exc


def build_server(settings: Settings) -> MCPServer:
    service = Service(settings, size=1)  # stdio: one client, one request at a time
    server = MCPServer("fieldmap", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING")

    @server.tool(
        description="Answer a question over the corpus, with citations; [n] in the answer is the n-th passage. "
        f"mode: {DEFAULT_MODE} (default) | " + " | ".join(m for m in MODES if m != DEFAULT_MODE) + ";"
        f" k: passages to retrieve (1-50). The question: at most {MAX_QUESTION} characters."
    )
    def ask(question: str, mode: str = DEFAULT_MODE, k: int | None = None) -> dict:
        with _tool_errors(service):
            return service.ask(question, mode, k)

    @server.tool(
        description=f"Ranked passages for a query (at most {MAX_QUESTION} characters). mode: hybrid (default) | dense | bm25 | hipporag; k: 1-50."
    )
    def search(query: str, mode: str = "hybrid", k: int = 5) -> dict:
        with _tool_errors(service):
            return service.search(query, mode, k)

    @server.tool(
        description=f"Entities of the knowledge graph whose name contains the query (at most {MAX_NAME} characters), most mentioned first; limit: 1-50."
    )
    def find_entities(query: str, limit: int = 20) -> dict:
        with _tool_errors(service):
            return service.entities(query, limit)

    @server.tool(
        description="One entity by id (from find_entities): its facts, neighbours, synonyms and documents by year."
    )
    def entity(entity_id: str) -> dict:
        with _tool_errors(service):
            return service.entity(entity_id)

    @server.tool(description="One document by id: title, text, chunks and the entities it mentions.")
    def document(doc_id: str) -> dict:
        with _tool_errors(service):
            return service.document(doc_id)

    return server


def serve_stdio(settings: Settings) -> None:
    build_server(settings).run("stdio")
