"""SMS temporary links and staff-issued permanent links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.core.security import keyed_hash
from backend.models import BusinessUnit, Client, LoginLink
from backend.services import auth
from tests import factories
from tests.backend.conftest import Seed

REQUEST = "/auth/link/request"
PHONE = "+33612345678"
GONE = {"detail": "This link has expired or was already used. Ask for a new one."}


def _token_of(body: str) -> str:
    found = re.search(r"http://127\.0\.0\.1:8000/login/link#([A-Za-z0-9_-]+)", body)
    assert found, body
    return found.group(1)


@pytest.fixture
def sms_token(outbox):
    """``sms_token()``: the token of the newest SMS link sent to Alice."""

    def read() -> str:
        return _token_of([m for m in outbox(PHONE) if m.status == "sent"][-1].body)

    return read


async def test_sms_link_is_sent_hashed_and_paid_for(
    http, seed: Seed, settings: Settings, fresh, sms_token, clock
) -> None:
    r = await http.post(REQUEST, json={"phone": "06 12 34 56 78"})
    assert r.status_code == 202
    token = sms_token()
    assert len(token) >= 43  # 256 bits
    with fresh() as s:
        link = s.scalars(select(LoginLink)).one()
        assert link.kind == "sms"
        assert link.token_hash == keyed_hash(b"test-secret-key", "link", token)
        assert link.expires_at == clock.now + timedelta(seconds=settings.sms_link_ttl_seconds)
        assert s.get(BusinessUnit, seed.bu_id).sms_centicredits == 1000 - 20


async def test_link_requests_all_get_the_same_answer(http, db: Session, seed: Seed) -> None:
    poor = factories.business_unit(db, name="Poor Ltd", sms_centicredits=0)
    factories.client(db, poor, name="Paul", email=None, phone="0700000006")
    no_sms = factories.business_unit(db, name="No SMS", sms_links_allowed=False)
    factories.client(db, no_sms, name="Nina", email=None, phone="0700000007")
    db.commit()
    answers = set()
    for phone in ["06 12 34 56 78", "0799999999", "0700000006", "0700000007"]:
        r = await http.post(REQUEST, json={"phone": phone})
        assert r.status_code == 202
        answers.add(r.content)
    assert len(answers) == 1


async def test_without_credit_nothing_is_sent_and_staff_see_why(
    http, db: Session, seed: Seed, fresh, outbox
) -> None:
    bu = db.get(BusinessUnit, seed.bu_id)
    bu.sms_centicredits = 19
    db.commit()
    r = await http.post(REQUEST, json={"phone": PHONE})
    assert r.status_code == 202
    (row,) = outbox(PHONE)
    assert (row.status, row.reason, row.body) == ("not_sent", "no_credit", "")
    assert row.business_unit_id == seed.bu_id
    with fresh() as s:
        assert s.get(BusinessUnit, seed.bu_id).sms_centicredits == 19
        assert s.scalars(select(LoginLink)).all() == []


async def test_the_last_fifth_of_a_credit_pays_for_one_sms(
    http, db: Session, seed: Seed, fresh, outbox
) -> None:
    bu = db.get(BusinessUnit, seed.bu_id)
    bu.sms_centicredits = 20
    db.commit()
    await http.post(REQUEST, json={"phone": PHONE})
    assert [m.status for m in outbox(PHONE)] == ["sent"]
    with fresh() as s:
        assert s.get(BusinessUnit, seed.bu_id).sms_centicredits == 0


async def test_business_unit_without_sms_links_sends_nothing(
    http, db: Session, seed: Seed, fresh, outbox
) -> None:
    db.get(BusinessUnit, seed.bu_id).sms_links_allowed = False
    db.commit()
    assert (await http.post(REQUEST, json={"phone": PHONE})).status_code == 202
    assert outbox() == []
    with fresh() as s:
        assert s.get(BusinessUnit, seed.bu_id).sms_centicredits == 1000


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "alice@example.com"}, "phone"),
        ({"phone": "12"}, "phone"),
        ({"phone": "0" * 41}, "phone"),
        ({}, "phone"),
        ({"phone": PHONE, "x": 1}, "x"),
    ],
)
async def test_malformed_phone_is_422_naming_the_field(http, body: dict, field: str) -> None:
    r = await http.post(REQUEST, json=body)
    assert r.status_code == 422
    assert any(err["loc"][-1] == field for err in r.json()["detail"])


async def test_opening_does_not_consume_confirming_does(http, seed: Seed, sms_token) -> None:
    await http.post(REQUEST, json={"phone": PHONE})
    token = sms_token()
    for _ in range(3):  # mail/SMS scanners, link previews, the user
        r = await http.get(f"/auth/link/{token}")
        assert r.status_code == 200
        assert r.json() == {"valid": True, "kind": "sms", "business_unit": "Test Heating"}
    r = await http.post(f"/auth/link/{token}/confirm")
    assert r.status_code == 200
    session = r.json()
    assert session["client_id"] == seed.client_id
    me = await http.get("/auth/session", headers={"Authorization": f"Bearer {session['token']}"})
    assert me.json()["method"] == "sms_link"
    # Single use.
    r = await http.get(f"/auth/link/{token}")
    assert (r.status_code, r.json()) == (404, GONE)
    r = await http.post(f"/auth/link/{token}/confirm")
    assert (r.status_code, r.json()) == (404, GONE)


async def test_sms_link_expires_after_fifteen_minutes(http, seed: Seed, sms_token, clock) -> None:
    await http.post(REQUEST, json={"phone": PHONE})
    token = sms_token()
    clock.advance(seconds=899)
    assert (await http.get(f"/auth/link/{token}")).status_code == 200
    clock.advance(seconds=1)
    assert (await http.get(f"/auth/link/{token}")).status_code == 404
    assert (await http.post(f"/auth/link/{token}/confirm")).status_code == 404


async def test_a_new_sms_link_replaces_the_previous_one(http, seed: Seed, sms_token, clock) -> None:
    await http.post(REQUEST, json={"phone": PHONE})
    first = sms_token()
    clock.advance(seconds=61)
    await http.post(REQUEST, json={"phone": PHONE})
    second = sms_token()
    assert (await http.post(f"/auth/link/{first}/confirm")).status_code == 404
    assert (await http.post(f"/auth/link/{second}/confirm")).status_code == 200


async def test_link_and_code_share_the_send_limits(http, seed: Seed) -> None:
    assert (await http.post(REQUEST, json={"phone": PHONE})).status_code == 202
    r = await http.post("/auth/code/request", json={"identifier": "06 12 34 56 78"})
    assert r.status_code == 429 and "Retry-After" in r.headers
    r = await http.post(REQUEST, json={"phone": "0799999999"})
    assert r.status_code == 202
    r = await http.post(REQUEST, json={"phone": "0799999999"})
    assert r.status_code == 429


async def test_link_dies_when_access_is_withdrawn(http, db: Session, seed: Seed, sms_token) -> None:
    await http.post(REQUEST, json={"phone": PHONE})
    token = sms_token()
    db.get(Client, seed.client_id).portal_access = False
    db.commit()
    assert (await http.get(f"/auth/link/{token}")).status_code == 404
    assert (await http.post(f"/auth/link/{token}/confirm")).status_code == 404


@pytest.mark.parametrize("token", ["nope", "x" * 43, "%00", "a/b"])
async def test_garbage_tokens_are_404(http, seed: Seed, token: str) -> None:
    r = await http.get(f"/auth/link/{token}")
    assert r.status_code == 404
    assert (await http.post(f"/auth/link/{token}/confirm")).status_code == 404


async def test_oversized_token_is_422(http) -> None:
    assert (await http.get("/auth/link/" + "x" * 201)).status_code == 422


# --- permanent links ------------------------------------------------------------------


async def test_permanent_link_is_exchanged_for_a_new_session_each_time(
    http, db: Session, seed: Seed, settings: Settings, clock
) -> None:
    token = auth.issue_permanent_link(db, settings, seed.client_id, clock.now, label="Tablet")
    db.commit()
    assert len(token) >= 22  # at least 128 bits
    row = db.scalars(select(LoginLink)).one()
    assert row.token_hash == keyed_hash(b"test-secret-key", "link", token)
    assert (row.kind, row.label, row.expires_at) == ("permanent", "Tablet", None)
    assert auth.link_url(settings, token) == f"http://127.0.0.1:8000/login/link#{token}"
    db.commit()  # end the read transaction: SQLite writers would wait for it

    r = await http.get(f"/auth/link/{token}")
    assert r.json() == {"valid": True, "kind": "permanent", "business_unit": "Test Heating"}
    sessions = []
    for _ in range(2):
        clock.advance(days=30)
        r = await http.post(f"/auth/link/{token}/confirm")
        assert r.status_code == 200
        sessions.append(r.json()["token"])
        me = await http.get("/auth/session", headers={"Authorization": f"Bearer {sessions[-1]}"})
        assert me.status_code == 200 and me.json()["method"] == "permanent_link"
    assert sessions[0] != sessions[1] and token not in sessions


async def test_revoked_permanent_link_is_404(
    http, db: Session, seed: Seed, settings: Settings, clock
) -> None:
    token = auth.issue_permanent_link(db, settings, seed.client_id, clock.now)
    db.commit()
    link_id = db.scalars(select(LoginLink.id)).one()
    assert auth.revoke_permanent_link(db, link_id, clock.now) is True
    assert auth.revoke_permanent_link(db, link_id, clock.now) is False
    assert auth.revoke_permanent_link(db, 9999, clock.now) is False
    db.commit()
    r = await http.get(f"/auth/link/{token}")
    assert (r.status_code, r.json()) == (404, GONE)
    r = await http.post(f"/auth/link/{token}/confirm")
    assert (r.status_code, r.json()) == (404, GONE)


async def test_list_links_never_shows_a_token(
    http, db: Session, seed: Seed, settings: Settings, clock, sms_token
) -> None:
    await http.post(REQUEST, json={"phone": PHONE})
    sms = sms_token()
    clock.advance(minutes=1)
    perm = auth.issue_permanent_link(db, settings, seed.client_id, clock.now, label="Office")
    db.commit()
    links = auth.list_links(db, seed.client_id)
    assert [(link.kind, link.label) for link in links] == [("permanent", "Office"), ("sms", "")]
    dumped = repr([link.model_dump() for link in links])
    assert sms not in dumped and perm not in dumped
    assert not any("token" in name for name in auth.LinkInfo.model_fields)
    assert auth.list_links(db, 9999) == []
    db.commit()


def test_permanent_links_need_the_business_unit_to_allow_them(
    db: Session, seed: Seed, settings: Settings, clock
) -> None:
    db.get(BusinessUnit, seed.bu_id).permanent_links_allowed = False
    db.flush()
    with pytest.raises(auth.PermanentLinksDisabled, match="turned off"):
        auth.issue_permanent_link(db, settings, seed.client_id, clock.now)
    with pytest.raises(LookupError):
        auth.issue_permanent_link(db, settings, 9999, clock.now)
    db.get(BusinessUnit, seed.bu_id).permanent_links_allowed = True
    with pytest.raises(ValueError, match="100 characters"):
        auth.issue_permanent_link(db, settings, seed.client_id, clock.now, label="x" * 101)
    db.rollback()


async def test_disallowing_permanent_links_disables_issued_ones(
    http, db: Session, seed: Seed, settings: Settings, clock
) -> None:
    token = auth.issue_permanent_link(db, settings, seed.client_id, clock.now)
    db.commit()
    db.get(BusinessUnit, seed.bu_id).permanent_links_allowed = False
    db.commit()
    assert (await http.post(f"/auth/link/{token}/confirm")).status_code == 404
