"""Typed dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from backend.core.config import Settings
from backend.core.db import begin_write, is_writer
from backend.models import AuthSession, Client
from backend.services.hot_reads import HotRead
from backend.services.sessions import (
    SignedIn,
    lookup_session,
    record_last_use,
    touch_session,
)

_bearer = HTTPBearer(auto_error=False, description="Session token from /auth/*")


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def``
# dependency in the thread pool, and every such hop costs a thread slot and a
# context switch on every request.

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One database session per request (it holds at most one connection at a time).

    Creating it does no I/O. GET requests read in deferred transactions; other
    methods write, so their transactions take the write lock up front
    (``begin_write``). A GET that writes calls ``begin_write`` itself.
    """
    db: Session = request.app.state.request_sessionmaker()
    if request.method not in _SAFE_METHODS:
        begin_write(db)
    try:
        yield db
    finally:
        db.close()


async def get_now(request: Request) -> datetime:
    """The current time; tests replace ``app.state.clock`` to travel in time."""
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbSession = Annotated[Session, Depends(get_db)]
Now = Annotated[datetime, Depends(get_now)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


T = TypeVar("T")


async def run_read(
    request: Request, db: Session, work: Callable[[], T], *, small: bool = True
) -> T:
    """Run a read of ``db`` on the event loop when that is cheaper, else in a worker thread.

    Inline only on SQLite, for a reader, and for ``small`` work (a few
    indexed rows): in WAL a reader never waits for a lock, and such a read
    costs less than the hop to a worker thread and the GIL handover back.
    Writers (they may wait for the write lock), other databases (network
    round trips) and large reads go to a worker thread.
    """
    if small and request.app.state.inline_reads and not is_writer(db):
        return work()
    return await run_in_threadpool(work)


async def get_auth(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    now: Now,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[AuthSession, Client]:
    """The signed-in session and client, or 401.

    The lookup is one indexed read (``run_read``); the session's last use,
    when due, is written in a worker thread.
    """
    if credentials is None:
        raise _unauthorized("Sign in required.")
    token = credentials.credentials

    def lookup() -> tuple[AuthSession, Client, bool] | None:
        try:
            return lookup_session(db, settings, token, now)
        finally:
            # End the lookup's transaction here: the handler runs later on a
            # worker thread, and a connection must not wait idle in between.
            db.commit()

    found = await run_read(request, db, lookup)
    if found is None:
        raise _unauthorized("Your session has ended. Please sign in again.")
    session, client, touch_due = found
    if touch_due:
        await run_in_threadpool(touch_session, db, session, now)
    return session, client


async def get_client(auth: Annotated[tuple[AuthSession, Client], Depends(get_auth)]) -> Client:
    return auth[1]


CurrentAuth = Annotated[tuple[AuthSession, Client], Depends(get_auth)]
CurrentClient = Annotated[Client, Depends(get_client)]


# --- hot reads ----------------------------------------------------------------
#
# /sync, /activities and /activities/{id} are most of a client's traffic. Each
# resolves the session and reads the feed in one statement
# (backend/services/hot_reads.py) through one dependency (the token) and one
# call, run where it costs least (backend/core/hot_readers.py): on the event
# loop, synchronously on SQLite, awaited on PostgreSQL.


async def session_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The bearer token of the request (not yet checked), or 401 when there is none."""
    if credentials is None:
        raise _unauthorized("Sign in required.")
    return credentials.credentials


SessionToken = Annotated[str, Depends(session_token)]


async def hot_read(request: Request, read: HotRead[T]) -> tuple[SignedIn, T]:
    """Run ``read`` (built by ``backend.services.hot_reads``); 401 when it finds no
    live session.

    The session's last use, when due, is then written in a worker thread,
    in a short write of its own.
    """
    state = request.app.state
    now: datetime = state.clock()
    rows = await state.hot_reader.rows(read.query, read.params)
    found = read.answer(rows, state.settings, now)
    if found is None:
        raise _unauthorized("Your session has ended. Please sign in again.")
    if found[0].touch_due:
        await run_in_threadpool(record_last_use, state.touch_engine, found[0].session_id, now)
    return found


async def read_connection(
    request: Request, work: Callable[[Connection], T], *, small: bool = True
) -> T:
    """Run ``work`` on a plain pooled connection that writes nothing.

    For the follow-ups of a hot read (a pull with changes to send). Like
    ``run_read``: on the event loop on SQLite when ``small``, else in a
    worker thread.
    """
    engine = request.app.state.hot_read_engine

    def run() -> T:
        with engine.connect() as conn:
            return work(conn)

    if small and request.app.state.inline_reads:
        return run()
    return await run_in_threadpool(run)


async def client_ip(request: Request) -> str:
    """The peer address, used for per-IP limits."""
    return request.client.host if request.client else "unknown"


ClientIP = Annotated[str, Depends(client_ip)]


# Database ids are 32-bit positive integers; anything else is a 422, never an
# overflow deep in the driver.
MAX_ID = 2**31 - 1
IdPath = Annotated[int, PathParam(ge=1, le=MAX_ID)]
