"""Sessions: info, logout, idle and absolute lifetimes, loss of access, no token in clear."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.core.security import keyed_hash
from backend.models import BusinessUnit, Client
from backend.services import auth
from backend.services.messaging import Message
from backend.services.sessions import revoke_client_sessions
from tests.backend.conftest import Seed

ALICE = "alice@example.com"
Login = Callable[[], Awaitable[str]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def login(http, seed: Seed, last_code, clock) -> Login:
    """``await login()``: sign Alice in with a code and return the session token."""

    async def sign_in() -> str:
        r = await http.post("/auth/code/request", json={"identifier": ALICE})
        assert r.status_code == 202, r.text
        r = await http.post(
            "/auth/code/verify", json={"identifier": ALICE, "code": last_code(ALICE)}
        )
        assert r.status_code == 200, r.text
        clock.advance(seconds=61)  # the next code may be sent right away
        return r.json()["token"]

    return sign_in


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_session_info(http, login: Login, seed: Seed, settings: Settings, clock) -> None:
    token = await login()  # the clock moved 61 s after signing in
    r = await http.get("/auth/session", headers=bearer(token))
    assert r.status_code == 200
    info = r.json()
    assert info["client_id"] == seed.client_id and info["method"] == "code"
    signed_in = clock.now - timedelta(seconds=61)
    assert _at(info["expires_at"]) == signed_in + timedelta(
        seconds=settings.session_absolute_seconds
    )
    # Using the session (more than a minute later) pushes the idle deadline.
    assert _at(info["idle_expires_at"]) == clock.now + timedelta(
        seconds=settings.session_idle_seconds
    )


@pytest.mark.parametrize("headers", [{}, bearer("garbage"), {"Authorization": "Basic eDp5"}])
async def test_no_or_bad_token_is_401(http, seed: Seed, headers: dict) -> None:
    r = await http.get("/auth/session", headers=headers)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert r.json()["detail"]


async def test_logout_revokes_the_session(http, login: Login) -> None:
    token, other = await login(), await login()
    r = await http.post("/auth/logout", headers=bearer(token))
    assert r.status_code == 204 and r.content == b""
    assert (await http.get("/auth/session", headers=bearer(token))).status_code == 401
    assert (await http.post("/auth/logout", headers=bearer(token))).status_code == 401
    # Other sessions (another device) live on.
    assert (await http.get("/auth/session", headers=bearer(other))).status_code == 200


async def test_idle_session_dies(http, login: Login, settings: Settings, clock) -> None:
    token = await login()
    clock.advance(seconds=settings.session_idle_seconds - 61 - 1)
    assert (await http.get("/auth/session", headers=bearer(token))).status_code == 200
    clock.advance(seconds=settings.session_idle_seconds)
    assert (await http.get("/auth/session", headers=bearer(token))).status_code == 401


async def test_used_session_still_dies_at_its_absolute_lifetime(
    http, login: Login, settings: Settings, clock
) -> None:
    token = await login()
    clock.advance(seconds=-61)  # back to the moment of sign-in
    days = settings.session_absolute_seconds // 86400
    for day in range(1, days):
        clock.advance(days=1)
        r = await http.get("/auth/session", headers=bearer(token))
        assert r.status_code == 200, f"day {day}"
    clock.advance(days=1)
    r = await http.get("/auth/session", headers=bearer(token))
    assert r.status_code == 401
    assert "sign in again" in r.json()["detail"]


async def test_revoked_sessions_are_401(http, login: Login, db: Session, seed: Seed, clock) -> None:
    token = await login()
    assert revoke_client_sessions(db, [seed.client_id], clock.now) == 1
    db.commit()
    assert (await http.get("/auth/session", headers=bearer(token))).status_code == 401


async def test_client_losing_access_loses_every_session(
    http, login: Login, db: Session, seed: Seed
) -> None:
    tokens = [await login(), await login()]
    db.get(Client, seed.client_id).portal_access = False
    db.commit()
    for token in tokens:
        assert (await http.get("/auth/session", headers=bearer(token))).status_code == 401


async def test_business_unit_closing_the_portal_ends_sessions(
    http, login: Login, db: Session, seed: Seed
) -> None:
    token = await login()
    db.get(BusinessUnit, seed.bu_id).portal_enabled = False
    db.commit()
    assert (await http.get("/auth/session", headers=bearer(token))).status_code == 401


async def test_disabled_client_gets_the_generic_answer_and_no_message(
    http, db: Session, seed: Seed, outbox, clock
) -> None:
    unknown = await http.post("/auth/code/request", json={"identifier": "who@example.com"})
    db.get(Client, seed.client_id).portal_access = False
    db.commit()
    for identifier in [ALICE, "06 12 34 56 78"]:
        r = await http.post("/auth/code/request", json={"identifier": identifier})
        assert (r.status_code, r.content) == (202, unknown.content)
    clock.advance(seconds=61)
    r = await http.post("/auth/link/request", json={"phone": "0612345678"})
    assert (r.status_code, r.content) == (202, unknown.content)
    assert outbox() == []


async def test_code_for_a_client_disabled_after_sending_is_refused(
    http, db: Session, seed: Seed, last_code
) -> None:
    await http.post("/auth/code/request", json={"identifier": ALICE})
    code = last_code(ALICE)
    db.get(Client, seed.client_id).portal_access = False
    db.commit()
    r = await http.post("/auth/code/verify", json={"identifier": ALICE, "code": code})
    assert r.status_code == 401


class QuietSender:
    """Delivers without writing message bodies anywhere (like a production provider)."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, db: Session, message: Message, now: datetime) -> None:
        self.sent.append(message)


def _database_bytes(path: Path) -> bytes:
    files = [path, path.with_name(path.name + "-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


async def test_tokens_are_never_stored_in_clear(
    api, http, db: Session, seed: Seed, settings: Settings, clock, tmp_path: Path
) -> None:
    sender = QuietSender()
    api.state.sender = sender
    secrets: list[str] = []

    # A session from a code.
    await http.post("/auth/code/request", json={"identifier": ALICE})
    code = re.findall(r"\b\d{6}\b", sender.sent[-1].body)[-1]
    r = await http.post("/auth/code/verify", json={"identifier": ALICE, "code": code})
    secrets.append(r.json()["token"])
    # An SMS link and the session it gives.
    clock.advance(seconds=61)
    await http.post("/auth/link/request", json={"phone": "0612345678"})
    sms_link = sender.sent[-1].body.rsplit("#", 1)[1]
    r = await http.post(f"/auth/link/{sms_link}/confirm")
    secrets += [sms_link, r.json()["token"]]
    # A permanent link and the session it gives.
    permanent = auth.issue_permanent_link(db, settings, seed.client_id, clock.now)
    db.commit()
    r = await http.post(f"/auth/link/{permanent}/confirm")
    secrets += [permanent, r.json()["token"]]
    for session_token in (secrets[0], secrets[2], secrets[4]):
        assert (await http.get("/auth/session", headers=bearer(session_token))).status_code == 200

    path = tmp_path / "portal.db"
    before = _database_bytes(path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after = _database_bytes(path)
    for blob in (before, after):
        for secret in secrets:
            assert secret.encode() not in blob
    # Sanity: we are reading the right file, and what it holds is the digest.
    session_digest = keyed_hash(b"test-secret-key", "session", secrets[0])
    assert session_digest.encode() in after
