"""Sign-in endpoints: one-time codes, SMS links, permanent links, session info, logout.

The routes only translate HTTP to :mod:`backend.services.auth` and back; every
rule (limits, lifetimes, hashing, enumeration policy) lives in the service and
is described in docs/AUTH.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.api.deps import ClientIP, CurrentAuth, DbSession, Now, SettingsDep
from backend.contacts import IdentifierError, normalize_phone, parse_identifier
from backend.services import auth as service
from backend.services.messaging import MessageSender

router = APIRouter(prefix="/auth", tags=["auth"])


# --- bodies -------------------------------------------------------------------


class CodeRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identifier: str = Field(
        min_length=3, max_length=254, description="Email address or phone number on file"
    )

    @field_validator("identifier")
    @classmethod
    def _is_email_or_phone(cls, value: str) -> str:
        try:
            parse_identifier(value)
        except IdentifierError:
            raise ValueError("enter an email address or a phone number") from None
        return value


class CodeVerifyIn(CodeRequestIn):
    # People paste "123 456" or "123-456"; accept that, refuse anything else.
    code: str = Field(
        pattern=r"^[0-9]{3}[ -]?[0-9]{3}$",
        max_length=7,
        description="The 6-digit code received",
    )

    @field_validator("code")
    @classmethod
    def _digits_only(cls, value: str) -> str:
        return value.replace(" ", "").replace("-", "")


class LinkRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=3, max_length=40, description="Mobile phone number on file")

    @field_validator("phone")
    @classmethod
    def _is_phone(cls, value: str) -> str:
        try:
            normalize_phone(value)
        except IdentifierError:
            raise ValueError("enter a phone number") from None
        return value


# --- answers ------------------------------------------------------------------


class SentOut(BaseModel):
    detail: str
    retry_after: int = Field(description="Seconds before another message may be requested")


class SessionOut(BaseModel):
    token: str = Field(description="Bearer token; keep it secret, it is shown only once")
    client_id: int
    expires_at: datetime = Field(description="Absolute end of the session")


class SessionInfoOut(BaseModel):
    client_id: int
    expires_at: datetime
    idle_expires_at: datetime = Field(description="When the session dies if not used again")
    method: str


class LinkOut(BaseModel):
    valid: Literal[True] = True
    kind: str = Field(description='"sms" or "permanent"')
    business_unit: str


class ProblemOut(BaseModel):
    detail: str


class CodeRejectedOut(BaseModel):
    detail: str
    tries_left: int


class RateLimitedOut(BaseModel):
    detail: str
    retry_after: int


_RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"model": RateLimitedOut, "description": "Too many requests; see Retry-After"}
}

TokenPath = Annotated[str, Path(min_length=1, max_length=200, description="Link token")]


def _sender(request: Request) -> MessageSender:
    return request.app.state.sender


def _rate_limited(exc: service.RateLimited) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        content={"detail": exc.detail, "retry_after": exc.retry_after},
        headers={"Retry-After": str(exc.retry_after)},
    )


def _sent(retry_after: int) -> JSONResponse:
    # Built from constants only: a known and an unknown identifier must get
    # byte-identical answers.
    return JSONResponse(
        status_code=status.HTTP_202_ACCEPTED,
        content={"detail": service.GENERIC_SENT, "retry_after": retry_after},
    )


def _session(issued: service.IssuedSession) -> SessionOut:
    return SessionOut(token=issued.token, client_id=issued.client_id, expires_at=issued.expires_at)


# --- one-time codes -------------------------------------------------------------


@router.post(
    "/code/request",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SentOut,
    responses=_RATE_LIMITED,
    summary="Send a one-time code to an email address or phone number on file",
)
def request_code(
    body: CodeRequestIn,
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    now: Now,
    ip: ClientIP,
) -> JSONResponse:
    """Always the same 202 answer whether or not the identifier is on file."""
    try:
        service.request_code(db, settings, _sender(request), body.identifier, ip, now)
    except service.RateLimited as exc:
        return _rate_limited(exc)
    return _sent(settings.otp_send_min_interval_seconds)


@router.post(
    "/code/verify",
    response_model=SessionOut,
    responses={401: {"model": CodeRejectedOut}, **_RATE_LIMITED},
    summary="Exchange a one-time code for a session",
)
def verify_code(
    body: CodeVerifyIn, db: DbSession, settings: SettingsDep, now: Now, ip: ClientIP
) -> Any:
    try:
        issued = service.verify_code(db, settings, body.identifier, body.code, ip, now)
    except service.RateLimited as exc:
        return _rate_limited(exc)
    except service.CodeRejected as exc:
        return JSONResponse(
            status_code=status.HTTP_401_UNAUTHORIZED,
            content={"detail": exc.detail, "tries_left": exc.tries_left},
        )
    return _session(issued)


# --- links --------------------------------------------------------------------------


@router.post(
    "/link/request",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SentOut,
    responses=_RATE_LIMITED,
    summary="Text a temporary sign-in link to a phone number on file",
)
def request_link(
    body: LinkRequestIn,
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    now: Now,
    ip: ClientIP,
) -> JSONResponse:
    """Always the same 202 answer (also when the business unit lacks SMS credit)."""
    try:
        service.request_sms_link(db, settings, _sender(request), body.phone, ip, now)
    except service.RateLimited as exc:
        return _rate_limited(exc)
    return _sent(settings.otp_send_min_interval_seconds)


def _link_not_found(exc: service.LinkInvalid) -> JSONResponse:
    return JSONResponse(status_code=status.HTTP_404_NOT_FOUND, content={"detail": exc.detail})


@router.get(
    "/link/{token}",
    response_model=LinkOut,
    responses={404: {"model": ProblemOut}},
    summary="Check a sign-in link without using it",
)
def inspect_link(token: TokenPath, db: DbSession, settings: SettingsDep, now: Now) -> Any:
    """Read-only: mail and SMS scanners open links, so looking never consumes."""
    try:
        preview = service.inspect_link(db, settings, token, now)
    except service.LinkInvalid as exc:
        return _link_not_found(exc)
    return LinkOut(kind=preview.kind, business_unit=preview.business_unit)


@router.post(
    "/link/{token}/confirm",
    response_model=SessionOut,
    responses={404: {"model": ProblemOut}},
    summary="Exchange a sign-in link for a session",
)
def confirm_link(token: TokenPath, db: DbSession, settings: SettingsDep, now: Now) -> Any:
    """Consumes an SMS link; a permanent link stays valid and gives a new session each time."""
    try:
        issued = service.confirm_link(db, settings, token, now)
    except service.LinkInvalid as exc:
        return _link_not_found(exc)
    return _session(issued)


# --- the current session ----------------------------------------------------------


_NEEDS_SESSION: dict[int | str, dict[str, Any]] = {
    401: {"model": ProblemOut, "description": "No session, or it has ended"}
}


@router.get(
    "/session",
    response_model=SessionInfoOut,
    responses=_NEEDS_SESSION,
    summary="The current session",
)
def session_info(auth: CurrentAuth, settings: SettingsDep) -> SessionInfoOut:
    session, _client = auth
    return SessionInfoOut(
        client_id=session.client_id,
        expires_at=session.expires_at,
        idle_expires_at=min(
            session.expires_at,
            session.last_seen_at + timedelta(seconds=settings.session_idle_seconds),
        ),
        method=session.method,
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_NEEDS_SESSION,
    summary="End the current session",
)
def logout(auth: CurrentAuth, db: DbSession, now: Now) -> Response:
    session, _client = auth
    session.revoked_at = now
    db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
