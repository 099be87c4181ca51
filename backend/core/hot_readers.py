"""Where the hot read routes' statements run: without a worker thread when possible.

A hot read (``backend.services.hot_reads``) is one indexed statement. Handing
it to a worker thread and back costs more CPU than the statement itself
(about 0.15 ms on SQLite, 0.2 ms on PostgreSQL, measured), so:

- on SQLite it runs on the event loop (:class:`InlineReader`): in WAL a
  reader never waits for a lock and the statement takes microseconds;
- on PostgreSQL it runs on the event loop too, but asynchronously, on
  psycopg's async connections in autocommit (:class:`PsycopgAsyncReader`): a
  network round trip must not block the loop, and awaiting it costs no
  thread;
- anything else goes to a worker thread (:class:`ThreadReader`).

Every reader holds at most ``size`` connections of its own (the admission
limit: one per running request), and a request holds one only for the
statement, never together with another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from backend.core.prepared import PreparedRead

log = logging.getLogger("portal")

Rows = list[Sequence[Any]]


class HotReader(Protocol):
    """Runs one ``PreparedRead`` and returns its converted rows."""

    async def rows(self, query: PreparedRead, params: dict[str, Any]) -> Rows: ...

    def close(self) -> None: ...


class InlineReader:
    """SQLite: the statement runs on the event loop, on a pooled connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def rows(self, query: PreparedRead, params: dict[str, Any]) -> Rows:
        with self.engine.connect() as conn:
            return query.rows(conn, params)

    def close(self) -> None:
        """Nothing of its own: the connections belong to the engine's pool."""


class ThreadReader:
    """Any other database: the statement runs in a worker thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _rows(self, query: PreparedRead, params: dict[str, Any]) -> Rows:
        with self.engine.connect() as conn:
            return query.rows(conn, params)

    async def rows(self, query: PreparedRead, params: dict[str, Any]) -> Rows:
        return await run_in_threadpool(self._rows, query, params)

    def close(self) -> None:
        """Nothing of its own: the connections belong to the engine's pool."""


class PsycopgAsyncReader:
    """PostgreSQL: the statement is awaited on one of ``size`` async connections.

    Connections open on first use, in autocommit (a lone statement needs no
    BEGIN and ROLLBACK round trips), and are kept. A statement that fails
    on a broken connection (the server restarted, the network dropped it)
    is run once more on a fresh one: it only reads.
    """

    def __init__(self, engine: Engine, size: int) -> None:
        self.dialect = engine.dialect
        url = engine.url.set(drivername="postgresql")
        self.conninfo = url.render_as_string(hide_password=False)
        self.size = size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[Any] = []
        # An app dropped without close() (a test's) still closes its sockets.
        weakref.finalize(self, PsycopgAsyncReader._close_all, self._idle)

    def _bind_loop(self) -> asyncio.Semaphore:
        # Connections and the semaphore belong to the loop that made them
        # (tests run one loop each); a new loop starts afresh.
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self.close()
            self._loop = loop
            self._slots = asyncio.Semaphore(self.size)
        return self._slots

    async def rows(self, query: PreparedRead, params: dict[str, Any]) -> Rows:
        import psycopg

        async with self._bind_loop():
            for attempt in (1, 2):
                conn = self._idle.pop() if self._idle else await self._connect()
                try:
                    found = await query.rows_async(conn, self.dialect, params)
                except psycopg.OperationalError:
                    self._discard(conn)
                    if attempt == 2 or not conn.broken:
                        raise
                    # The server restarted or the network dropped us: the
                    # idle connections are as dead as this one.
                    log.warning("hot read: database connection lost, retrying on a new one")
                    self.close()
                    continue
                except BaseException:
                    self._discard(conn)
                    raise
                self._idle.append(conn)
                return found
        raise AssertionError("unreachable")

    async def _connect(self) -> Any:
        import psycopg

        return await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)

    @staticmethod
    def _discard(conn: Any) -> None:
        # Closes the socket without awaiting: safe from any loop, or none.
        with contextlib.suppress(Exception):
            conn.pgconn.finish()

    def close(self) -> None:
        """Close the idle connections (call it when the app stops)."""
        self._close_all(self._idle)

    @staticmethod
    def _close_all(idle: list[Any]) -> None:
        while idle:
            PsycopgAsyncReader._discard(idle.pop())


def make_reader(engine: Engine, size: int) -> HotReader:
    """The reader for ``engine``'s database (see the module docstring)."""
    if engine.dialect.name == "sqlite":
        return InlineReader(engine)
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        return PsycopgAsyncReader(engine, size)
    return ThreadReader(engine)
