"""Who is calling the staff API, and may they touch this business unit?

``require_staff`` guards every ``/staff`` router. It resolves the caller into a
:class:`Principal` (console session ``sst_…``, API key ``spk_…``, or the
deprecated ``X-Staff-Token``), then finds the business unit of every id in the
path (a client, an activity, a form…) and checks the caller's role there:
a business unit the caller is not a member of answers 404, as if the object
did not exist; a role too low answers 403.

The role a route needs comes from its ``openapi_extra`` (:func:`needs`); by
default reads need ``viewer`` and writes ``planner``. Routes without an id in
the path declare a scope: ``any`` (the role in at least one business unit; the
handler keeps to the caller's units) or ``self`` (signed in is enough).
A route whose path holds an id no resolver knows fails closed (500 in the
log, caught by the route-table test), never open.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from backend.api.deps import MAX_ID, DbSession, Now, SettingsDep, run_read
from backend.api.errors import declare_guard_errors
from backend.core.db import write_bind
from backend.models import (
    Activity,
    ActivityType,
    BusinessUnit,
    Client,
    FormDefinition,
    FormSubmission,
    LoginLink,
    ValidationEvent,
)
from backend.services import staff_auth
from backend.services.audit import DEPRECATED_TOKEN_LABEL, Actor
from backend.staff_models import ROLES, ApiKey, StaffSession, StaffUser

log = logging.getLogger("portal")

ROLE_KEY = "x-staff-role"
SCOPE_KEY = "x-staff-scope"
_TOUCH_EVERY = timedelta(seconds=60)
_bearer = HTTPBearer(
    auto_error=False, scheme_name="StaffBearer", description="Staff session token or API key"
)
# A security scheme, not a plain header: it is a credential (the schema says a
# staff route takes either; a client removing both must get a 401).
_shared_token = APIKeyHeader(
    name="X-Staff-Token",
    auto_error=False,
    scheme_name="StaffToken",
    description="Deprecated shared token (PORTAL_STAFF_TOKEN)",
)
# Longer than any token an operator would set: refused before the comparison.
_MAX_SHARED_TOKEN = 512
_deprecation_logged = False


def needs(role: str = "viewer", scope: str = "path") -> dict[str, Any]:
    """``openapi_extra`` of a staff route: the role it needs and where its business unit is.

    ``scope``: ``path`` (from the ids in the path), ``any`` (the role in at
    least one unit; the handler filters), ``self`` (any signed-in caller).
    """
    assert role in ROLES and scope in ("path", "any", "self")
    return {ROLE_KEY: role, SCOPE_KEY: scope}


def rank(role: str) -> int:
    return ROLES.index(role) if role in ROLES else -1


@dataclass
class Principal:
    """The caller of a staff endpoint and its role in each business unit."""

    kind: str  # "staff" | "api_key" | "staff_token"
    id: int | None
    label: str
    roles: dict[int, str] = field(default_factory=dict)
    staff: StaffUser | None = None
    session: StaffSession | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.kind, self.id, self.label)

    def role_in(self, business_unit_id: int) -> str | None:
        return self.roles.get(business_unit_id)

    def require(self, business_unit_id: int, role: str, what: str = "item") -> None:
        """404 when not a member of the unit, 403 when the role there is too low."""
        held = self.roles.get(business_unit_id)
        if held is None:
            raise HTTPException(404, f"No {what} with that id.")
        if rank(held) < rank(role):
            raise HTTPException(403, f"This needs the {role} role in this business unit.")

    def units_with(self, role: str) -> list[int]:
        """The business units where the caller holds at least ``role``."""
        return sorted(bu for bu, held in self.roles.items() if rank(held) >= rank(role))


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def _touch(engine: Engine, model: type, row_id: int, column: str, now: datetime) -> None:
    """Record a last use at most once a minute, in a short write of its own."""
    col = getattr(model, column)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(model)
                .where(model.id == row_id, (col.is_(None)) | (col <= now - _TOUCH_EVERY))
                .values({column: now})
            )
    except OperationalError:
        log.warning("could not record a staff session's or API key's last use (database busy)")


async def get_principal(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    now: Now,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_staff_token: Annotated[str | None, Depends(_shared_token)] = None,
) -> Principal:
    """The caller, or 401."""
    if x_staff_token is not None and len(x_staff_token) > _MAX_SHARED_TOKEN:
        raise _unauthorized("A valid staff session or API key is required.")
    if credentials is not None:
        token = credentials.credentials
        if token.startswith(staff_auth.SESSION_PREFIX):
            return await _from_session(request, db, settings, token, now)
        if token.startswith(staff_auth.API_KEY_PREFIX):
            return await _from_api_key(request, db, settings, token, now)
        if x_staff_token is None:
            # A client's session token, say: never a staff credential.
            raise _unauthorized("Sign in to the staff console, or use an API key.")
    if x_staff_token is not None and settings.staff_token:
        if hmac.compare_digest(x_staff_token.encode(), settings.staff_token.encode()):
            return await _from_shared_token(request, db)
        raise _unauthorized("A valid staff session or API key is required.")
    raise _unauthorized("A valid staff session or API key is required.")


async def _from_session(
    request: Request, db: Session, settings: Any, token: str, now: datetime
) -> Principal:
    def lookup() -> tuple[StaffSession, StaffUser] | None:
        try:
            return staff_auth.find_session(db, settings, token, now)
        finally:
            db.commit()

    found = await run_read(request, db, lookup)
    if found is None:
        raise _unauthorized("Your console session has ended. Please sign in again.")
    session, staff = found
    if now - session.last_seen_at >= _TOUCH_EVERY:
        await run_in_threadpool(
            _touch, write_bind(db), StaffSession, session.id, "last_seen_at", now
        )
    return Principal(
        kind="staff",
        id=staff.id,
        label=staff.email,
        roles={m.business_unit_id: m.role for m in staff.memberships},
        staff=staff,
        session=session,
    )


async def _from_api_key(
    request: Request, db: Session, settings: Any, token: str, now: datetime
) -> Principal:
    def lookup() -> ApiKey | None:
        try:
            return staff_auth.find_api_key(db, settings, token)
        finally:
            db.commit()

    key = await run_read(request, db, lookup)
    if key is None:
        raise _unauthorized("This API key is unknown or was revoked.")
    if key.last_used_at is None or now - key.last_used_at >= _TOUCH_EVERY:
        await run_in_threadpool(_touch, write_bind(db), ApiKey, key.id, "last_used_at", now)
    return Principal(
        kind="api_key",
        id=key.id,
        label=f"{key.name} ({key.prefix}…)",
        roles={int(bu): key.role for bu in key.business_unit_ids},
    )


async def _from_shared_token(request: Request, db: Session) -> Principal:
    global _deprecation_logged
    if not _deprecation_logged:
        _deprecation_logged = True
        log.warning(
            "X-Staff-Token / PORTAL_STAFF_TOKEN is deprecated: create staff accounts "
            "(portal staff create-admin) and API keys instead"
        )

    def units() -> list[int]:
        try:
            return list(db.scalars(select(BusinessUnit.id)))
        finally:
            db.commit()

    ids = await run_read(request, db, units)
    return Principal(
        kind="staff_token",
        id=None,
        label=DEPRECATED_TOKEN_LABEL,
        roles=dict.fromkeys(ids, "admin"),
    )


StaffPrincipal = Annotated[Principal, Depends(get_principal)]


# --- which business unit an id in the path belongs to ------------------------------


def _activity_unit(db: Session, activity_id: int) -> int | None:
    bu = db.scalar(select(Activity.business_unit_id).where(Activity.id == activity_id))
    if bu is not None:
        return bu
    # A deleted activity keeps its evidence (submissions, validations): its
    # client tells the unit.
    for model in (FormSubmission, ValidationEvent):
        bu = db.scalar(
            select(Client.business_unit_id)
            .join(model, model.client_id == Client.id)
            .where(model.activity_id == activity_id)
            .limit(1)
        )
        if bu is not None:
            return bu
    return None


def _column_unit(column: Any, key: Any, *joins: tuple[Any, Any]) -> Callable[[Session, int], Any]:
    def find(db: Session, ident: int) -> int | None:
        query = select(column)
        for target, on in joins:
            query = query.join(target, on)
        return db.scalar(query.where(key == ident))

    return find


RESOLVERS: dict[str, tuple[str, Callable[[Session, int], int | None]]] = {
    "bu_id": ("business unit", _column_unit(BusinessUnit.id, BusinessUnit.id)),
    "client_id": ("client", _column_unit(Client.business_unit_id, Client.id)),
    "activity_id": ("activity", _activity_unit),
    "type_id": ("activity type", _column_unit(ActivityType.business_unit_id, ActivityType.id)),
    "form_id": ("form", _column_unit(FormDefinition.business_unit_id, FormDefinition.id)),
    "link_id": (
        "permanent link",
        _column_unit(
            Client.business_unit_id,
            LoginLink.id,
            (LoginLink, LoginLink.client_id == Client.id),
        ),
    ),
    "submission_id": (
        "submission",
        _column_unit(
            Client.business_unit_id,
            FormSubmission.id,
            (FormSubmission, FormSubmission.client_id == Client.id),
        ),
    ),
}
"""Path parameter -> (what it names, its business unit). Add one for every new id kind."""

# Path parameters that name no object of a business unit (checked by their handler).
NOT_IDS = frozenset({"field_key", "doc_key", "account_id", "key_id"})


def register_resolver(name: str, what: str, find: Callable[[Session, int], int | None]) -> None:
    """Teach the guard a new kind of id in staff paths (for other staff routers)."""
    RESOLVERS[name] = (what, find)


def route_policy(route: Any) -> tuple[str, str]:
    """(role, scope) a route needs: its ``needs(...)`` or the method's default."""
    extra = getattr(route, "openapi_extra", None) or {}
    methods = getattr(route, "methods", None) or {"GET"}
    default = "viewer" if methods <= {"GET", "HEAD"} else "planner"
    return extra.get(ROLE_KEY, default), extra.get(SCOPE_KEY, "path")


def unresolvable_params(route: Any) -> list[str]:
    """Path parameters of a route the guard could not place in a business unit."""
    names = getattr(route, "param_convertors", {}).keys()
    return sorted(n for n in names if n not in RESOLVERS and n not in NOT_IDS)


def _is_id(text: str) -> bool:
    return text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_ID


async def require_staff(request: Request, principal: StaffPrincipal, db: DbSession) -> Principal:
    """Router dependency of every ``/staff`` router: authenticate, then check the path's units."""
    route = request.scope.get("route")
    role, scope = route_policy(route)
    params = request.path_params
    if scope == "self":
        return principal
    if scope == "any":
        if not principal.units_with(role):
            if not principal.roles:
                raise HTTPException(404, "Not found.")
            raise HTTPException(403, f"This needs the {role} role in a business unit.")
        return principal
    unknown = unresolvable_params(route)
    if unknown:
        raise RuntimeError(f"staff route {getattr(route, 'path', '?')} has unchecked ids {unknown}")
    named = [n for n in params if n in RESOLVERS]
    if not named:
        raise RuntimeError(f"staff route {getattr(route, 'path', '?')} names no business unit")
    # An id that is not a database id is the handler's 422 (its parameters are
    # validated next); the handler never runs then, so nothing is skipped.
    checks = [(n, params[n]) for n in named if _is_id(params[n])]
    if not checks:
        return principal

    def find_units() -> list[tuple[str, int, int | None]]:
        try:
            return [(RESOLVERS[n][0], int(v), RESOLVERS[n][1](db, int(v))) for n, v in checks]
        finally:
            db.commit()

    for what, ident, bu_id in await run_read(request, db, find_units):
        if bu_id is None:
            raise HTTPException(404, f"No {what} with id {ident}.")
        held = principal.role_in(bu_id)
        if held is None:
            raise HTTPException(404, f"No {what} with id {ident}.")
        if rank(held) < rank(role):
            raise HTTPException(403, f"This needs the {role} role in this business unit.")
        request.state.staff_business_unit_id = bu_id
    return principal


def guard_errors(route: Any) -> dict[int, str]:
    """The error answers (status -> when) :func:`require_staff` gives on ``route``."""
    role, scope = route_policy(route)
    answers = {401: "No staff session or API key, or it has ended or was revoked"}
    if scope == "any":
        answers[403] = f"The {role} role is needed in at least one business unit"
        # The handler keeps to the caller's units: an item of another one is a 404 too.
        answers[404] = "No such item in the caller's business units, or the caller is in none"
    elif scope == "path":
        answers[403] = f"The {role} role is needed in this item's business unit"
        answers[404] = "No such item, or it belongs to a business unit the caller is not in"
    return answers


declare_guard_errors(require_staff, guard_errors)


def staff_routes(routes: list[Any]) -> list[Any]:
    """Every route under /staff in an app's route table (included routers walked)."""
    found: list[Any] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found += staff_routes(inner.routes)
        elif getattr(route, "path", "").startswith("/staff"):
            found.append(route)
    return found
