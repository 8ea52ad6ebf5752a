"""The web app of `fieldmap serve`: one page (app/static/index.html, app.js, app.css; no CDN, no build step) and
the routes it reads beyond the JSON API of app/server.py.

Front (app/workspaces.py):  GET /  the page;  GET /static/*  its script and style.
Each workspace (/w/{name}/..., and at / with one workspace):
    POST /ask/stream         the answer as server-sent events, as it is made: `status`, `retrieved` (the passages'
                             numbers, titles and chunk ids, when retrieval ends), `hop` (each bridge of a chain as
                             it is read), `answer` (text as the LLM writes it, or the reader's answer a few words an
                             event), `reset` (the text so far is void: the LLM's reply was redone or replaced), then
                             `done` with the whole answer (evidence, citations, passages), or `error`
    GET  /passages/{chunk}   a passage with its document's title, link, date and PDF pages
    GET  /graph/{entity}     an entity's neighbourhood: nodes and edges (app/explore.py)
    GET  /dashboard/...      the workspace's trend dashboard (built by `fieldmap run`)
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from app import explore
from app.progress import ask_events
from app.server import AskRequest
from app.service import NotBuilt

STATIC = Path(__file__).parent / "static"
# the page's own files only: no inline script, no other origin (an injected tag in a document could run nothing)
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"


def add_front_routes(front: FastAPI) -> None:
    @front.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(
            STATIC / "index.html", headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}
        )

    front.mount("/static", StaticFiles(directory=STATIC), name="static")


def _event(name: str, data) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def add_workspace_routes(app: FastAPI) -> None:
    service = app.state.service

    @app.post(
        "/ask/stream",
        summary="The answer as server-sent events as it is made: status, retrieved, hop, answer, reset, done",
    )
    async def ask_stream(request: AskRequest) -> StreamingResponse:
        async def events():
            yield _event("status", {"stage": "retrieving"})
            async for name, data in ask_events(service, request.question, request.mode, request.k):
                if name == "error":
                    if not isinstance(data, (NotBuilt, ValueError, KeyError)):
                        raise data
                    yield _event("error", {"detail": str(data)})
                elif name == "token":
                    yield _event("answer", data)
                else:
                    yield _event(name, data)
                if name == "retrieved":
                    yield _event("status", {"stage": "reading"})

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/passages/{chunk_id:path}", summary="A passage with its document's title, link, date and PDF pages")
    async def passage(chunk_id: str) -> dict:
        return await run_in_threadpool(service.read, explore.passage, chunk_id)

    @app.get("/graph/{entity_id:path}", summary="An entity's neighbourhood: nodes and edges")
    async def graph(entity_id: str) -> dict:
        return await run_in_threadpool(service.read, explore.neighbourhood, entity_id)

    @app.get("/dashboard/{path:path}", include_in_schema=False)
    async def dashboard(path: str, request: Request) -> FileResponse:
        root = service.settings.dashboard_dir.resolve()
        target = (root / (path or "index.html")).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise HTTPException(404, "no such dashboard file (the dashboard is built by `fieldmap run`)")
        return FileResponse(target)
