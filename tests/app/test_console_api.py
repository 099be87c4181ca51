"""Console view-models against the real backend (tmp SQLite, httpx.ASGITransport).

Each test signs a staff member in through ``POST /staff/auth/login`` as the
console does, then drives a screen's model: what the role shows, what the
server keeps, and the server's refusals shown as its own sentences. A test
whose endpoint the backend does not serve yet is skipped (the staff API is
built beside the console; see /staff in docs/API.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from app.i18n import Translator
from app.staff.activity_types import ActivityTypesModel
from app.staff.admin import AdminModel
from app.staff.api import Forbidden, StaffApi
from app.staff.clients import ClientsModel
from app.staff.form_builder import FormBuilderModel
from app.staff.portal_settings import PortalSettingsModel
from app.staff.state import ConsoleState
from backend.models import ActivityType, BusinessUnit, Client, FormDefinition
from tests import factories

PASSWORD = "correct horse battery staple"


def needs(api: FastAPI, method: str, path: str) -> None:
    """Skip unless the app has a route for ``method path`` (``{name}`` segments match any)."""
    sample = path.replace("{", "").replace("}", "")
    sample = "/".join("1" if part.endswith("_id") else part for part in sample.split("/"))
    for route in api.router.routes:
        matches = getattr(route, "matches", None)
        if matches is None:
            continue
        match, _ = matches({"type": "http", "path": sample, "method": method})
        if match.name == "FULL":
            return
    pytest.skip(f"the backend does not serve {method} {path} yet")


@pytest.fixture
def seeded(api: FastAPI, db: Session, settings: Any) -> dict[str, int]:
    needs(api, "POST", "/staff/auth/login")
    from backend.services.staff_auth import hash_password, seal_totp
    from backend.staff_models import StaffMembership, StaffUser

    bu = factories.business_unit(db, portal_enabled=False)
    other = factories.business_unit(db, name="Other Unit")
    alice = factories.client(db, bu)
    factories.client(db, other, name="Zoé Foreign", email="zoe@example.com", phone=None)
    form = factories.form(db, bu)
    kind = factories.activity_type(db, bu)
    ids = {"bu": bu.id, "other": other.id, "client": alice.id, "form": form.id, "type": kind.id}
    for role in ("admin", "planner", "viewer"):
        user = StaffUser(
            email=f"{role}@staff.example",
            name=role.title(),
            language="en",
            password_hash=hash_password(PASSWORD),
        )
        user.memberships.append(StaffMembership(business_unit_id=bu.id, role=role))
        db.add(user)
    secret = pyotp.random_base32()
    totp = StaffUser(
        email="totp@staff.example",
        name="Tom",
        language="fr",
        password_hash=hash_password(PASSWORD),
        totp_secret=seal_totp(settings.resolved_secret_key(), secret),
        totp_enabled=True,
    )
    totp.memberships.append(StaffMembership(business_unit_id=bu.id, role="planner"))
    db.add(totp)
    db.commit()
    ids["totp_secret"] = secret  # type: ignore[assignment]
    return ids


@pytest.fixture
async def console(api: FastAPI) -> AsyncIterator[ConsoleState]:
    transport = httpx.ASGITransport(app=api, client=("203.0.113.9", 40000))
    client = httpx.AsyncClient(transport=transport, base_url="http://portal.test")
    yield ConsoleState(StaffApi(client), Translator("en"))
    await client.aclose()


async def signed_in(console: ConsoleState, role: str) -> ConsoleState:
    assert await console.sign_in(f"{role}@staff.example", PASSWORD), console.form.error
    return console


async def test_sign_in_shows_the_servers_refusal_then_opens_the_unit(seeded, console) -> None:
    assert not await console.sign_in("admin@staff.example", "wrong password!!")
    assert console.form.error and "password" in console.form.error.lower()
    assert not console.signed_in
    await signed_in(console, "admin")
    assert console.bu_id == seeded["bu"] and console.role == "admin"
    assert console.is_admin_anywhere and console.can("admin")
    await console.sign_out()
    assert not console.signed_in and console.api.token is None


async def test_a_totp_account_is_asked_for_its_code(seeded, console, clock) -> None:
    assert not await console.sign_in("totp@staff.example", PASSWORD)
    assert console.form.step == "totp" and console.form.error is None
    assert not await console.sign_in("", "", "000000")
    assert console.form.step == "totp" and console.form.error
    code = pyotp.TOTP(seeded["totp_secret"]).at(clock.now)  # the server's (test) time
    assert await console.sign_in("", "", code), console.form.error
    # The account's language is the console's unless one was picked.
    assert console.role == "planner" and console.tr.language == "fr"


async def test_repeated_failures_lock_with_the_wait_shown(seeded, console) -> None:
    for _ in range(12):
        if await console.sign_in("viewer@staff.example", "not the password") is False and (
            console.form.wait_seconds
        ):
            break
    assert console.form.wait_seconds and console.form.wait_seconds > 0
    assert "Try again in" in (console.form.error or "")


async def test_viewer_sees_read_only_screens_and_the_api_refuses_writes(
    seeded, console, api
) -> None:
    await signed_in(console, "viewer")
    settings = PortalSettingsModel(console)
    assert await settings.load()
    assert not settings.editable
    assert not ClientsModel(console).editable
    assert not ActivityTypesModel(console).editable
    assert not FormBuilderModel(console).editable
    assert not AdminModel(console).editable
    with pytest.raises(Forbidden) as refused:
        await console.api.patch_business_unit(seeded["bu"], {"portal_enabled": True})
    assert refused.value.detail  # the server's sentence, shown as it is
    settings.set("portal_enabled", True)
    assert not await settings.save()
    assert settings.action.error == refused.value.detail


async def test_admin_enables_and_brands_the_portal_and_it_is_audited(
    seeded, console, api, db
) -> None:
    await signed_in(console, "admin")
    model = PortalSettingsModel(console)
    assert await model.load() and model.editable
    assert model.draft["portal_enabled"] is False
    model.set("portal_enabled", True)
    model.set("name", "Chauffage Martin")
    model.set("description", "Since 1998.")
    assert model.changes == {
        "portal_enabled": True,
        "name": "Chauffage Martin",
        "description": "Since 1998.",
    }
    assert model.preview_branding()["name"] == "Chauffage Martin"
    assert await model.save(), model.action.error
    db.rollback()
    bu = db.get(BusinessUnit, seeded["bu"])
    assert bu.portal_enabled and bu.name == "Chauffage Martin"
    assert model.changes == {}
    # Titles and the unit menu show the new name without signing in again.
    assert console.bu_name == "Chauffage Martin"
    assert console.staff.memberships[0].business_unit_name == "Chauffage Martin"
    needs(api, "GET", "/staff/audit")
    admin = AdminModel(console)
    assert await admin.load_audit()
    assert any((e.get("after") or {}).get("portal_enabled") is True for e in admin.audit), (
        admin.audit
    )


async def test_planner_opens_a_client_gives_access_and_a_link(seeded, console, api, db) -> None:
    needs(api, "GET", "/staff/clients/{client_id}")
    await signed_in(console, "planner")
    db.get(BusinessUnit, seeded["bu"]).permanent_links_allowed = True
    db.commit()
    clients = ClientsModel(console)
    assert await clients.open(seeded["client"]), clients.action.error
    assert clients.editable
    assert await clients.set_access(True)
    db.rollback()
    assert db.get(Client, seeded["client"]).portal_access is True
    shown = await clients.create_link("front desk")
    assert shown is not None and "/login/link#" in shown.url
    assert shown.qr.startswith(b"\x89PNG")
    assert len(clients.live_links) == 1
    link_id = int(clients.live_links[0]["id"])
    assert await clients.revoke_link(link_id)
    assert clients.live_links == []
    # Another business unit's client does not exist for this staff member.
    foreign = db.query(Client).filter(Client.name == "Zoé Foreign").one()
    assert not await clients.open(foreign.id)
    assert clients.action.error


async def test_search_finds_by_name_email_and_phone(seeded, console, api) -> None:
    needs(api, "GET", "/staff/business-units/{bu_id}/clients")
    await signed_in(console, "viewer")
    clients = ClientsModel(console, delay=0)
    for query in ("alice", "ALICE@example.com", "06 12 34 56 78", ""):
        assert await clients.search(query), clients.action.error
        assert [c["id"] for c in clients.items] == [seeded["client"]], query
    assert await clients.search("nobody-like-this")
    assert clients.items == []


async def test_planner_saves_portal_actions_and_a_template(seeded, console, api, db) -> None:
    await signed_in(console, "planner")
    model = ActivityTypesModel(console, delay=0)
    kind = db.get(ActivityType, seeded["type"])
    model.types = [
        {
            "id": kind.id,
            "name": kind.name,
            "portal_shown": kind.portal_shown,
            "title_template": kind.title_template,
            "portal_actions": kind.portal_actions,
        }
    ]
    model.forms = [{"id": seeded["form"], "name": "Access details"}]
    assert model.open(kind.id)
    preview = await model.set_template("{type.nom}")
    assert preview.errors and "type.nom" in preview.errors[0]
    model.draft["title_template"] = "{type.name} at {site.city}"
    model.add_action("fill_form")
    model.toggle_status(0, "in_progress", True)
    assert await model.save(), model.errors
    db.rollback()
    saved = db.get(ActivityType, kind.id)
    assert saved.title_template == "{type.name} at {site.city}"
    assert saved.portal_actions[0]["form_id"] == seeded["form"]
    assert saved.portal_actions[0]["conditions"]["statuses"] == ["in_progress"]


async def test_title_preview_in_both_languages(seeded, console, api, db) -> None:
    needs(api, "POST", "/staff/activity-types/{type_id}/title-preview")
    await signed_in(console, "planner")
    tech = factories.technician(db, db.get(BusinessUnit, seeded["bu"]))
    factories.activity(
        db,
        db.get(Client, seeded["client"]),
        db.get(ActivityType, seeded["type"]),
        datetime(2026, 3, 2, 8, tzinfo=UTC),
        tech=tech,
    )
    db.commit()
    model = ActivityTypesModel(console, delay=0)
    assert await model.load()
    model.open(seeded["type"])
    preview = await model.set_template("{type.name} – {site.city}")
    assert preview.errors == [] and "Lyon" in preview.fr and "Lyon" in preview.en


async def test_form_builder_saves_through_the_api(seeded, console, db) -> None:
    await signed_in(console, "planner")
    builder = FormBuilderModel(console)
    builder.form_id = seeded["form"]
    builder.name = "Access details"
    builder.fields = [dict(f) for f in db.get(FormDefinition, seeded["form"]).fields]
    builder.is_open = True
    builder.add("rating", "How was it?")
    builder.add("choice", "Heating")
    builder.update(0, label="Door code", required=True)
    builder.move(1, 1)
    assert await builder.save(), builder.errors
    db.rollback()
    forms = db.query(FormDefinition).filter(FormDefinition.business_unit_id == seeded["bu"]).all()
    newest = max(forms, key=lambda f: f.id)
    kinds = [f["type"] for f in newest.fields]
    assert kinds == ["textarea", "signature", "yes_no", "rating", "choice"]
    assert newest.fields[0]["label"] == "Door code"
