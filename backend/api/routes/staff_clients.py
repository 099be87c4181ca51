"""Staff: business units list, client search and record, sending a portal link,
bulk portal access.

Behind ``require_staff``: every id in a path is checked against the caller's
business units and role (backend/api/staff_access.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.api.deps import MAX_ID, DbSession, IdPath, Now, SettingsDep
from backend.api.errors import problem
from backend.api.staff_access import StaffPrincipal, needs, require_staff
from backend.core.config import Settings
from backend.core.security import new_token
from backend.localization import language
from backend.message_templates import render_message, render_part
from backend.models import AuthSession, BusinessUnit, Client, ClientContact, LoginLink
from backend.models import OutgoingMessage as Outgoing
from backend.services import audit, client_search, portal_bulk, projection
from backend.services import auth as auth_service
from backend.services.delivery import reserve_sms_credit
from backend.services.messaging import Message

router = APIRouter(prefix="/staff", tags=["staff"], dependencies=[Depends(require_staff)])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def bu_summary(bu: BusinessUnit, role: str | None) -> dict[str, Any]:
    return {
        "id": bu.id,
        "name": bu.name,
        "logo_url": projection.branding_doc(bu)["logo_url"],
        "portal_enabled": bu.portal_enabled,
        "role": role,
    }


@router.get("/business-units", openapi_extra=needs("viewer", "any"))
def list_business_units(principal: StaffPrincipal, db: DbSession) -> list[dict[str, Any]]:
    """The business units you are a member of, with your role in each."""
    rows = db.scalars(
        select(BusinessUnit)
        .where(BusinessUnit.id.in_(list(principal.roles)))
        .order_by(BusinessUnit.name, BusinessUnit.id)
    )
    return [bu_summary(bu, principal.role_in(bu.id)) for bu in rows]


@router.get("/business-units/{bu_id}/clients")
def search_clients(
    bu_id: IdPath,
    db: DbSession,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[str, Query(max_length=20, pattern=r"^[0-9]*$")] = "",
) -> dict[str, Any]:
    """Clients matching ``q`` (name word prefix, accent- and case-insensitive; email
    or phone prefix; id), in id order; ``next`` is the cursor of the next page."""
    start = int(after) if after and int(after) <= MAX_ID else 0
    items, nxt = client_search.search(db, bu_id, q, limit, start)
    return {"items": items, "next": str(nxt) if nxt is not None else None}


def _client(db: Session, client_id: int) -> Client:
    client = projection.load_client(db, client_id)
    if client is None:
        raise HTTPException(404, f"No client with id {client_id}.")
    return client


@router.get("/clients/{client_id}")
def get_client(client_id: IdPath, db: DbSession, settings: SettingsDep) -> dict[str, Any]:
    """A client's record: access, contacts, permanent links (never their token), sign-ins."""
    client = _client(db, client_id)
    links = [
        {
            "id": link.id,
            "label": link.label,
            "created_at": projection.iso(link.created_at),
            "revoked_at": projection.iso(link.revoked_at),
        }
        for link in db.scalars(
            select(LoginLink)
            .where(LoginLink.client_id == client.id, LoginLink.kind == "permanent")
            .order_by(LoginLink.id.desc())
        )
    ]
    sign_ins = [
        {"at": projection.iso(at), "method": method, "contact": contact}
        for at, method, contact in db.execute(
            select(AuthSession.created_at, AuthSession.method, AuthSession.contact)
            .where(AuthSession.client_id == client.id)
            .order_by(AuthSession.id.desc())
            .limit(10)
        )
    ]
    consent = {
        name: getattr(client, name)
        for name in ("email_notifications", "sms_notifications")
        if hasattr(client, name)
    }
    return {
        "id": client.id,
        "name": client.name,
        "business_unit_id": client.business_unit_id,
        "portal_access": client.portal_access,
        "preferred_language": client.preferred_language,
        "contacts": [
            {"id": c.id, "kind": c.kind, "value": c.value, "label": c.label}
            for c in client.contacts
        ],
        "permanent_links": links,
        "recent_sign_ins": sign_ins,
        "consent": consent or None,
    }


class SendLinkIn(Strict):
    channel: Literal["email", "sms"]
    contact_id: Annotated[int, Field(ge=1, le=MAX_ID)]


EMAIL_LINK_LABEL = "Sent by email to {address}"
"""Label of a permanent link sent by email (shown in the client's link list)."""


def _issue_link(
    db: Session, settings: Settings, client: Client, channel: str, address: str, now: datetime
) -> tuple[str, datetime | None]:
    """A sign-in link for ``address``: (token, expiry; None for a permanent link).

    SMS: single use, ``sms_link_ttl_seconds`` (15 minutes), as a client's own
    SMS-link request. Email: a permanent link when the unit allows them (the
    email is the client's way back to the portal; it shows in the client's
    permanent links, revocable), else single use for
    ``email_link_ttl_seconds`` (72 hours: an email is read later than an SMS).
    Sessions opened with either record ``address`` as their contact.
    """
    bu = client.business_unit
    if channel == "email" and bu.permanent_links_allowed:
        label = EMAIL_LINK_LABEL.format(address=address)[:100]
        token = auth_service.issue_permanent_link(
            db, settings, client.id, now, label=label, contact=address
        )
        return token, None
    ttl = settings.sms_link_ttl_seconds if channel == "sms" else settings.email_link_ttl_seconds
    token = new_token()
    expires = now + timedelta(seconds=ttl)
    db.add(
        LoginLink(
            client_id=client.id,
            kind=channel,  # "sms" | "email": single use (auth_service.confirm_link)
            token_hash=auth_service._link_digest(settings, token),
            created_at=now,
            expires_at=expires,
            contact=address,
        )
    )
    return token, expires


@router.post(
    "/clients/{client_id}/send-portal-link",
    status_code=202,
    responses={
        409: problem(
            "The client has no portal access, SMS links are off for the unit, or no SMS "
            "credit is left (``code``: ``no_credit``)"
        )
    },
)
def send_portal_link(
    client_id: IdPath,
    body: SendLinkIn,
    request: Request,
    principal: StaffPrincipal,
    db: DbSession,
    settings: SettingsDep,
    now: Now,
) -> Any:
    """Send the client a sign-in link: by email a permanent link when the unit allows
    them, else single use for 72 hours; by SMS single use for 15 minutes (costs credits).
    See :func:`_issue_link`; the texts are ``backend/message_templates/*/portal_link.*``."""
    client = _client(db, client_id)
    bu = client.business_unit
    contact = db.get(ClientContact, body.contact_id)
    if contact is None or contact.client_id != client.id:
        raise HTTPException(
            422,
            [
                {
                    "loc": ["body", "contact_id"],
                    "msg": "not a contact of this client",
                    "type": "value_error",
                }
            ],
        )
    if contact.kind != ("email" if body.channel == "email" else "phone"):
        raise HTTPException(
            422,
            [
                {
                    "loc": ["body", "contact_id"],
                    "msg": f"not an {body.channel} contact",
                    "type": "value_error",
                }
            ],
        )
    if not (client.portal_access and bu.portal_enabled):
        raise HTTPException(409, "This client has no portal access; turn it on first.")
    if body.channel == "sms" and not bu.sms_links_allowed:
        raise HTTPException(
            409, "SMS login links are off for this business unit; allow them first."
        )
    lang = language(client.preferred_language)
    html = ""
    if body.channel == "sms":
        token, expires = _issue_link(db, settings, client, "sms", contact.value, now)
        text = render_part(
            "login_link",
            "sms",
            lang,
            {
                "business_unit": bu.name,
                "lifetime": auth_service.lifetime_text(settings.sms_link_ttl_seconds),
                "link": auth_service.link_url(settings, token),
            },
            tz=bu.timezone,
        )
        subject = ""
        if not reserve_sms_credit(db, settings, bu.id, text):
            db.rollback()
            return JSONResponse(
                status_code=409,
                content={
                    "detail": "No SMS credit left for this business unit. Buy credits or send "
                    "the link by email.",
                    "code": "no_credit",
                },
            )
    else:
        token, expires = _issue_link(db, settings, client, "email", contact.value, now)
        texts = render_message(
            "portal_link",
            lang,
            {
                "business_unit": bu.name,
                "brand_color": bu.primary_color,
                "client_name": client.name,
                "link": auth_service.link_url(settings, token),
                "expires_at": expires,
            },
            tz=bu.timezone,
        )
        subject, text, html = texts.subject, texts.text, texts.html
    message = Message(
        channel=body.channel,
        recipient=contact.value,
        subject=subject,
        body=text,
        html=html,
        business_unit_id=bu.id,
        client_id=client.id,
        language=lang,
        prepaid=body.channel == "sms",
    )
    auth_service._deliver(db, request.app.state.sender, message, now)
    db.flush()
    message_id = db.scalar(
        select(Outgoing.id)
        .where(Outgoing.recipient == contact.value, Outgoing.client_id == client.id)
        .order_by(Outgoing.id.desc())
        .limit(1)
    )
    cost = settings.sms_cost_centicredits if body.channel == "sms" else 0
    if body.channel == "sms":
        cost = (
            db.scalar(select(Outgoing.cost_centicredits).where(Outgoing.id == message_id)) or cost
        )
    audit.record(
        db,
        principal.actor,
        "client.portal_link_sent",
        now,
        business_unit_id=bu.id,
        target_kind="client",
        target_id=client.id,
        target_label=client.name,
        before=None,
        after={
            "channel": body.channel,
            "contact": contact.value,
            "link": "single_use" if expires is not None else "permanent",
        },
    )
    db.commit()
    return {"message_id": message_id, "cost_centicredits": cost}


class BulkIn(Strict):
    enable: bool
    dry_run: bool = False


@router.post("/business-units/{bu_id}/portal-access/bulk", openapi_extra=needs("admin"))
def bulk_portal_access(
    bu_id: IdPath, body: BulkIn, principal: StaffPrincipal, db: DbSession, now: Now
) -> dict[str, Any]:
    """Give (or take away) portal access to every client of the unit, in one UPDATE.

    ``dry_run`` only counts the clients that would change. A second run changes none.
    """
    affected = portal_bulk.set_portal_access(db, bu_id, body.enable, now, dry_run=body.dry_run)
    if body.dry_run:
        db.rollback()
        return {"affected": affected, "dry_run": True}
    if affected:
        bu = db.get(BusinessUnit, bu_id)
        audit.record(
            db,
            principal.actor,
            "clients.portal_access_bulk",
            now,
            business_unit_id=bu_id,
            target_kind="business_unit",
            target_id=bu_id,
            target_label=bu.name if bu else "",
            before={"portal_access": not body.enable, "clients": affected},
            after={"portal_access": body.enable, "clients": affected},
            only_changes=False,
        )
    db.commit()
    return {"affected": affected, "dry_run": False}
