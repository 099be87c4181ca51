"""Typed dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.models import AuthSession, Client
from backend.services.sessions import resolve_session

_bearer = HTTPBearer(auto_error=False, description="Session token from /auth/*")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    db: Session = request.app.state.sessionmaker()
    try:
        yield db
    finally:
        db.close()


def get_now(request: Request) -> datetime:
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
    found = resolve_session(db, settings, credentials.credentials, now)
    if found is None:
        raise _unauthorized("Your session has ended. Please sign in again.")
    return found


def get_client(auth: Annotated[tuple[AuthSession, Client], Depends(get_auth)]) -> Client:
    return auth[1]


CurrentAuth = Annotated[tuple[AuthSession, Client], Depends(get_auth)]
CurrentClient = Annotated[Client, Depends(get_client)]


def client_ip(request: Request) -> str:
    """The peer address, used for per-IP limits."""
    return request.client.host if request.client else "unknown"


ClientIP = Annotated[str, Depends(client_ip)]


# Database ids are 32-bit positive integers; anything else is a 422, never an
# overflow deep in the driver.
MAX_ID = 2**31 - 1
IdPath = Annotated[int, PathParam(ge=1, le=MAX_ID)]
