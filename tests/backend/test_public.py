"""GET /public/branding: the company shown on the sign-in screen."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.orm import Session

from backend.api.main import create_app
from backend.core.config import Settings
from tests import factories
from tests.conftest import Clock


async def test_the_only_company_is_shown_without_signing_in(http, db: Session) -> None:
    bu = factories.business_unit(db)
    bu.logo = "logo.png"
    db.commit()
    answer = await http.get("/public/branding")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["id"], body["name"], body["logo_url"]) == (bu.id, bu.name, "/assets/logo.png")
    assert (await http.get(body["logo_url"])).headers["content-type"] == "image/png"


async def test_several_companies_and_none_configured_is_a_clear_404(http, db: Session) -> None:
    assert (await http.get("/public/branding")).status_code == 404  # empty database
    factories.business_unit(db)
    factories.business_unit(db, name="Other Firm")
    db.commit()
    answer = await http.get("/public/branding")
    assert answer.status_code == 404
    assert "PORTAL_PUBLIC_BUSINESS_UNIT_ID" in answer.json()["detail"]


async def test_a_company_with_the_portal_off_is_not_shown(http, db: Session) -> None:
    bu = factories.business_unit(db)
    factories.business_unit(db, name="Closed Portal Ltd", portal_enabled=False)
    db.commit()
    answer = await http.get("/public/branding")
    assert answer.status_code == 200 and answer.json()["id"] == bu.id
    bu.portal_enabled = False
    db.commit()
    assert (await http.get("/public/branding")).status_code == 404


async def test_the_configured_company_wins(
    api: FastAPI, db: Session, settings: Settings, clock: Clock
) -> None:
    factories.business_unit(db)
    chosen = factories.business_unit(db, name="Chosen Firm")
    db.commit()
    configured = settings.model_copy(update={"public_business_unit_id": chosen.id})
    app = create_app(configured, clock=clock)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answer = await http.get("/public/branding")
        assert answer.status_code == 200 and answer.json()["name"] == "Chosen Firm"
    finally:
        app.state.engine.dispose()
