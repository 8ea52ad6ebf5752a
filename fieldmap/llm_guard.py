"""What keeps one LLM endpoint from holding a run or a question hostage: a deadline on each whole call and a
circuit breaker per endpoint and run.

- The deadline covers a call's every attempt and wait. httpx's timeouts are between bytes, so a server that
  sends a byte every few seconds never trips them; here every socket read, write and connect of the calling
  thread is given at most the time left until its call's deadline (`deadline(seconds)` sets it), and past it
  the read fails as a timeout.
- The breaker counts an endpoint's consecutive failed attempts (timeouts, refused connections, 5xx, 429);
  at `threshold` it opens, and the rest of the run sends that endpoint nothing: the calls fail at once as
  `offline`. A server asking to be left alone longer than the Retry-After cap opens it at once. A new run
  (`fieldmap run`, `fieldmap retry-failed`) starts with every breaker closed.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import httpcore
import httpx

log = logging.getLogger("fieldmap.llm")

_calls = threading.local()  # the deadline (time.monotonic) of the call this thread is making, if any


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Every socket operation of this thread inside is bounded by `seconds` from now; yields the deadline."""
    previous = getattr(_calls, "deadline", None)
    _calls.deadline = time.monotonic() + seconds
    try:
        yield _calls.deadline
    finally:
        _calls.deadline = previous


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """The socket timeout for one operation: the caller's, cut to what is left of this thread's call."""
    end = getattr(_calls, "deadline", None)
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise error("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout))
        )

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.SyncBackend):
    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None) -> httpcore.NetworkStream:
        return _DeadlineStream(
            super().connect_tcp(host, port, _bounded(timeout, httpcore.ConnectTimeout), local_address, socket_options)
        )


def http_client(timeout: float) -> httpx.Client:
    """An httpx client for the openai package (proxies from the environment as usual) whose sockets honour the
    calling thread's `deadline`."""
    client = httpx.Client(
        timeout=timeout, follow_redirects=True, limits=httpx.Limits(max_connections=100, max_keepalive_connections=20)
    )
    # httpx builds its httpcore pools without a way to name their network backend: this is the one seam
    for transport in [client._transport, *client._mounts.values()]:  # noqa: SLF001
        pool = getattr(transport, "_pool", None)
        if pool is not None:
            pool._network_backend = _DeadlineBackend()  # noqa: SLF001
    return client


class Breaker:
    """One endpoint's consecutive failures in one run; open: the endpoint is not called again in this run."""

    def __init__(self, endpoint: str, threshold: int):
        self.endpoint, self.threshold = endpoint, max(1, threshold)
        self.failures = 0
        self.reason: str | None = None  # why it opened (None: closed)
        self.skipped = 0  # calls not sent because it was open
        self._lock = threading.Lock()
        self._opened = threading.Event()  # wakes the calls waiting to retry

    @property
    def open(self) -> bool:
        return self.reason is not None

    def succeeded(self) -> None:
        with self._lock:
            self.failures = 0 if self.reason is None else self.failures

    def failed(self, reason: str, at_once: bool = False) -> None:
        """One failed attempt; `at_once`: the server said not to call for longer than we wait."""
        with self._lock:
            self.failures += 1
            if self.reason is not None or (self.failures < self.threshold and not at_once):
                return
            cause = reason if at_once else f"{self.failures} failed attempts in a row, the last {reason}"
            self.reason = f"the LLM endpoint {self.endpoint} is offline for the rest of this run ({cause})"
            self._opened.set()
        log.warning("%s", self.reason)

    def wait(self, seconds: float) -> None:
        """Sleep before a retry, or less if the breaker opens meanwhile."""
        self._opened.wait(seconds)

    def skip(self) -> str:
        """The reason of a call not sent (counted)."""
        with self._lock:
            self.skipped += 1
        return f"offline: {self.reason}"


class Breakers:
    """The breakers of one run, by endpoint: one object per run, shared by every step's client."""

    def __init__(self, threshold: int):
        self.threshold = threshold
        self._by_endpoint: dict[str, Breaker] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Breakers({len(self._by_endpoint)} endpoints)"

    def of(self, endpoint: str) -> Breaker:
        with self._lock:
            return self._by_endpoint.setdefault(endpoint, Breaker(endpoint, self.threshold))

    def opened(self) -> list[str]:
        """The one line of each endpoint that went offline in this run."""
        with self._lock:
            return [b.reason for b in self._by_endpoint.values() if b.reason is not None]
