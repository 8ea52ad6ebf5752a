"""`fieldmap mcp` in a subprocess, driven by the MCP SDK's own client over stdio."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.test_server import comparable

REPO = Path(__file__).resolve().parents[1]
QUESTION = "What do X-ray observations reveal about galaxy clusters?"


def _payload(result) -> dict:
    """A tool's result as the JSON object it returned (structured content, else its text)."""
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


async def _session_calls(workspace: Path, cwd: Path, errlog) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDMAP_", "OPENAI_"))}
    env["PYTHONPATH"] = str(REPO)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "app.cli", "mcp", "--workspace", str(workspace)], env=env, cwd=cwd
    )
    found: dict = {}
    async with stdio_client(params, errlog=errlog) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            found["tools"] = {tool.name: tool for tool in (await session.list_tools()).tools}
            found["ask"] = await session.call_tool("ask", {"question": QUESTION, "mode": "memorag", "k": 3})
            found["search"] = await session.call_tool("search", {"query": "jellyfish galaxies", "mode": "bm25", "k": 2})
            found["entities"] = await session.call_tool("find_entities", {"query": "jellyfish"})
            entity_id = _payload(found["entities"])["entities"][0]["entity_id"]
            found["entity"] = await session.call_tool("entity", {"entity_id": entity_id})
            found["empty"] = await session.call_tool("ask", {"question": "  "})
            found["bad_mode"] = await session.call_tool("search", {"query": "galaxies", "mode": "telepathy"})
            found["unknown"] = await session.call_tool("entity", {"entity_id": "e:0000000000000000"})
    return found


@pytest.mark.timeout(600)
def test_mcp_tools_over_stdio(built_workspace, tmp_path):
    from rag.engine import QueryEngine

    with open(tmp_path / "mcp.err", "w") as errlog:
        found = anyio.run(_session_calls, built_workspace.workspace, tmp_path, errlog)

    assert {"ask", "search", "find_entities", "entity", "document"} <= set(found["tools"])
    assert all(tool.description for tool in found["tools"].values())

    engine = QueryEngine(built_workspace)
    try:
        expected = engine.ask(QUESTION, mode="memorag", k=3).to_dict()
    finally:
        engine.close()
    assert not found["ask"].is_error
    assert comparable(_payload(found["ask"])) == comparable(expected)

    results = _payload(found["search"])["results"]
    assert 1 <= len(results) <= 2 and "jellyfish" in results[0]["text"].lower()
    entities = _payload(found["entities"])["entities"]
    assert entities and all("jellyfish" in e["name"].lower() for e in entities)
    entity = _payload(found["entity"])
    assert entity["entity_id"] == entities[0]["entity_id"] and entity["facts"]

    for name, words in (("empty", "question is empty"), ("bad_mode", "unknown search mode"), ("unknown", "no entity")):
        assert found[name].is_error, name
        assert words in found[name].content[0].text, found[name].content[0].text


async def _capped_calls(workspace: Path, cwd: Path, errlog) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDMAP_", "OPENAI_"))}
    env["PYTHONPATH"] = str(REPO)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "app.cli", "mcp", "--workspace", str(workspace)], env=env, cwd=cwd
    )
    found: dict = {}
    async with stdio_client(params, errlog=errlog) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            await session.call_tool(
                "search", {"query": "galaxies", "mode": "bm25", "k": 1}
            )  # the snapshot opened before the clock
            started = time.monotonic()
            found["long"] = await session.call_tool("ask", {"question": "galaxies " * 22_222})  # 200,000 characters
            found["huge"] = await session.call_tool("search", {"query": "x" * 5_000_000})
            found["seconds"] = time.monotonic() - started
            found["k0"] = await session.call_tool("ask", {"question": QUESTION, "k": 0})
            found["limit"] = await session.call_tool("find_entities", {"query": "galaxy", "limit": 1000})
            found["name"] = await session.call_tool("find_entities", {"query": "g" * 201})
            found["ok"] = await session.call_tool("find_entities", {"query": "%"})
    return found


@pytest.mark.timeout(600)
def test_mcp_arguments_are_capped_as_the_http_apis(built_workspace, tmp_path):
    with open(tmp_path / "mcp.err", "w") as errlog:
        found = anyio.run(_capped_calls, built_workspace.workspace, tmp_path, errlog)
    assert found["seconds"] < 30, found[
        "seconds"
    ]  # refused at once (a 200,000-character question held the session 312 s)
    expected = {
        "long": "the question has 199,998 characters, more than the 2,000 allowed",
        "huge": "the query has 5,000,000 characters, more than the 2,000 allowed",
        "k0": "k must be a whole number from 1 to 50, got 0",
        "limit": "limit must be a whole number from 1 to 50, got 1000",
        "name": "the query has 201 characters, more than the 200 allowed",
    }
    for name, message in expected.items():
        assert found[name].is_error and found[name].content[0].text.endswith(f": {message}"), (
            name,
            found[name].content[0].text,
        )
    assert not found["ok"].is_error and _payload(found["ok"])["entities"] == []  # % is a character, not a wildcard
