"""Staff accounts: roles per business unit on every staff route, sign-in rules, API keys,
audit entries, bulk portal access and client search (real SQLite, real HTTP in-process)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from backend.api.staff_access import require_staff, route_policy, staff_routes, unresolvable_params
from backend.core.db import begin_write
from backend.models import AuthSession, Client
from backend.services import staff_auth
from backend.services.auth import issue_permanent_link
from backend.services.feed import next_revisions
from backend.staff_models import ApiKey, AuditEntry, StaffMembership, StaffUser
from tests import factories

PASSWORD = "a long staff passphrase"
OPEN = {"/staff/auth/login", "/staff/auth/set-password"}


@dataclass
class Unit:
    bu: int
    client: int
    activity: int
    type: int
    form: int
    link: int


@dataclass
class World:
    a: Unit
    b: Unit
    tokens: dict[str, str] = field(default_factory=dict)

    def ids(self, unit: Unit) -> dict[str, int]:
        return {
            "bu_id": unit.bu,
            "client_id": unit.client,
            "activity_id": unit.activity,
            "type_id": unit.type,
            "form_id": unit.form,
            "link_id": unit.link,
        }


def _unit(db, settings, clock, name: str, email: str) -> Unit:
    bu = factories.business_unit(db, name=name)
    c = factories.client(db, bu, name=f"Client {name}", email=email, phone=None)
    t = factories.activity_type(db, bu)
    f = factories.form(db, bu)
    a = factories.activity(db, c, t, clock.now + timedelta(days=2))
    db.flush()
    issue_permanent_link(db, settings, c.id, clock.now)
    from backend.models import LoginLink

    link = db.scalars(select(LoginLink.id).where(LoginLink.client_id == c.id)).first()
    return Unit(bu.id, c.id, a.id, t.id, f.id, link)


def _staff(db, email: str, roles: dict[int, str]) -> StaffUser:
    user = StaffUser(
        email=email, name=email.split("@")[0], password_hash=staff_auth.hash_password(PASSWORD)
    )
    user.memberships = [StaffMembership(business_unit_id=b, role=r) for b, r in roles.items()]
    db.add(user)
    return user


async def _login(http: httpx.AsyncClient, email: str, **extra: str) -> httpx.Response:
    return await http.post(
        "/staff/auth/login", json={"email": email, "password": PASSWORD, **extra}
    )


@pytest.fixture
async def world(api: FastAPI, db, settings, clock, http: httpx.AsyncClient) -> World:
    begin_write(db)
    w = World(
        _unit(db, settings, clock, "Alpha", "a@alpha.example"),
        _unit(db, settings, clock, "Beta", "b@beta.example"),
    )
    for role in ("viewer", "planner", "admin"):
        _staff(db, f"{role}@alpha.example", {w.a.bu: role})
    db.commit()
    for role in ("viewer", "planner", "admin"):
        r = await _login(http, f"{role}@alpha.example")
        assert r.status_code == 200, r.text
        w.tokens[role] = r.json()["token"]
    return w


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _guarded(api: FastAPI) -> list:
    return [r for r in staff_routes(api.routes) if r.path not in OPEN]


def test_every_staff_route_is_guarded_and_places_its_ids(api: FastAPI) -> None:
    routes = _guarded(api)
    assert len(routes) > 40
    for route in routes:
        assert require_staff in [d.dependency for d in route.dependencies], route.path
        assert unresolvable_params(route) == [], route.path
        role, scope = route_policy(route)
        if scope == "path":
            assert "{" in route.path, (
                f"{route.path} names no business unit: declare needs(scope=...)"
            )


def _path_routes(api: FastAPI) -> list[tuple[str, str]]:
    out = []
    for route in _guarded(api):
        role, scope = route_policy(route)
        if scope != "path":
            continue
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, route.path))
    return out


def _fill(path: str, ids: dict[str, int]) -> str:
    return re.sub(
        r"\{(\w+)\}",
        lambda m: str(ids.get(m.group(1), 999_999)) if m.group(1).endswith("_id") else "x",
        path,
    )


@pytest.mark.parametrize("role", ["viewer", "planner", "admin"])
async def test_each_role_gets_404_for_another_units_ids_on_every_route(
    api: FastAPI, http: httpx.AsyncClient, world: World, role: str
) -> None:
    checked = 0
    for method, path in _path_routes(api):
        url = _fill(path, world.ids(world.b))
        r = await http.request(method, url, headers=_auth(world.tokens[role]), json={})
        assert r.status_code == 404, (role, method, path, r.status_code, r.text)
        checked += 1
    assert checked > 30


async def test_roles_below_the_routes_need_get_403_in_their_own_unit(
    api: FastAPI, http: httpx.AsyncClient, world: World
) -> None:
    seen = 0
    for route in _guarded(api):
        need, scope = route_policy(route)
        if scope != "path":
            continue
        names = set(re.findall(r"\{(\w+)\}", route.path))
        if not names <= set(world.ids(world.a)):
            continue  # an id this world does not hold answers 404 before any role check
        for method in sorted(route.methods - {"HEAD"}):
            url = _fill(route.path, world.ids(world.a))
            for role in ("viewer", "planner"):
                if ["viewer", "planner", "admin"].index(role) >= [
                    "viewer",
                    "planner",
                    "admin",
                ].index(need):
                    continue
                r = await http.request(method, url, headers=_auth(world.tokens[role]), json={})
                assert r.status_code == 403, (role, method, route.path, r.text)
                seen += 1
    assert seen > 15


async def test_no_credentials_or_a_client_token_is_401(
    http: httpx.AsyncClient, world: World
) -> None:
    assert (await http.get(f"/staff/business-units/{world.a.bu}")).status_code == 401
    r = await http.get(f"/staff/business-units/{world.a.bu}", headers=_auth("not-a-staff-token"))
    assert r.status_code == 401


async def test_deprecated_token_is_an_admin_of_every_unit_and_audited(
    http: httpx.AsyncClient, world: World, fresh
) -> None:
    r = await http.patch(
        f"/staff/clients/{world.b.client}",
        json={"name": "Renamed"},
        headers={"X-Staff-Token": "test-staff-token"},
    )
    assert r.status_code == 200
    with fresh() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "client.updated")).one()
        assert entry.actor_kind == "staff_token"
        assert entry.actor_label == "staff-token (deprecated)"
        assert entry.before == {"name": "Client Beta"} and entry.after == {"name": "Renamed"}


# --- sign-in ----------------------------------------------------------------------------


async def test_wrong_password_and_unknown_email_answer_alike(
    http: httpx.AsyncClient, world: World
) -> None:
    known = await http.post(
        "/staff/auth/login", json={"email": "viewer@alpha.example", "password": "nope nope nope"}
    )
    unknown = await http.post(
        "/staff/auth/login", json={"email": "ghost@alpha.example", "password": "nope nope nope"}
    )
    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json() == {"detail": "Wrong email or password."}


async def test_five_failures_lock_the_account_for_15_minutes(
    http: httpx.AsyncClient, world: World, clock
) -> None:
    for _ in range(5):
        r = await http.post(
            "/staff/auth/login",
            json={"email": "planner@alpha.example", "password": "wrong password!"},
        )
        assert r.status_code == 401
    r = await _login(http, "planner@alpha.example")
    assert r.status_code == 429 and 0 < r.json()["retry_after"] <= 900
    clock.advance(minutes=15, seconds=1)
    assert (await _login(http, "planner@alpha.example")).status_code == 200


async def test_unknown_email_is_locked_like_a_known_one(
    http: httpx.AsyncClient, world: World
) -> None:
    for _ in range(5):
        await http.post(
            "/staff/auth/login",
            json={"email": "ghost@alpha.example", "password": "wrong password!"},
        )
    r = await http.post(
        "/staff/auth/login", json={"email": "ghost@alpha.example", "password": "wrong password!"}
    )
    assert r.status_code == 429


async def test_logout_ends_the_session(http: httpx.AsyncClient, world: World) -> None:
    token = world.tokens["viewer"]
    assert (await http.post("/staff/auth/logout", headers=_auth(token))).status_code == 204
    assert (await http.get("/staff/me", headers=_auth(token))).status_code == 401


async def test_idle_session_dies(http: httpx.AsyncClient, world: World, clock, settings) -> None:
    clock.advance(seconds=settings.staff_session_idle_seconds + 1)
    assert (await http.get("/staff/me", headers=_auth(world.tokens["viewer"]))).status_code == 401


async def test_totp_enrolment_sign_in_and_no_replay(
    http: httpx.AsyncClient, world: World, clock
) -> None:
    h = _auth(world.tokens["admin"])
    secret = (await http.post("/staff/me/totp", headers=h)).json()["secret"]
    totp = pyotp.TOTP(secret)
    assert (
        await http.post("/staff/me/totp/confirm", json={"code": "000000"}, headers=h)
    ).status_code == 422
    assert (
        await http.post("/staff/me/totp/confirm", json={"code": totp.at(clock.now)}, headers=h)
    ).status_code == 204
    r = await _login(http, "admin@alpha.example")
    assert r.status_code == 401 and r.json()["code"] == "totp_required"
    clock.advance(seconds=30)
    code = totp.at(clock.now)
    assert (await _login(http, "admin@alpha.example", totp_code=code)).status_code == 200
    replay = await _login(http, "admin@alpha.example", totp_code=code)
    assert replay.status_code == 401 and replay.json()["code"] == "totp_required"


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("short", False),
        ("viewer@alpha.example", False),
        ("password1234", False),
        ("a fine long passphrase", True),
    ],
)
async def test_set_password_rules(
    http: httpx.AsyncClient, world: World, password: str, ok: bool
) -> None:
    h = _auth(world.tokens["admin"])
    r = await http.post(
        "/staff/accounts",
        json={
            "email": "new@alpha.example",
            "name": "New",
            "memberships": [{"business_unit_id": world.a.bu, "role": "viewer"}],
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    token = r.json()["set_password_url"].split("#", 1)[1]
    if password == "viewer@alpha.example":
        password = "new@alpha.example"
    r = await http.post("/staff/auth/set-password", json={"token": token, "password": password})
    if ok:
        assert r.status_code == 204
        assert (
            await http.post("/staff/auth/set-password", json={"token": token, "password": password})
        ).status_code == 404
    else:
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "password"


# --- API keys ---------------------------------------------------------------------------


async def test_api_key_shown_once_hashed_scoped_and_revocable(
    http: httpx.AsyncClient, world: World, fresh
) -> None:
    h = _auth(world.tokens["admin"])
    r = await http.post(
        "/staff/api-keys",
        json={"name": "ERP", "business_unit_ids": [world.a.bu], "role": "planner"},
        headers=h,
    )
    assert r.status_code == 201
    key = r.json()["key"]
    assert key.startswith("spk_")
    listed = (await http.get("/staff/api-keys", headers=h)).json()
    assert all("key" not in k for k in listed) and key not in str(listed)
    with fresh() as s:
        row = s.scalars(select(ApiKey)).one()
        assert key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    k = _auth(key)
    assert (
        await http.patch(f"/staff/clients/{world.a.client}", json={"name": "Via key"}, headers=k)
    ).status_code == 200
    assert (await http.get(f"/staff/clients/{world.b.client}", headers=k)).status_code == 404
    assert (
        await http.patch(f"/staff/business-units/{world.a.bu}", json={"name": "X"}, headers=k)
    ).status_code == 403
    assert (
        await http.post(
            "/staff/api-keys",
            json={"name": "x", "business_unit_ids": [world.b.bu], "role": "admin"},
            headers=h,
        )
    ).status_code == 422
    assert (await http.delete(f"/staff/api-keys/{r.json()['id']}", headers=h)).status_code == 204
    assert (await http.get(f"/staff/clients/{world.a.client}", headers=k)).status_code == 401


# --- audit ------------------------------------------------------------------------------


async def test_a_staff_write_is_audited_with_changed_fields_only(
    http: httpx.AsyncClient, world: World
) -> None:
    h = _auth(world.tokens["planner"])
    r = await http.patch(
        f"/staff/clients/{world.a.client}",
        json={"name": "Client Alpha", "preferred_language": "en"},
        headers=h,
    )
    assert r.status_code == 200
    items = (await http.get("/staff/audit", headers=h)).json()["items"]
    entry = next(i for i in items if i["action"] == "client.updated")
    assert entry["actor"] == {
        "kind": "staff",
        "id": entry["actor"]["id"],
        "label": "planner@alpha.example",
    }
    assert entry["before"] == {"preferred_language": "fr"} and entry["after"] == {
        "preferred_language": "en"
    }
    assert (
        await http.get(f"/staff/audit?business_unit_id={world.b.bu}", headers=h)
    ).status_code == 404


# --- bulk -------------------------------------------------------------------------------


async def _bulk(http, world, token, enable: bool, dry_run: bool = False) -> int:
    r = await http.post(
        f"/staff/business-units/{world.a.bu}/portal-access/bulk",
        json={"enable": enable, "dry_run": dry_run},
        headers=_auth(token),
    )
    assert r.status_code == 200, r.text
    return r.json()["affected"]


def _add_clients(api: FastAPI, bu: int, n: int) -> None:
    s = api.state.sessionmaker()
    begin_write(s)
    for i in range(n):
        s.add(Client(business_unit_id=bu, name=f"Bulk {i}"))
    s.commit()
    s.close()


def _count_statements(api: FastAPI):
    counted: list[str] = []

    def listener(conn, cursor, statement, *args) -> None:
        counted.append(statement)

    event.listen(api.state.engine, "before_cursor_execute", listener)
    return counted, lambda: event.remove(api.state.engine, "before_cursor_execute", listener)


async def test_bulk_counts_is_idempotent_and_costs_the_same_statements_for_any_count(
    api: FastAPI, http: httpx.AsyncClient, world: World, fresh
) -> None:
    admin = world.tokens["admin"]
    _add_clients(api, world.a.bu, 3)
    with fresh() as s:  # the revision counter's first use inserts its row: not counted
        begin_write(s)
        next_revisions(s, 1)
    assert await _bulk(http, world, admin, False, dry_run=True) == 4
    assert await _bulk(http, world, admin, False) == 4
    assert await _bulk(http, world, admin, False) == 0
    counted, stop = _count_statements(api)
    assert await _bulk(http, world, admin, True) == 4
    stop()
    small = len(counted)
    _add_clients(api, world.a.bu, 40)  # born with access (the unit's default)
    assert await _bulk(http, world, admin, False, dry_run=True) == 44
    assert await _bulk(http, world, admin, False) == 44
    counted, stop = _count_statements(api)
    assert await _bulk(http, world, admin, True) == 44
    stop()
    assert len(counted) == small
    assert await _bulk(http, world, admin, False) == 44
    with fresh() as s:
        assert not s.scalars(
            select(Client).where(
                Client.business_unit_id == world.a.bu, Client.portal_access.is_(True)
            )
        ).first()
        assert s.scalars(select(Client).where(Client.id == world.b.client)).one().portal_access
        bulk = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "clients.portal_access_bulk")
        ).all()
        assert [e.after["clients"] for e in bulk] == [4, 4, 44, 44, 44]
    assert await _bulk(http, world, admin, True) == 44
    assert (
        await http.post(
            f"/staff/business-units/{world.a.bu}/portal-access/bulk",
            json={"enable": True},
            headers=_auth(world.tokens["planner"]),
        )
    ).status_code == 403


async def test_bulk_off_kills_sessions_and_back_on_the_client_signs_in_to_a_whole_feed(
    api: FastAPI, http: httpx.AsyncClient, world: World, fresh, settings, clock
) -> None:
    from backend.services.feed import refresh_client
    from backend.services.sessions import create_session

    s = api.state.sessionmaker()
    begin_write(s)
    refresh_client(s, world.a.client)
    token = create_session(s, settings, world.a.client, "code", clock.now)
    s.commit()
    s.close()
    assert (await http.get("/sync", headers=_auth(token))).status_code == 200
    await _bulk(http, world, world.tokens["admin"], False)
    assert (await http.get("/sync", headers=_auth(token))).status_code == 401
    await _bulk(http, world, world.tokens["admin"], True)
    assert (await http.get("/sync", headers=_auth(token))).status_code == 401  # revoked for good
    # Signed in again, the client's next sync brings their whole, current portal.
    s = api.state.sessionmaker()
    begin_write(s)
    again = create_session(s, settings, world.a.client, "code", clock.now)
    s.commit()
    s.close()
    pulled = await http.get("/sync", headers=_auth(again))
    assert pulled.status_code == 200
    kinds = {c["kind"] for c in pulled.json()["changes"] if not c.get("deleted")}
    assert {"profile", "branding"} <= kinds
    with fresh() as f:
        revoked = f.scalars(
            select(AuthSession.revoked_at)
            .where(AuthSession.client_id == world.a.client)
            .order_by(AuthSession.id)
        ).all()
        assert revoked[0] is not None and revoked[1] is None  # the old one stays revoked


# --- search -----------------------------------------------------------------------------


async def test_client_search_by_name_email_phone_and_id(
    api: FastAPI, http: httpx.AsyncClient, world: World, db
) -> None:
    begin_write(db)
    bu = db.get(factories.BusinessUnit, world.a.bu)
    eloise = factories.client(
        db, bu, name="Éloïse Dupré-Martin", email="eloise@mail.example", phone="06 99 88 77 66"
    )
    factories.client(db, bu, name="Marc Durand", email="marc@mail.example", phone=None)
    db.commit()
    h = _auth(world.tokens["viewer"])

    async def names(q: str) -> list[str]:
        r = await http.get(
            f"/staff/business-units/{world.a.bu}/clients", params={"q": q}, headers=h
        )
        assert r.status_code == 200
        return [i["name"] for i in r.json()["items"]]

    assert await names("elo") == ["Éloïse Dupré-Martin"]
    assert await names("DUPRE") == ["Éloïse Dupré-Martin"]
    assert await names("martin elo") == ["Éloïse Dupré-Martin"]
    assert set(await names("du")) == {"Éloïse Dupré-Martin", "Marc Durand"}
    assert await names("marc@") == ["Marc Durand"]
    assert await names("06 99 88") == ["Éloïse Dupré-Martin"]
    assert await names(str(eloise.id)) == ["Éloïse Dupré-Martin"]
    assert await names("Client Beta") == []  # another unit's client
    first = (
        await http.get(
            f"/staff/business-units/{world.a.bu}/clients", params={"limit": 1}, headers=h
        )
    ).json()
    second = (
        await http.get(
            f"/staff/business-units/{world.a.bu}/clients",
            params={"limit": 1, "after": first["next"]},
            headers=h,
        )
    ).json()
    assert first["items"][0]["id"] < second["items"][0]["id"]
