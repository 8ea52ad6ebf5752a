"""Several workspaces behind one `fieldmap serve`, and everything in front of them.

    fieldmap serve --workspace physics=/data/physics --workspace astro=/data/astro --keys keys.txt

Each workspace gets the API of app/server.py (and the web app's extra routes, app/webapp.py) under /w/{name}/;
with one workspace its routes also stay where they always were (/ask, /search, ...). In front: the web app at /,
the OpenAI-compatible /v1 (app/openai_compat.py), and app/auth.py's Guard (Host header, body cap, keys).
"""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.routing import Mount

from app.auth import DEFAULT_MAX_BODY, Guard, Keys, allowed_hosts, is_loopback
from app.service import NotBuilt
from fieldmap.settings import Settings

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Served:
    name: str
    settings: Settings


def parse_workspace(spec: str) -> tuple[str, str]:
    """`name=PATH` -> (name, PATH); a bare PATH is named after its folder (".fieldmap" -> "fieldmap")."""
    name, sep, path = spec.partition("=")
    if not sep:
        path = spec
        name = Path(spec).resolve().name.lstrip(".") or "default"
        name = re.sub(r"[^A-Za-z0-9._-]", "-", name)[:64] or "default"
    if not NAME.match(name):
        raise ValueError(f"workspace name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    if not path:
        raise ValueError(f"--workspace {spec!r}: no path after '='")
    return name, path


def check_bind(host: str, keys: Keys, insecure: bool) -> None:
    """Serving beyond this machine without keys would hand every document to anyone who can connect."""
    if not is_loopback(host) and not keys and not insecure:
        raise ValueError(
            f"refusing to serve on {host} without API keys: give --keys FILE or FIELDMAP_API_KEYS "
            "(README: keys), or --insecure to serve every workspace to anyone who can reach this address"
        )


def _warm(service) -> None:
    try:
        service.current()
    except Exception as exc:  # noqa: BLE001 - not built yet, or being rebuilt: the first request says so
        logging.getLogger("fieldmap.serve").warning("%s", exc)


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 without the `input` it echoes: a large bad body would come back whole."""
    errors = [{k: v for k, v in error.items() if k in ("loc", "msg", "type")} for error in exc.errors()]
    return JSONResponse({"detail": errors[:20]}, status_code=422)


def workspace_app(served: Served, concurrency: int) -> FastAPI:
    from app.server import create_app
    from app.webapp import add_workspace_routes

    app = create_app(served.settings, concurrency)
    app.state.name = served.name
    app.add_exception_handler(RequestValidationError, _validation_error)
    add_workspace_routes(app)
    return app


def create_front(
    served: list[Served],
    concurrency: int = 2,
    keys: Keys | None = None,
    bind: str = "127.0.0.1",
    allow_hosts: list[str] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    announce_at: str | None = None,
):
    """The ASGI app `fieldmap serve` runs: the Guard around the web app, /v1 and every workspace's API.
    `announce_at`: this server's base URL, left in each workspace's serving.json while it runs."""
    from app.openai_compat import add_openai_routes
    from app.webapp import add_front_routes

    if not served:
        raise ValueError("no workspace to serve")
    names = [s.name for s in served]
    if len(set(names)) != len(names):
        raise ValueError(f"two workspaces share a name: {', '.join(names)}")
    apps = {s.name: workspace_app(s, concurrency) for s in served}
    single = served[0].name if len(served) == 1 else None

    @asynccontextmanager
    async def lifespan(front: FastAPI):
        async with AsyncExitStack() as stack:  # mounted apps get no lifespan of their own: theirs close their pools
            for sub in apps.values():
                await stack.enter_async_context(sub.router.lifespan_context(sub))
            loop = asyncio.get_running_loop()
            for sub in apps.values():  # open each snapshot now, in the background: the first question need not wait
                loop.run_in_executor(None, _warm, sub.state.service)
            if announce_at is not None:  # `fieldmap ask` finds this server (app/remote.py) until it shuts down
                from app.remote import announce, withdraw

                for s in served:
                    stack.callback(withdraw, announce(s.settings, f"{announce_at}/w/{s.name}", bool(keys)))
            yield

    # /docs and /openapi.json belong to the workspace API (with one workspace) rather than to the front
    front = FastAPI(title="fieldmap", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    front.state.apps = apps
    front.add_exception_handler(RequestValidationError, _validation_error)
    front.add_exception_handler(NotBuilt, lambda request, exc: JSONResponse({"detail": str(exc)}, status_code=503))
    front.add_exception_handler(ValueError, lambda request, exc: JSONResponse({"detail": str(exc)}, status_code=400))
    add_front_routes(front)
    add_openai_routes(front)
    for name, sub in apps.items():
        front.router.routes.append(Mount(f"/w/{name}", app=sub))
    if single is not None:
        front.router.routes.append(Mount("", app=apps[single]))

    def workspace_of(path: str) -> str | None:
        if path.startswith("/w/"):
            return path[3:].split("/", 1)[0]
        if path.startswith("/v1/"):
            return None  # the endpoint checks the model (workspace) it is asked for
        return single if single is not None else ""  # "": no workspace of that name, so no key allows it

    hosts = allowed_hosts(bind, allow_hosts)
    return Guard(front, keys or Keys(), hosts, workspace_of, max_body)


def serve(
    served: list[Served],
    host: str = "127.0.0.1",
    port: int = 8000,
    concurrency: int = 2,
    keys: Keys | None = None,
    insecure: bool = False,
    allow_hosts: list[str] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> None:
    import uvicorn

    keys = keys or Keys()
    check_bind(host, keys, insecure)
    near = (
        "127.0.0.1"
        if host in ("0.0.0.0", "")
        else ("[::1]" if host == "::" else (f"[{host}]" if ":" in host else host))
    )
    app = create_front(served, concurrency, keys, host, allow_hosts, max_body, announce_at=f"http://{near}:{port}")
    # no access log: a request line is no place for what a caller asked, and keys never reach a log
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
