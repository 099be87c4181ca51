"""One-time codes: sending, verifying, lifetimes, limits, no enumeration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.core.security import keyed_hash
from backend.models import LoginCode, RateEvent
from backend.services import ratelimit
from backend.services.messaging import Message
from tests import factories
from tests.backend.conftest import Seed

REQUEST = "/auth/code/request"
VERIFY = "/auth/code/verify"
ALICE = "alice@example.com"


async def test_known_unknown_disabled_and_portal_off_get_identical_answers(
    http, db: Session, seed: Seed, outbox
) -> None:
    bu = db.get(factories.BusinessUnit, seed.bu_id)
    factories.client(
        db, bu, name="Carol", email="carol@example.com", phone="0700000003", portal_access=False
    )
    closed = factories.business_unit(db, name="Closed Ltd", portal_enabled=False)
    factories.client(db, closed, name="Dave", email="dave@example.com", phone="0700000004")
    db.commit()

    answers = []
    for identifier in [
        ALICE,
        "nobody@example.com",
        "carol@example.com",
        "dave@example.com",
        "06 12 34 56 78",
        "0799999999",
        "0700000003",
        "0700000004",
    ]:
        r = await http.post(REQUEST, json={"identifier": identifier})
        assert r.status_code == 202, identifier
        answers.append(r.content)
    assert len(set(answers)) == 1
    assert b"on its way" in answers[0]
    # Only the active client on an open business unit got anything.
    assert sorted(m.recipient for m in outbox()) == ["+33612345678", ALICE]


async def test_phone_formats_are_one_identifier(http, seed: Seed, last_code) -> None:
    r = await http.post(REQUEST, json={"identifier": "06 12 34 56 78"})
    assert r.status_code == 202
    code = last_code("+33612345678")
    r = await http.post(VERIFY, json={"identifier": "+33 6 12 34 56 78", "code": code})
    assert r.status_code == 200, r.text
    assert r.json()["client_id"] == seed.client_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"identifier": "hello"}, "identifier"),
        ({"identifier": "12"}, "identifier"),
        ({"identifier": "x" * 300 + "@example.com"}, "identifier"),
        ({"identifier": "not an email @ all"}, "identifier"),
        ({}, "identifier"),
        ({"identifier": ALICE, "admin": True}, "admin"),
    ],
)
async def test_malformed_request_is_422_naming_the_field(
    http, seed: Seed, body: dict, field: str
) -> None:
    r = await http.post(REQUEST, json=body)
    assert r.status_code == 422
    assert any(err["loc"][-1] == field for err in r.json()["detail"]), r.json()


@pytest.mark.parametrize("code", ["12ab56", "12345", "1234567", "", "１２３４５６"])
async def test_malformed_code_is_422_naming_the_field(http, seed: Seed, code: str) -> None:
    r = await http.post(VERIFY, json={"identifier": ALICE, "code": code})
    assert r.status_code == 422
    assert any(err["loc"][-1] == "code" for err in r.json()["detail"])


async def test_non_json_body_is_422_not_500(http, seed: Seed) -> None:
    r = await http.post(REQUEST, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


async def test_code_is_six_digits_stored_only_as_hmac(
    http, seed: Seed, settings: Settings, fresh, last_code, clock
) -> None:
    await http.post(REQUEST, json={"identifier": "  Alice@Example.COM "})
    code = last_code(ALICE)
    assert len(code) == 6 and code.isdigit()
    with fresh() as s:
        row = s.scalars(select(LoginCode)).one()
        assert row.identifier == f"email:{ALICE}"
        assert row.code_hmac == keyed_hash(b"test-secret-key", "otp", f"email:{ALICE}", code)
        assert code not in (row.code_hmac, row.identifier)
        assert row.expires_at == clock.now + timedelta(seconds=settings.otp_ttl_seconds)


async def test_message_goes_out_in_the_clients_language(
    http, db: Session, seed: Seed, outbox
) -> None:
    bu = db.get(factories.BusinessUnit, seed.bu_id)
    factories.client(
        db, bu, name="Emma", email="emma@example.com", phone="0700000005", preferred_language="en"
    )
    db.commit()
    await http.post(REQUEST, json={"identifier": ALICE})
    await http.post(REQUEST, json={"identifier": "emma@example.com"})
    await http.post(REQUEST, json={"identifier": "0700000005"})
    fr, en, sms = outbox()
    assert (fr.channel, fr.business_unit_id) == ("email", seed.bu_id)
    assert "Votre code de connexion" in fr.body and "Test Heating" in fr.subject
    assert "Your sign-in code" in en.body and "10 minutes" in en.body
    assert (sms.channel, sms.recipient) == ("sms", "+33700000005")


async def test_verify_opens_a_session(http, seed: Seed, last_code, settings, clock) -> None:
    await http.post(REQUEST, json={"identifier": ALICE})
    r = await http.post(VERIFY, json={"identifier": ALICE, "code": last_code(ALICE)})
    assert r.status_code == 200
    body = r.json()
    assert body["client_id"] == seed.client_id
    assert len(body["token"]) >= 43  # 256 bits, URL-safe base64
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert expires == clock.now + timedelta(seconds=settings.session_absolute_seconds)
    me = await http.get("/auth/session", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["method"] == "code"


async def test_code_accepts_spaces_typed_by_people(http, seed: Seed, last_code) -> None:
    await http.post(REQUEST, json={"identifier": ALICE})
    code = last_code(ALICE)
    r = await http.post(VERIFY, json={"identifier": ALICE, "code": f"{code[:3]} {code[3:]}"})
    assert r.status_code == 200


async def test_code_is_single_use(http, seed: Seed, last_code) -> None:
    await http.post(REQUEST, json={"identifier": ALICE})
    body = {"identifier": ALICE, "code": last_code(ALICE)}
    assert (await http.post(VERIFY, json=body)).status_code == 200
    again = await http.post(VERIFY, json=body)
    assert again.status_code == 401
    assert "request a new code" in again.json()["detail"]


async def test_code_lives_ten_minutes(http, seed: Seed, last_code, clock) -> None:
    await http.post(REQUEST, json={"identifier": ALICE})
    body = {"identifier": ALICE, "code": last_code(ALICE)}
    clock.advance(seconds=599)
    assert (await http.post(VERIFY, json=body)).status_code == 200

    clock.advance(seconds=61)
    await http.post(REQUEST, json={"identifier": ALICE})
    body = {"identifier": ALICE, "code": last_code(ALICE)}
    clock.advance(seconds=600)
    r = await http.post(VERIFY, json=body)
    assert r.status_code == 401
    assert r.json() == {
        "detail": "This code has expired. Please request a new one.",
        "tries_left": 0,
    }


async def test_only_the_newest_code_is_valid(http, seed: Seed, last_code, clock) -> None:
    await http.post(REQUEST, json={"identifier": ALICE})
    old = last_code(ALICE)
    clock.advance(seconds=61)
    await http.post(REQUEST, json={"identifier": ALICE})
    new = last_code(ALICE)
    if old != new:  # one chance in a million that they coincide
        r = await http.post(VERIFY, json={"identifier": ALICE, "code": old})
        assert r.status_code == 401
    assert (await http.post(VERIFY, json={"identifier": ALICE, "code": new})).status_code == 200


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_three_wrong_tries_kill_the_code(http, seed: Seed, last_code) -> None:
    await http.post(REQUEST, json={"identifier": ALICE})
    code = last_code(ALICE)
    bad = {"identifier": ALICE, "code": _wrong(code)}
    first = await http.post(VERIFY, json=bad)
    assert first.status_code == 401
    assert first.json() == {
        "detail": "That code is not right. You have 2 tries left.",
        "tries_left": 2,
    }
    assert (await http.post(VERIFY, json=bad)).json()["tries_left"] == 1
    third = await http.post(VERIFY, json=bad)
    assert third.json() == {
        "detail": "Too many attempts. Please request a new code.",
        "tries_left": 0,
    }
    # Even the right code is refused now.
    right = await http.post(VERIFY, json={"identifier": ALICE, "code": code})
    assert right.status_code == 401
    assert right.json()["detail"] == "Too many attempts. Please request a new code."


async def test_unknown_identifier_verify_answers_like_a_known_one(
    http, db: Session, seed: Seed, clock, last_code
) -> None:
    bu = db.get(factories.BusinessUnit, seed.bu_id)
    factories.client(
        db, bu, name="Carol", email="carol@example.com", phone=None, portal_access=False
    )
    db.commit()
    people = [ALICE, "nobody@example.com", "carol@example.com"]

    async def answers(code: str) -> list[tuple[int, dict]]:
        out = []
        for who in people:
            r = await http.post(VERIFY, json={"identifier": who, "code": code})
            out.append((r.status_code, r.json()))
        return out

    def all_same(results: list[tuple[int, dict]]) -> tuple[int, dict]:
        assert all(r == results[0] for r in results), results
        return results[0]

    # Nothing requested yet.
    assert all_same(await answers("000000"))[0] == 401
    # After a request: wrong, wrong, dead — the same sentences and counters.
    clock.advance(hours=1)
    for who in people:
        await http.post(REQUEST, json={"identifier": who})
    wrong = _wrong(last_code(ALICE))
    seen = []
    for _ in range(3):
        seen.append(all_same(await answers(wrong)))
    assert [b["tries_left"] for _, b in seen] == [2, 1, 0]
    # And the same "expired" answer after ten minutes on a fresh round.
    clock.advance(seconds=61)
    for who in people:
        await http.post(REQUEST, json={"identifier": who})
    clock.advance(seconds=600)
    status, body = all_same(await answers(_wrong(last_code(ALICE))))
    assert status == 401 and "expired" in body["detail"]


async def test_sends_are_at_least_a_minute_apart_even_for_unknown_identifiers(
    http, seed: Seed, clock, outbox
) -> None:
    for who in [ALICE, "nobody@example.com"]:
        assert (await http.post(REQUEST, json={"identifier": who})).status_code == 202
        clock.advance(seconds=20)
        r = await http.post(REQUEST, json={"identifier": who})
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "40"
        assert r.json()["retry_after"] == 40
        assert r.json()["detail"]
        clock.advance(seconds=40)
        assert (await http.post(REQUEST, json={"identifier": who})).status_code == 202
    assert len(outbox(ALICE)) == 2


async def test_at_most_five_sends_an_hour_per_identifier(
    http, seed: Seed, clock, settings: Settings
) -> None:
    assert settings.otp_send_max_per_hour == 5
    for who in [ALICE, "nobody@example.com", "06 12 34 56 78"]:
        start = clock.now
        for _ in range(5):
            assert (await http.post(REQUEST, json={"identifier": who})).status_code == 202
            clock.advance(seconds=61)
        r = await http.post(REQUEST, json={"identifier": who})
        assert r.status_code == 429
        # Allowed again when the first of the five leaves the hour.
        expected = int((start + timedelta(hours=1) - clock.now).total_seconds())
        assert int(r.headers["Retry-After"]) == expected
        clock.advance(seconds=expected)
        assert (await http.post(REQUEST, json={"identifier": who})).status_code == 202
        clock.advance(hours=2)


async def test_send_requests_are_limited_per_ip(
    http, seed: Seed, settings: Settings, from_ip
) -> None:
    settings.send_requests_per_ip_per_hour = 3
    for i in range(3):
        r = await http.post(REQUEST, json={"identifier": f"user{i}@example.com"})
        assert r.status_code == 202
    r = await http.post(REQUEST, json={"identifier": ALICE})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) == 3600
    async with from_ip("198.51.100.9") as other:
        assert (await other.post(REQUEST, json={"identifier": ALICE})).status_code == 202


async def test_failures_are_limited_per_identifier(
    http, seed: Seed, settings: Settings, clock, last_code, from_ip
) -> None:
    settings.verify_failures_per_identifier_per_hour = 4
    await http.post(REQUEST, json={"identifier": ALICE})
    for _ in range(3):
        await http.post(VERIFY, json={"identifier": ALICE, "code": _wrong(last_code(ALICE))})
    clock.advance(seconds=61)
    await http.post(REQUEST, json={"identifier": ALICE})
    code = last_code(ALICE)
    await http.post(VERIFY, json={"identifier": ALICE, "code": _wrong(code)})
    # Four failures this hour: even the right code, from another address, waits.
    async with from_ip("198.51.100.9") as other:
        r = await other.post(VERIFY, json={"identifier": ALICE, "code": code})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) == 3600 - 61
    assert r.json()["detail"] == "Too many failed attempts. Please try again later."


async def test_failures_are_limited_per_ip(http, seed: Seed, settings: Settings, from_ip) -> None:
    settings.verify_failures_per_ip_per_hour = 3
    for i in range(3):
        r = await http.post(VERIFY, json={"identifier": f"u{i}@example.com", "code": "123456"})
        assert r.status_code == 401
    r = await http.post(VERIFY, json={"identifier": "u9@example.com", "code": "123456"})
    assert r.status_code == 429 and r.headers["Retry-After"] == "3600"
    async with from_ip("198.51.100.9") as other:
        r = await other.post(VERIFY, json={"identifier": "u9@example.com", "code": "123456"})
    assert r.status_code == 401


async def test_a_failing_provider_is_not_a_500(api, http, seed: Seed, outbox) -> None:
    class Broken:
        def send(self, db, message: Message, now) -> None:
            raise ConnectionError("SMTP down")

    api.state.sender = Broken()
    r = await http.post(REQUEST, json={"identifier": ALICE})
    assert r.status_code == 202
    (row,) = outbox(ALICE)
    assert (row.status, row.reason, row.body) == ("not_sent", "delivery failed", "")


# --- the sliding window itself ---------------------------------------------------------


def test_sliding_window_counts_and_waits(db: Session) -> None:
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    key = "send:id:email:x@example.com"
    assert ratelimit.retry_after(db, key, t0, 2, 3600) is None
    ratelimit.hit(db, key, t0)
    assert ratelimit.retry_after(db, key, t0, 2, 3600) is None
    ratelimit.hit(db, key, t0 + timedelta(minutes=10))
    now = t0 + timedelta(minutes=30)
    # The first event leaves the window at t0 + 1 h.
    assert ratelimit.retry_after(db, key, now, 2, 3600) == 1800
    assert ratelimit.retry_after(db, key, t0 + timedelta(hours=1), 2, 3600) is None
    # Other keys are independent; limit=1 is a minimum interval.
    assert ratelimit.retry_after(db, "other", now, 1, 60) is None
    assert ratelimit.retry_after(db, key, t0 + timedelta(minutes=10, seconds=15), 1, 60) == 45
    db.commit()


def test_old_events_are_pruned(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    # No random table-wide prune during the first part of the test.
    monkeypatch.setattr(ratelimit, "_GLOBAL_PRUNE_PROBABILITY", 0.0)
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    ratelimit.hit(db, "a", t0)
    ratelimit.hit(db, "b", t0)
    # Hitting a key prunes that key's stale rows...
    ratelimit.hit(db, "a", t0 + timedelta(hours=2))
    assert sorted(db.scalars(select(RateEvent.key))) == ["a", "b"]
    # ...and a global prune drops the rest.
    assert ratelimit.prune(db, t0 + timedelta(hours=2)) == 1
    assert list(db.scalars(select(RateEvent.key))) == ["a"]
    db.commit()


async def test_a_code_by_sms_costs_a_fifth_of_a_credit(
    http, db: Session, seed: Seed, fresh, outbox
):
    from backend.models import BusinessUnit

    db.get(BusinessUnit, seed.bu_id).sms_centicredits = 30
    db.commit()
    r = await http.post(REQUEST, json={"identifier": "06 12 34 56 78"})
    assert r.status_code == 202
    assert [m.status for m in outbox(seed.phone)] == ["sent"]
    with fresh() as s:
        assert s.get(BusinessUnit, seed.bu_id).sms_centicredits == 10


async def test_a_code_by_email_is_free(http, db: Session, seed: Seed, fresh, outbox):
    from backend.models import BusinessUnit

    db.get(BusinessUnit, seed.bu_id).sms_centicredits = 0
    db.commit()
    r = await http.post(REQUEST, json={"identifier": seed.email})
    assert r.status_code == 202
    assert [m.status for m in outbox(seed.email)] == ["sent"]


async def test_sms_code_without_credit_is_not_sent_and_staff_see_why(
    http, db: Session, seed: Seed, fresh, outbox
):
    from backend.models import BusinessUnit

    db.get(BusinessUnit, seed.bu_id).sms_centicredits = 19
    db.commit()
    generic = (await http.post(REQUEST, json={"identifier": "0799999999"})).content
    r = await http.post(REQUEST, json={"identifier": "06 12 34 56 78"})
    assert r.status_code == 202 and r.content == generic
    (row,) = outbox(seed.phone)
    assert (row.status, row.reason, row.body) == ("not_sent", "no_credit", "")
    with fresh() as s:
        assert s.get(BusinessUnit, seed.bu_id).sms_centicredits == 19
        assert s.scalars(select(LoginCode)).all() == []
