"""Staff sign-in, the signed-in account, staff accounts, API keys and the audit log.

``/staff/auth/login`` and ``/staff/auth/set-password`` are open (they are how
one gets credentials); everything else is behind ``require_staff``.
Account and key management needs the admin role and stays within the
business units where the caller is an admin.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from backend.api.deps import MAX_ID, ClientIP, DbSession, IdPath, Now, SettingsDep
from backend.api.errors import problem
from backend.api.staff_access import Principal, StaffPrincipal, needs, require_staff
from backend.models import BusinessUnit
from backend.services import audit, staff_auth
from backend.services.projection import iso
from backend.staff_models import ApiKey, StaffMembership, StaffUser

open_router = APIRouter(prefix="/staff/auth", tags=["staff"])
router = APIRouter(prefix="/staff", tags=["staff"], dependencies=[Depends(require_staff)])

Role = Literal["admin", "planner", "viewer"]
Language = Literal["fr", "en"]
BuId = Annotated[int, Field(ge=1, le=MAX_ID)]
EMAIL_PATTERN = r"^[^@\s]{1,100}@[^@\s]{1,100}\.[^@\s]{1,60}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _password_error(message: str) -> HTTPException:
    return HTTPException(
        422, [{"loc": ["body", "password"], "msg": message, "type": "value_error"}]
    )


def staff_doc(db: Session, staff: StaffUser) -> dict[str, Any]:
    """The ``staff`` object of the contract."""
    names = dict(
        db.execute(
            select(BusinessUnit.id, BusinessUnit.name).where(
                BusinessUnit.id.in_([m.business_unit_id for m in staff.memberships])
            )
        ).all()
    )
    return {
        "id": staff.id,
        "email": staff.email,
        "name": staff.name,
        "language": staff.language,
        "totp_enabled": staff.totp_enabled,
        "disabled": staff.disabled,
        "last_sign_in_at": iso(staff.last_sign_in_at),
        "memberships": [
            {
                "business_unit_id": m.business_unit_id,
                "business_unit_name": names.get(m.business_unit_id, ""),
                "role": m.role,
            }
            for m in staff.memberships
        ],
    }


# --- sign-in ------------------------------------------------------------------------


class LoginIn(Strict):
    email: Annotated[str, Field(min_length=3, max_length=200)]
    password: Annotated[str, Field(min_length=1, max_length=staff_auth.MAX_PASSWORD)]
    totp_code: Annotated[str, Field(max_length=10)] | None = None


class SignInOut(BaseModel):
    token: str
    expires_at: str
    staff: dict[str, Any]


@open_router.post(
    "/login",
    response_model=SignInOut,
    responses={
        401: problem("Wrong credentials, or a TOTP code is needed (``code`` says which)"),
        429: problem("Too many failed attempts for this account or address: wait ``retry_after``"),
    },
)
def login(body: LoginIn, db: DbSession, settings: SettingsDep, ip: ClientIP, now: Now) -> Any:
    """Email + password (+ TOTP code when enabled) -> a console session token (``sst_…``)."""
    try:
        done = staff_auth.login(db, settings, body.email, body.password, body.totp_code, ip, now)
    except staff_auth.LoginRefused as exc:
        content: dict[str, Any] = {"detail": exc.detail}
        headers = {}
        if exc.code:
            content["code"] = exc.code
        if exc.status == 429:
            content["retry_after"] = exc.retry_after
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse(status_code=exc.status, content=content, headers=headers)
    return {
        "token": done.token,
        "expires_at": iso(done.expires_at),
        "staff": staff_doc(db, done.staff),
    }


class SetPasswordIn(Strict):
    token: Annotated[str, Field(min_length=10, max_length=200)]
    password: Annotated[str, Field(max_length=1000)]


@open_router.post(
    "/set-password",
    status_code=204,
    responses={404: problem("The link has expired, was already used, or never existed")},
)
def set_password(body: SetPasswordIn, db: DbSession, settings: SettingsDep, now: Now) -> Response:
    """Choose a password with a one-time link (404 when the link is dead)."""
    try:
        staff = staff_auth.use_set_password(db, settings, body.token, body.password, now)
    except staff_auth.TokenInvalid as exc:
        raise HTTPException(404, str(exc)) from None
    except staff_auth.PasswordRejected as exc:
        raise _password_error(str(exc)) from None
    actor = audit.Actor("staff", staff.id, staff.email)
    for m in staff.memberships:
        audit.record(
            db,
            actor,
            "staff.password_set",
            now,
            business_unit_id=m.business_unit_id,
            target_kind="staff",
            target_id=staff.id,
            target_label=staff.email,
        )
    db.commit()
    return Response(status_code=204)


@router.post("/auth/logout", status_code=204, openapi_extra=needs("viewer", "self"))
def logout(principal: StaffPrincipal, db: DbSession, now: Now) -> Response:
    """End this console session (API keys are revoked with DELETE /staff/api-keys/{id})."""
    if principal.session is not None:
        staff_auth.revoke_sessions_by_id(db, principal.session.id, now)
        db.commit()
    return Response(status_code=204)


def _me(principal: Principal) -> StaffUser:
    if principal.staff is None:
        raise HTTPException(409, "Only a staff account signed in to the console has a profile.")
    return principal.staff


@router.get("/me", openapi_extra=needs("viewer", "self"))
def me(principal: StaffPrincipal, db: DbSession) -> dict[str, Any]:
    if principal.staff is None:
        return {
            "id": principal.id,
            "email": "",
            "name": principal.label,
            "language": "en",
            "totp_enabled": False,
            "kind": principal.kind,
            "memberships": [
                {"business_unit_id": bu, "business_unit_name": "", "role": role}
                for bu, role in sorted(principal.roles.items())
            ],
        }
    return staff_doc(db, principal.staff)


class CodeIn(Strict):
    code: Annotated[str, Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")]


# An API key or the shared token has no account: the /me actions that change one say so.
_NO_ACCOUNT = "the caller is an API key or the shared token, not a staff account"


@router.post(
    "/me/totp",
    openapi_extra=needs("viewer", "self"),
    responses={409: problem(f"Two-factor sign-in is already on, or {_NO_ACCOUNT}")},
)
def start_totp(principal: StaffPrincipal, db: DbSession, settings: SettingsDep) -> dict[str, str]:
    """A new TOTP secret to scan; it is enabled once a code from it is confirmed."""
    staff = db.merge(_me(principal))
    if staff.totp_enabled:
        raise HTTPException(409, "Two-factor sign-in is already on; turn it off first.")
    secret, uri = staff_auth.start_totp(settings, staff)
    db.commit()
    return {"secret": secret, "otpauth_uri": uri}


def _staff_units(staff: StaffUser) -> list[int]:
    return [m.business_unit_id for m in staff.memberships]


@router.post(
    "/me/totp/confirm",
    status_code=204,
    openapi_extra=needs("viewer", "self"),
    responses={
        409: problem(
            f"Two-factor sign-in is already on, no secret was started (POST /staff/me/totp), "
            f"or {_NO_ACCOUNT}"
        )
    },
)
def confirm_totp(
    body: CodeIn, principal: StaffPrincipal, db: DbSession, settings: SettingsDep, now: Now
) -> Response:
    staff = db.merge(_me(principal))
    if staff.totp_enabled:
        raise HTTPException(409, "Two-factor sign-in is already on.")
    if not staff.totp_secret:
        raise HTTPException(409, "Start with POST /staff/me/totp to get a secret.")
    if not staff_auth.check_totp(settings, staff, body.code, now):
        raise HTTPException(
            422,
            [{"loc": ["body", "code"], "msg": "That code is not right.", "type": "value_error"}],
        )
    staff.totp_enabled = True
    _audit_self(db, principal, staff, "staff.totp_enabled", now, False, True)
    db.commit()
    return Response(status_code=204)


@router.delete(
    "/me/totp",
    status_code=204,
    openapi_extra=needs("viewer", "self"),
    responses={409: problem(f"Two-factor sign-in is already off, or {_NO_ACCOUNT}")},
)
def disable_totp(
    body: CodeIn, principal: StaffPrincipal, db: DbSession, settings: SettingsDep, now: Now
) -> Response:
    staff = db.merge(_me(principal))
    if not staff.totp_enabled:
        raise HTTPException(409, "Two-factor sign-in is already off.")
    if not staff_auth.check_totp(settings, staff, body.code, now):
        raise HTTPException(
            422,
            [{"loc": ["body", "code"], "msg": "That code is not right.", "type": "value_error"}],
        )
    staff.totp_enabled = False
    staff.totp_secret = ""
    _audit_self(db, principal, staff, "staff.totp_disabled", now, True, False)
    db.commit()
    return Response(status_code=204)


def _audit_self(
    db: Session, principal: Principal, staff: StaffUser, action: str, now: Any, was: Any, is_: Any
) -> None:
    for bu in _staff_units(staff):
        audit.record(
            db,
            principal.actor,
            action,
            now,
            business_unit_id=bu,
            target_kind="staff",
            target_id=staff.id,
            target_label=staff.email,
            before={"totp_enabled": was},
            after={"totp_enabled": is_},
        )


# --- staff accounts (admin) ---------------------------------------------------------


class MembershipIn(Strict):
    business_unit_id: BuId
    role: Role


class AccountIn(Strict):
    email: Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=200)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    language: Language = "fr"
    memberships: Annotated[list[MembershipIn], Field(min_length=1, max_length=200)]


class AccountPatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    language: Language | None = None
    memberships: Annotated[list[MembershipIn], Field(max_length=200)] | None = None
    disabled: bool | None = None


def _admin_units(principal: Principal) -> set[int]:
    return set(principal.units_with("admin"))


def _check_memberships(principal: Principal, memberships: list[MembershipIn]) -> None:
    allowed = _admin_units(principal)
    seen: set[int] = set()
    for i, m in enumerate(memberships):
        if m.business_unit_id not in allowed or m.business_unit_id in seen:
            reason = "duplicated" if m.business_unit_id in seen else "not one of your units"
            raise HTTPException(
                422,
                [
                    {
                        "loc": ["body", "memberships", i, "business_unit_id"],
                        "msg": f"business unit {m.business_unit_id}: {reason}",
                        "type": "value_error",
                    }
                ],
            )
        seen.add(m.business_unit_id)


def _visible_account(db: Session, principal: Principal, account_id: int) -> StaffUser:
    staff = db.get(StaffUser, account_id, options=[selectinload(StaffUser.memberships)])
    if staff is None or not set(_staff_units(staff)) & _admin_units(principal):
        raise HTTPException(404, f"No staff account with id {account_id}.")
    return staff


def _roles(staff: StaffUser) -> dict[str, str]:
    return {str(m.business_unit_id): m.role for m in staff.memberships}


@router.get("/accounts", openapi_extra=needs("admin", "any"))
def list_accounts(principal: StaffPrincipal, db: DbSession) -> list[dict[str, Any]]:
    """The accounts with a role in a business unit where you are an admin."""
    ids = select(StaffMembership.staff_id).where(
        StaffMembership.business_unit_id.in_(_admin_units(principal))
    )
    rows = db.scalars(
        select(StaffUser)
        .where(StaffUser.id.in_(ids))
        .options(selectinload(StaffUser.memberships))
        .order_by(StaffUser.email)
    )
    return [staff_doc(db, s) for s in rows]


@router.post(
    "/accounts",
    status_code=201,
    openapi_extra=needs("admin", "any"),
    responses={409: problem("An account with this email exists: change its memberships")},
)
def create_account(
    body: AccountIn, principal: StaffPrincipal, db: DbSession, settings: SettingsDep, now: Now
) -> dict[str, Any]:
    """A new account; its owner chooses a password with the link returned (shown once)."""
    _check_memberships(principal, body.memberships)
    email = staff_auth.normalize_email(body.email)
    if db.scalars(select(StaffUser.id).where(StaffUser.email == email)).first() is not None:
        raise HTTPException(409, "An account with this email exists; change its memberships.")
    staff = StaffUser(email=email, name=body.name, language=body.language, created_at=now)
    staff.memberships = [
        StaffMembership(business_unit_id=m.business_unit_id, role=m.role) for m in body.memberships
    ]
    db.add(staff)
    db.flush()
    url = staff_auth.issue_set_password(db, settings, staff, now)
    for m in body.memberships:
        audit.record(
            db,
            principal.actor,
            "staff.created",
            now,
            business_unit_id=m.business_unit_id,
            target_kind="staff",
            target_id=staff.id,
            target_label=email,
            before=None,
            after={"email": email, "name": body.name, "role": m.role},
        )
    db.commit()
    return {"staff": staff_doc(db, staff), "set_password_url": url}


@router.patch(
    "/accounts/{account_id}",
    openapi_extra=needs("admin", "any"),
    responses={409: problem("Disabling your own account: ask another admin")},
)
def patch_account(
    account_id: IdPath, body: AccountPatch, principal: StaffPrincipal, db: DbSession, now: Now
) -> dict[str, Any]:
    """Rename, change roles in your units (others' units are kept), or disable."""
    staff = _visible_account(db, principal, account_id)
    before = {"name": staff.name, "language": staff.language, "disabled": staff.disabled}
    before_roles = _roles(staff)
    values = body.model_dump(exclude_unset=True, exclude={"memberships"})
    for key in values:
        if values[key] is None:
            raise HTTPException(
                422, [{"loc": ["body", key], "msg": "may not be null", "type": "value_error"}]
            )
    if body.disabled and principal.staff is not None and principal.staff.id == staff.id:
        raise HTTPException(409, "You cannot disable your own account; ask another admin.")
    for key, value in values.items():
        setattr(staff, key, value)
    admin_units = _admin_units(principal)
    if body.memberships is not None:
        _check_memberships(principal, body.memberships)
        wanted = {m.business_unit_id: m.role for m in body.memberships}
        kept = [m for m in staff.memberships if m.business_unit_id not in admin_units]
        staff.memberships = kept + [
            StaffMembership(business_unit_id=bu, role=role) for bu, role in sorted(wanted.items())
        ]
    if staff.disabled and not before["disabled"]:
        staff_auth.revoke_sessions(db, staff.id, now)
    db.flush()
    after_roles = _roles(staff)
    after = {"name": staff.name, "language": staff.language, "disabled": staff.disabled}
    for bu in sorted(admin_units & {int(b) for b in {*before_roles, *after_roles}}):
        b_role, a_role = before_roles.get(str(bu)), after_roles.get(str(bu))
        audit.record(
            db,
            principal.actor,
            "staff.updated",
            now,
            business_unit_id=bu,
            target_kind="staff",
            target_id=staff.id,
            target_label=staff.email,
            before={**before, "role": b_role},
            after={**after, "role": a_role},
        )
    db.commit()
    db.refresh(staff)
    return staff_doc(db, staff)


@router.post("/accounts/{account_id}/reset-password", openapi_extra=needs("admin", "any"))
def reset_password(
    account_id: IdPath, principal: StaffPrincipal, db: DbSession, settings: SettingsDep, now: Now
) -> dict[str, str]:
    """A new one-time set-password link; the old password keeps working until it is used."""
    staff = _visible_account(db, principal, account_id)
    url = staff_auth.issue_set_password(db, settings, staff, now)
    for bu in sorted(set(_staff_units(staff)) & _admin_units(principal)):
        audit.record(
            db,
            principal.actor,
            "staff.password_reset_link",
            now,
            business_unit_id=bu,
            target_kind="staff",
            target_id=staff.id,
            target_label=staff.email,
        )
    db.commit()
    return {"set_password_url": url}


# --- API keys (admin) -----------------------------------------------------------------


class ApiKeyIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    business_unit_ids: Annotated[list[BuId], Field(min_length=1, max_length=200)]
    role: Role


def key_doc(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "role": key.role,
        "business_unit_ids": key.business_unit_ids,
        "created_by_id": key.created_by_id,
        "created_at": iso(key.created_at),
        "last_used_at": iso(key.last_used_at),
        "revoked_at": iso(key.revoked_at),
    }


def _visible_key(db: Session, principal: Principal, key_id: int) -> ApiKey:
    key = db.get(ApiKey, key_id)
    if key is None or not {int(b) for b in key.business_unit_ids} & _admin_units(principal):
        raise HTTPException(404, f"No API key with id {key_id}.")
    return key


@router.get("/api-keys", openapi_extra=needs("admin", "any"))
def list_api_keys(principal: StaffPrincipal, db: DbSession) -> list[dict[str, Any]]:
    """Keys touching a business unit where you are an admin (never the key itself)."""
    units = _admin_units(principal)
    rows = db.scalars(select(ApiKey).order_by(ApiKey.id.desc()))
    return [key_doc(k) for k in rows if {int(b) for b in k.business_unit_ids} & units]


@router.post("/api-keys", status_code=201, openapi_extra=needs("admin", "any"))
def create_api_key(
    body: ApiKeyIn, principal: StaffPrincipal, db: DbSession, settings: SettingsDep, now: Now
) -> dict[str, Any]:
    """A new key, returned once in ``key``; only its digest is stored."""
    units = sorted(set(body.business_unit_ids))
    outside = [bu for bu in units if bu not in _admin_units(principal)]
    if outside:
        raise HTTPException(
            422,
            [
                {
                    "loc": ["body", "business_unit_ids"],
                    "msg": f"not one of your units: {outside}",
                    "type": "value_error",
                }
            ],
        )
    secret, prefix = staff_auth.new_api_key()
    key = ApiKey(
        name=body.name,
        prefix=prefix,
        key_hash=staff_auth.api_key_digest(settings.resolved_secret_key(), secret),
        role=body.role,
        business_unit_ids=units,
        created_by_id=principal.staff.id if principal.staff is not None else None,
        created_at=now,
    )
    db.add(key)
    db.flush()
    for bu in units:
        audit.record(
            db,
            principal.actor,
            "api_key.created",
            now,
            business_unit_id=bu,
            target_kind="api_key",
            target_id=key.id,
            target_label=f"{key.name} ({prefix}…)",
            before=None,
            after={"name": key.name, "role": key.role, "business_unit_ids": units},
        )
    db.commit()
    return {**key_doc(key), "key": secret}


@router.delete("/api-keys/{key_id}", status_code=204, openapi_extra=needs("admin", "any"))
def revoke_api_key(key_id: IdPath, principal: StaffPrincipal, db: DbSession, now: Now) -> Response:
    key = _visible_key(db, principal, key_id)
    if key.revoked_at is None:
        key.revoked_at = now
        for bu in sorted({int(b) for b in key.business_unit_ids} & _admin_units(principal)):
            audit.record(
                db,
                principal.actor,
                "api_key.revoked",
                now,
                business_unit_id=bu,
                target_kind="api_key",
                target_id=key.id,
                target_label=f"{key.name} ({key.prefix}…)",
                before={"revoked_at": None},
                after={"revoked_at": iso(now)},
            )
        db.commit()
    return Response(status_code=204)


# --- audit log ------------------------------------------------------------------------


@router.get("/audit", openapi_extra=needs("viewer", "any"))
def audit_log(
    principal: StaffPrincipal,
    db: DbSession,
    business_unit_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> dict[str, Any]:
    """Staff changes, newest first, in your business units (or one of them)."""
    units = sorted(principal.roles)
    if business_unit_id is not None:
        principal.require(business_unit_id, "viewer", "business unit")
        units = [business_unit_id]
    rows, nxt = audit.page(db, units, limit, before)
    return {"items": [audit.entry_doc(e) for e in rows], "next": nxt}
