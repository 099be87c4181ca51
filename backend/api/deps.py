"""Typed dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.core.db import begin_write
from backend.models import AuthSession, Client
from backend.services.sessions import resolve_session

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


def get_auth(
    db: DbSession,
    settings: SettingsDep,
    now: Now,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[AuthSession, Client]:
    if credentials is None:
        raise _unauthorized("Sign in required.")
    try:
        found = resolve_session(db, settings, credentials.credentials, now)
    finally:
        # End the lookup's transaction here: the handler runs on another thread
        # slot, and a connection must not wait idle in between (DESIGN §5b).
        db.commit()
    if found is None:
        raise _unauthorized("Your session has ended. Please sign in again.")
    return found


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
