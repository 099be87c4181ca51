"""Typed dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from backend.core.config import Settings
from backend.core.db import begin_write, is_writer
from backend.models import AuthSession, Client
from backend.services.sessions import lookup_session, touch_session

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


async def client_ip(request: Request) -> str:
    """The peer address, used for per-IP limits."""
    return request.client.host if request.client else "unknown"


ClientIP = Annotated[str, Depends(client_ip)]


# Database ids are 32-bit positive integers; anything else is a 422, never an
# overflow deep in the driver.
MAX_ID = 2**31 - 1
IdPath = Annotated[int, PathParam(ge=1, le=MAX_ID)]
