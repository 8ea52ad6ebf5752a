"""`fieldmap serve`: the workspace over HTTP (FastAPI on uvicorn). OpenAPI docs at /docs and /openapi.json.

    POST /ask               {"question", "mode", "k"} -> the JSON of `fieldmap ask --json`
    GET  /search?q=&mode=&k= ranked passages of one retriever
    GET  /documents/{id}    a document, its chunks and entities
    GET  /entities?q=       entities by name
    GET  /entities/{id}     an entity's facts, neighbours, synonyms and documents by year
    GET  /health            what is served; 503 while no workspace is built or its snapshot is damaged

Requests run on `concurrency` worker threads, each borrowing an engine of its own (app/service.py); a
newer snapshot published by `fieldmap run` is picked up by the next request, without a restart.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Literal

import duckdb
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from app.service import MAX_ID, MAX_K, MAX_NAME, MAX_QUESTION, SEARCH_MODES, NotBuilt, Service, check_text
from fieldmap.dbfile import DatabaseDamaged
from fieldmap.settings import Settings
from rag.engine import MODES
from rag.modes import DEFAULT_MODE

AskMode = Literal[MODES]  # type: ignore[valid-type]
SearchMode = Literal[SEARCH_MODES]  # type: ignore[valid-type]


class AskRequest(BaseModel):
    model_config = {"extra": "forbid"}

    question: str = Field(min_length=1, max_length=MAX_QUESTION, description="the question, in plain words")
    mode: AskMode = Field(DEFAULT_MODE, description="retrieval mode (README: retrieval modes)")
    k: int | None = Field(None, ge=1, le=MAX_K, description="passages to retrieve (default: the top_k setting)")

    @field_validator("question")
    @classmethod
    def not_blank(cls, value: str) -> str:
        return check_text(value, "question", MAX_QUESTION)


def create_app(settings: Settings, concurrency: int = 2) -> FastAPI:
    service = Service(settings, size=concurrency)
    workers = ThreadPoolExecutor(concurrency, thread_name_prefix="fieldmap-serve")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        workers.shutdown(wait=True)
        service.close()

    app = FastAPI(
        title="fieldmap",
        description="Questions, search and the knowledge graph of a fieldmap workspace.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = service

    async def run(function, *args):
        return await asyncio.get_running_loop().run_in_executor(workers, function, *args)

    @app.exception_handler(NotBuilt)
    @app.exception_handler(DatabaseDamaged)
    async def unavailable(request: Request, exc: Exception) -> JSONResponse:  # the same one line as the CLI's
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's 422, without the inputs (one that is no text, a lone surrogate, cannot even be written as JSON)."""
        return JSONResponse(
            {"detail": [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]},
            status_code=422,
        )

    @app.exception_handler(duckdb.Error)
    async def database_error(request: Request, exc: duckdb.Error) -> JSONResponse:
        damage = service.damaged(exc)
        if damage is not None:
            return JSONResponse({"detail": str(damage)}, status_code=503)
        return JSONResponse(
            {"detail": f"the database failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"},
            status_code=500,
        )

    @app.exception_handler(KeyError)
    async def not_found(request: Request, exc: KeyError) -> JSONResponse:
        return JSONResponse({"detail": exc.args[0] if exc.args else "not found"}, status_code=404)

    @app.exception_handler(ValueError)
    async def bad_request(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.post("/ask", summary="Answer a question with citations ([n] is the n-th passage)")
    async def ask(request: AskRequest) -> dict:
        return await run(service.ask, request.question, request.mode, request.k)

    @app.get("/search", summary="Ranked passages of one retriever")
    async def search(
        q: str = Query(min_length=1, max_length=MAX_QUESTION),
        mode: SearchMode = "hybrid",
        k: int = Query(5, ge=1, le=MAX_K),
    ) -> dict:
        return await run(service.search, q, mode, k)

    @app.get("/documents/{doc_id:path}", summary="A document with its text, chunks and entities")
    async def document(doc_id: str = Path(max_length=MAX_ID)) -> dict:
        return await run(service.document, doc_id)

    @app.get("/entities", summary="Entities whose name contains q, most mentioned first")
    async def entities(
        q: str = Query(min_length=1, max_length=MAX_NAME), limit: int = Query(20, ge=1, le=MAX_K)
    ) -> dict:
        return await run(service.entities, q, limit)

    @app.get("/entities/{entity_id:path}", summary="An entity's facts, neighbours, synonyms and documents by year")
    async def entity(entity_id: str = Path(max_length=MAX_ID)) -> dict:
        return await run(service.entity, entity_id)

    @app.get("/health", summary="What is served (503 while no workspace is built, or its snapshot is damaged)")
    async def health() -> dict:
        return await run(service.health)

    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, concurrency: int = 2) -> None:
    import uvicorn

    uvicorn.run(create_app(settings, concurrency), host=host, port=port, log_level="info", access_log=False)
