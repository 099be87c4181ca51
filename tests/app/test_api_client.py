"""The API client against the real backend in-process (and a few fake transports)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.sync.api import (
    Offline,
    PortalApi,
    RateLimited,
    Rejected,
    ServerError,
    SignedIn,
    Unauthorized,
)
from backend.core.config import Settings
from backend.models import OutgoingMessage
from tests.backend.portal_setup import World, build_world
from tests.conftest import Clock

STAFF = {"X-Staff-Token": "test-staff-token"}
ALICE = "alice@example.com"


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


@pytest.fixture
async def portal(api: FastAPI) -> AsyncIterator[PortalApi]:
    client = PortalApi.embedded(api)
    yield client
    await client.aclose()


def last_code(api: FastAPI, recipient: str) -> str:
    """The 6-digit code in the newest development-outbox message to ``recipient``."""
    session: Session = api.state.sessionmaker()
    try:
        bodies = session.scalars(
            select(OutgoingMessage.body)
            .where(OutgoingMessage.recipient == recipient)
            .order_by(OutgoingMessage.id)
        ).all()
    finally:
        session.close()
    assert bodies, f"no message to {recipient}"
    return re.findall(r"\b\d{6}\b", bodies[-1])[-1]


def mock_api(handler) -> PortalApi:
    transport = httpx.MockTransport(handler)
    return PortalApi(httpx.AsyncClient(transport=transport, base_url="http://mock"), token="t")


# -- sign-in ------------------------------------------------------------------


async def test_request_and_verify_code_signs_in(api, world: World, portal: PortalApi) -> None:
    assert await portal.request_code(ALICE) == 60
    signed = await portal.verify_code(ALICE, last_code(api, ALICE))
    assert isinstance(signed, SignedIn)
    assert signed.client_id == world.alice.id and len(signed.token) >= 22
    assert signed.expires_at
    portal.token = signed.token
    me = await portal.me()
    assert me["profile"]["id"] == world.alice.id
    assert me["branding"]["name"] == world.bu.name


async def test_wrong_code_is_rejected_with_tries_left(api, world: World, portal) -> None:
    await portal.request_code(ALICE)
    good = last_code(api, ALICE)
    wrong = "000000" if good != "000000" else "111111"
    with pytest.raises(Rejected) as caught:
        await portal.verify_code(ALICE, wrong)
    error = caught.value
    assert not isinstance(error, Unauthorized)  # a wrong code is not a lost session
    assert error.status == 401 and error.message_key == "error.code_rejected"
    assert error.tries_left == 2 and error.detail


async def test_requesting_codes_quickly_is_rate_limited(world: World, portal) -> None:
    await portal.request_code(ALICE)
    with pytest.raises(RateLimited) as caught:
        await portal.request_code(ALICE)
    assert caught.value.status == 429
    assert 0 < caught.value.retry_after <= 60
    assert caught.value.message_key == "error.rate_limited" and caught.value.detail


async def test_invalid_input_is_rejected_with_field_and_sentence(world: World, portal) -> None:
    with pytest.raises(Rejected) as caught:
        await portal.request_code("not an identifier")
    error = caught.value
    assert error.status == 422 and error.message_key == "error.invalid_input"
    assert error.field == "identifier"
    assert error.detail == "enter an email address or a phone number"


async def test_unknown_link_is_rejected_404(world: World, portal) -> None:
    with pytest.raises(Rejected) as caught:
        await portal.inspect_link("no-such-link-token-at-all")
    assert caught.value.status == 404 and caught.value.message_key == "error.link_invalid"
    assert caught.value.detail
    with pytest.raises(Rejected):
        await portal.confirm_link("no-such-link-token-at-all")
    with pytest.raises(Rejected) as caught:
        await portal.inspect_link("a/b")  # never sent: would change the route
    assert caught.value.status is None


async def test_permanent_link_inspect_then_confirm(http, world: World, portal, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    r = await http.post(f"/staff/clients/{world.alice.id}/permanent-links", json={}, headers=STAFF)
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    preview = await portal.inspect_link(token)
    assert preview["kind"] == "permanent" and preview["business_unit"] == world.bu.name
    signed = await portal.confirm_link(token)
    assert signed.client_id == world.alice.id
    # httpx logs each request URL; the link token (a credential) is masked.
    assert "/auth/link/***" in caplog.text
    assert token not in caplog.text and signed.token not in caplog.text


# -- signed-in calls ------------------------------------------------------------


async def test_bad_or_missing_token_is_unauthorized(world: World, portal) -> None:
    with pytest.raises(Unauthorized) as caught:
        await portal.me()  # no token at all: no request needed
    assert caught.value.message_key == "error.session_ended"
    portal.token = "not-a-real-session-token"
    with pytest.raises(Unauthorized) as caught:
        await portal.sync_page(None)
    assert caught.value.status == 401 and caught.value.detail


async def test_logout_ends_the_session(world: World, portal) -> None:
    portal.token = world.alice_token
    await portal.me()
    await portal.logout()
    with pytest.raises(Unauthorized):
        await portal.me()


async def test_sync_page_returns_a_page(world: World, portal) -> None:
    portal.token = world.alice_token
    page = await portal.sync_page(None, limit=2)
    assert page["reset"] is True and page["has_more"] is True
    assert len(page["changes"]) == 2 and page["cursor"]


async def test_fetch_asset(world: World, portal) -> None:
    logo = await portal.fetch_asset("/assets/logo.png")
    assert logo.startswith(b"\x89PNG")
    with pytest.raises(Rejected) as caught:
        await portal.fetch_asset("/assets/missing.png")
    assert caught.value.status == 404 and caught.value.message_key == "error.not_found"
    with pytest.raises(Rejected):
        await portal.fetch_asset("https://elsewhere.example/logo.png")


# -- transport failures -----------------------------------------------------------


async def test_connection_refused_is_offline() -> None:
    portal = PortalApi.remote("http://127.0.0.1:9", timeout=2.0)
    portal.token = "secret-token-value"
    try:
        with pytest.raises(Offline) as caught:
            await portal.sync_page(None)
        assert caught.value.message_key == "error.offline" and caught.value.status is None
        assert "secret-token-value" not in str(caught.value)
        with pytest.raises(Offline):
            await portal.request_code(ALICE)
    finally:
        await portal.aclose()


async def test_timeout_is_offline() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(Offline):
        await mock_api(handler).me()


async def test_503_is_server_error() -> None:
    portal = mock_api(lambda request: httpx.Response(503, text="<html>Down</html>"))
    with pytest.raises(ServerError) as caught:
        await portal.sync_page(None)
    assert caught.value.status == 503 and caught.value.message_key == "error.server"


async def test_html_instead_of_json_is_server_error() -> None:
    # What a captive portal (hotel wifi) answers: 200 with a login page.
    portal = mock_api(lambda request: httpx.Response(200, text="<html>Log in</html>"))
    with pytest.raises(ServerError):
        await portal.me()


async def test_malformed_sync_page_is_server_error() -> None:
    portal = mock_api(lambda request: httpx.Response(200, json={"changes": []}))
    with pytest.raises(ServerError):
        await portal.sync_page(None)


async def test_crash_inside_embedded_backend_is_server_error() -> None:
    broken = FastAPI()

    @broken.get("/me")
    def me() -> dict:
        raise RuntimeError("boom")

    portal = PortalApi.embedded(broken)
    portal.token = "t"
    with pytest.raises(ServerError) as caught:
        await portal.me()
    assert caught.value.status == 500
    await portal.aclose()


def test_token_is_not_in_reprs() -> None:
    signed = SignedIn(token="secret-token-value", client_id=1, expires_at="2026-12-01")
    assert "secret-token-value" not in repr(signed)
    portal = PortalApi(httpx.AsyncClient(base_url="http://x"), token="secret-token-value")
    assert "secret-token-value" not in repr(portal)
