"""Admission control: a bounded number of requests run at once, a bounded queue waits.

Past ``max_concurrent`` running requests, new ones wait in line; when the line
is full, or a request has waited ``queue_timeout`` seconds, the server answers
503 with Retry-After at once instead of letting clients time out after tens of
seconds (DESIGN §5b).

The same number sizes the worker threads and the database pool (see
``create_app``): every running request can get a thread and a connection, so
no request ever waits for a resource held by another that waits in turn.
"""

from __future__ import annotations

import asyncio
import logging
import math

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("portal")

# Answered without queueing: a load balancer's liveness probe must not wait
# behind the traffic it is meant to judge.
UNLIMITED_PATHS = frozenset({"/health"})

# Room for threads that hold no database connection (e.g. the web client's own).
THREAD_MARGIN = 8


class Overloaded(Exception):
    """No room to run this request now."""


class AdmissionLimit:
    """ASGI middleware: run at most ``max_concurrent`` requests, queue ``max_queued``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_concurrent: int,
        max_queued: int,
        queue_timeout: float,
        retry_after: int = 1,
    ) -> None:
        self.app = app
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.queue_timeout = queue_timeout
        self.retry_after = retry_after
        self.running = 0
        self.waiting = 0
        self.rejected = 0
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        # Created on first use inside the serving event loop (tests run one loop
        # each); that loop's thread pool is sized here too, before any request
        # needs a thread.
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._loop = loop
            self._slots = asyncio.Semaphore(self.max_concurrent)
            limiter = anyio.to_thread.current_default_thread_limiter()
            limiter.total_tokens = max(limiter.total_tokens, self.max_concurrent + THREAD_MARGIN)
        return self._slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        slots = self._semaphore()
        try:
            await self._admit(slots)
        except Overloaded:
            self.rejected += 1
            await self._busy(send)
            return
        self.running += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.running -= 1
            slots.release()

    async def _admit(self, slots: asyncio.Semaphore) -> None:
        if not slots.locked():
            await slots.acquire()
            return
        if self.waiting >= self.max_queued:
            raise Overloaded
        self.waiting += 1
        try:
            async with asyncio.timeout(self.queue_timeout):
                await slots.acquire()
        except TimeoutError:
            raise Overloaded from None
        finally:
            self.waiting -= 1

    async def _busy(self, send: Send) -> None:
        body = (
            b'{"detail":"The server is busy right now. Please try again in a moment.",'
            b'"code":"overloaded"}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(math.ceil(self.retry_after)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
