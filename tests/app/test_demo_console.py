"""``portal`` (the demo) serves the staff console and seeds staff to sign in with."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.config import AppConfig
from app.demo_server import demo_web_asgi_app
from app.embedded import start_embedded
from app.main import Runtime
from app.staff.api import StaffApi
from app.sync.api import PortalApi
from backend.models import Client


async def _login(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await http.post("/staff/auth/login", json={"email": email, "password": password})


async def test_each_start_gives_the_demo_staff_a_new_password(tmp_path: Path) -> None:
    first = start_embedded(tmp_path, log_messages=False, delivery_worker=False)
    assert first.staff is not None
    old_password = first.staff.password
    first.close()
    embedded = start_embedded(tmp_path, log_messages=False, delivery_worker=False)
    staff = embedded.staff
    assert staff is not None and staff.password != old_password
    transport = httpx.ASGITransport(app=embedded.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://embedded") as http:
            for role in ("admin", "planner", "viewer"):
                answer = await _login(http, staff.email(role), staff.password)
                assert answer.status_code == 200, answer.text
                memberships = answer.json()["staff"]["memberships"]
                assert [m["role"] for m in memberships] == [role]
                assert memberships[0]["business_unit_id"] == embedded.summary.business_unit_id
            # The password printed by the earlier start no longer works.
            stale = await _login(http, staff.email("admin"), old_password)
            assert stale.status_code == 401
            # The demo's clients (inserted in bulk) are found by name.
            token = (await _login(http, staff.email("viewer"), staff.password)).json()["token"]
            bu = embedded.summary.business_unit_id
            with embedded.app.state.sessionmaker() as db:
                name = db.get(Client, embedded.summary.example_client_id).name
            found = await http.get(
                f"/staff/business-units/{bu}/clients",
                params={"q": name.split()[-1].lower()},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert found.status_code == 200, found.text
            ids = [item["id"] for item in found.json()["items"]]
            assert embedded.summary.example_client_id in ids
    finally:
        embedded.close()


async def test_the_demo_web_server_answers_the_client_app_and_the_console(
    tmp_path: Path,
) -> None:
    embedded = start_embedded(tmp_path / "backend", log_messages=False, delivery_worker=False)
    backend = embedded.app
    runtime = Runtime(
        make_api=lambda: PortalApi.embedded(backend), config=AppConfig(data_dir=tmp_path / "app")
    )
    outer = demo_web_asgi_app(runtime, lambda: StaffApi.embedded(backend))
    transport = httpx.ASGITransport(app=outer)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://demo.test") as http:
            bare = await http.get("/console")
            assert bare.status_code == 307 and bare.headers["location"] == "/console/"
            console = await http.get("/console/")
            assert console.status_code == 200 and '<base href="/console/">' in console.text
            handoff = await http.get("/console/set-password", follow_redirects=True)
            assert "flutter.console.set_password" in handoff.text
            # The client app stays at the root, where login links point.
            client = await http.get("/")
            assert client.status_code == 200 and '<base href="/">' in client.text
    finally:
        embedded.close()
