"""An answer's events as it is made, for the streaming routes (app/webapp.py, app/openai_compat.py).

`service.ask` runs in a worker thread of the server's pool (a request borrows an engine for its whole length,
as a plain /ask does); its listener hands each event to the event loop (`call_soon_threadsafe`), and the route's
async generator sends each one on as it comes: `retrieved`, `hop`, `token`, `reset` (rag/streaming.py), then
`done` with the answer, or `error` with the exception that stopped it.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from starlette.concurrency import run_in_threadpool

_RUNNING: set[asyncio.Future] = set()  # the asks in flight, held so that none is collected before it ends


async def ask_events(service, question: str, mode: str, k: int | None) -> AsyncIterator[tuple[str, Any]]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def put(name: str, data: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (name, data))
        except RuntimeError:  # the loop has closed (the server stops): the answer is still made, and cached
            pass

    def work() -> None:
        try:
            put("done", service.ask(question, mode, k, on_event=put))
        except Exception as exc:  # noqa: BLE001 - handed to the route, which says it in the stream
            put("error", exc)

    task = asyncio.ensure_future(run_in_threadpool(work))
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    while True:  # a caller that goes away closes this generator; the worker finishes its answer unheard
        name, data = await queue.get()
        yield name, data
        if name in ("done", "error"):
            return
