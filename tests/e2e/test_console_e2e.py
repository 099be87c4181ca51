"""The staff console in a real Chromium, served by ``portal serve --demo`` at /console/.

Staff accounts are added to the demo database as ``portal staff create-admin``
would (argon2 hash, a membership per role), then a person signs in in the
browser. Screenshots: test-artifacts/screenshots/console_*.png.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import DESKTOP, PHONE, ROOT, free_port, open_app, shot
from tests.e2e.test_app_e2e import type_into

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


def start_serve(tmp_path: Path) -> tuple[subprocess.Popen[str], str, Path]:
    port = free_port()
    data = tmp_path / "data"
    env = dict(os.environ, PORTAL_DATA_DIR=str(data), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    env.pop("PORTAL_DATABASE_URL", None)
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, f"http://127.0.0.1:{port}", data / "portal.db"
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError("portal serve did not start")


def add_staff(database: Path) -> int:
    """An admin and a viewer of the demo business unit; returns its id."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from backend.models import BusinessUnit
    from backend.services.staff_auth import hash_password
    from backend.staff_models import StaffMembership, StaffUser

    engine = create_engine(f"sqlite:///{database}")
    with Session(engine) as db:
        bu_id = db.scalars(select(BusinessUnit.id)).first()
        for role in ("admin", "viewer"):
            user = StaffUser(
                email=f"e2e-{role}@staff.example",
                name=f"E2E {role}",
                language="en",
                password_hash=hash_password(PASSWORD),
            )
            user.memberships.append(StaffMembership(business_unit_id=bu_id, role=role))
            db.add(user)
        db.commit()
    engine.dispose()
    return int(bu_id)


def sign_in(page, role: str) -> None:
    page.get_by_role("button", name="English").click(timeout=30_000)
    page.get_by_text("Staff sign-in", exact=True).wait_for()
    type_into(page, "Email", f"e2e-{role}@staff.example")
    type_into(page, "Password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Settings", exact=True).wait_for(timeout=30_000)


@pytest.fixture
def served(tmp_path: Path):
    process, url, database = start_serve(tmp_path)
    try:
        if not (ROOT / "backend" / "staff_models.py").exists():
            pytest.skip("staff accounts are not in the backend yet")
        bu_id = add_staff(database)
        yield url, database, bu_id
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_admin_signs_in_and_brands_the_portal(browser, served, viewport) -> None:
    url, database, bu_id = served
    name = "desktop" if viewport is DESKTOP else "phone"
    page = open_app(browser, url + "/console/", viewport)
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    shot(page, f"console_{name}_01_sign_in")
    sign_in(page, "admin")
    shot(page, f"console_{name}_02_portal")
    company = page.get_by_role("textbox", name="Company name")
    company.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(f"Chauffage {name}")
    # The preview beside the form follows the typing.
    page.get_by_text(f"Chauffage {name}", exact=True).first.wait_for(timeout=10_000)
    page.get_by_role("switch", name="Login links by SMS").click()
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved.", exact=True).wait_for(timeout=20_000)
    shot(page, f"console_{name}_03_saved")
    import sqlite3

    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT name, sms_links_allowed FROM business_units WHERE id = ?", (bu_id,)
        ).fetchone()
    assert row == (f"Chauffage {name}", 0)


def test_viewer_sees_no_editing_controls_and_the_api_refuses(browser, served) -> None:
    url, database, bu_id = served
    page = open_app(browser, url + "/console/", DESKTOP)
    sign_in(page, "viewer")
    page.get_by_text(re.compile("lets you read these settings")).wait_for(timeout=10_000)
    assert page.get_by_role("button", name="Save").count() == 0
    assert page.get_by_role("button", name="Upload a logo").count() == 0
    shot(page, "console_desktop_04_viewer")
    with httpx.Client(base_url=url) as http:
        login = http.post(
            "/staff/auth/login", json={"email": "e2e-viewer@staff.example", "password": PASSWORD}
        )
        token = login.json()["token"]
        refused = http.patch(
            f"/staff/business-units/{bu_id}",
            json={"portal_enabled": False},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert refused.status_code == 403 and refused.json()["detail"]
