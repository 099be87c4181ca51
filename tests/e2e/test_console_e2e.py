"""The staff console in a real Chromium.

- ``portal app --web`` (the demo) serves the console at ``{url}/console/``
  beside the client app, on one embedded backend, and prints the demo staff
  password: an admin brands the portal (logo upload included), gives a
  client access and a permanent link, copies it (clipboard), the client
  signs in with it in another page; Client Portal Access shows what the
  client's app shows; a title template edited in the console reaches the
  client's app at its next sync. Every screen is shot on a phone.
- ``portal serve --demo`` (the server): roles — a viewer has no editing
  control and the API refuses their writes; a planner manages clients and
  links but not the unit's settings or staff.

Screenshots: test-artifacts/screenshots/console_*.png.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.e2e.conftest import (
    DESKTOP,
    PHONE,
    ROOT,
    AppProcess,
    free_port,
    open_app,
    shot,
    start_app,
)
from tests.e2e.test_app_e2e import FOCUSED_TEXT_INPUT, nav, type_into
from tests.e2e.test_first_hour_e2e import semantics_text

pytestmark = pytest.mark.e2e


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


def serve_password(tmp_path: Path) -> str:
    """The demo staff password ``portal serve --demo`` printed."""
    log = (tmp_path / "serve.log").read_text()
    match = re.search(r"password: (\S+)", log)
    assert match, log
    return match.group(1)


def sign_in(page: Any, role: str, password: str) -> None:
    console_sign_in(page, f"{role}@demo.portal.example", password)


def bu_id_of(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT id FROM business_units ORDER BY id").fetchone()[0])


@pytest.fixture
def served(tmp_path: Path):
    process, url, database = start_serve(tmp_path)
    try:
        # `portal serve --demo` prints the console address and the demo staff.
        assert f"Staff console: {url}/console/" in (tmp_path / "serve.log").read_text()
        yield url, database, bu_id_of(database), serve_password(tmp_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_admin_signs_in_and_brands_the_portal(browser, served, viewport) -> None:
    url, database, bu_id, password = served
    name = "desktop" if viewport is DESKTOP else "phone"
    page = open_app(browser, url + "/console/", viewport)
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    shot(page, f"console_{name}_01_sign_in")
    sign_in(page, "admin", password)
    shot(page, f"console_{name}_02_portal")
    replace_text(page, page.get_by_role("textbox", name="Company name"), f"Chauffage {name}")
    # The preview beside the form follows the typing.
    page.get_by_text(f"Chauffage {name}", exact=True).first.wait_for(timeout=10_000)
    page.get_by_role("switch", name="Login links by SMS").click()
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved.", exact=True).wait_for(timeout=20_000)
    shot(page, f"console_{name}_03_saved")
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT name, sms_links_allowed FROM business_units WHERE id = ?", (bu_id,)
        ).fetchone()
    assert row == (f"Chauffage {name}", 0)


def staff_http(url: str, role: str, password: str) -> httpx.Client:
    http = httpx.Client(base_url=url, timeout=30)
    login = http.post(
        "/staff/auth/login", json={"email": f"{role}@demo.portal.example", "password": password}
    )
    assert login.status_code == 200, login.text
    http.headers["Authorization"] = f"Bearer {login.json()['token']}"
    return http


def open_first_client(page: Any) -> None:
    go(page, "Clients", phone=False)
    page.get_by_role("textbox", name="Search by name, email, phone or reference").wait_for(
        timeout=20_000
    )
    page.get_by_role("button", name=re.compile(r"\bOn$|\bOff$")).first.click()
    page.get_by_role("button", name="Client Portal Access").wait_for(timeout=20_000)


def test_a_viewer_changes_nothing_and_a_planner_no_unit_settings(browser, served) -> None:
    url, database, bu_id, password = served
    client_id, _name = client_without_access(database)

    # Viewer: every screen is read-only, and the API refuses a write.
    page = open_app(browser, url + "/console/", DESKTOP)
    sign_in(page, "viewer", password)
    page.get_by_text(re.compile("lets you read these settings")).wait_for(timeout=10_000)
    assert page.get_by_role("button", name="Save").count() == 0
    assert page.get_by_role("button", name="Upload a logo").count() == 0
    assert page.get_by_role("switch").count() == 0
    shot(page, "console_desktop_04_viewer")
    open_first_client(page)
    page.get_by_text(re.compile("^Portal access")).first.wait_for()
    assert page.get_by_role("switch", name="Portal access").count() == 0  # words, no switch
    assert page.get_by_role("button", name="Create a permanent link").count() == 0
    assert page.get_by_role("button", name="Client Portal Access").count() == 1
    shot(page, "console_desktop_05_viewer_client")
    go(page, "Activity types", phone=False)
    page.get_by_role("button", name=re.compile("^Entretien chaudière")).click()
    template = page.get_by_role("textbox", name="Title template")
    template.wait_for(timeout=20_000)
    assert page.get_by_role("button", name="Save").count() == 0
    assert page.get_by_role("button", name=re.compile("Staff")).count() == 0
    page.close()
    http = staff_http(url, "viewer", password)
    refused = [
        http.patch(f"/staff/business-units/{bu_id}", json={"portal_enabled": False}),
        http.patch(f"/staff/clients/{client_id}", json={"portal_access": True}),
        http.post(f"/staff/clients/{client_id}/permanent-links", json={}),
    ]
    http.close()
    assert [r.status_code for r in refused] == [403, 403, 403], [r.text for r in refused]
    assert all(r.json()["detail"] for r in refused)

    # Planner: clients, links, activity types and forms, but not the unit's
    # settings nor staff.
    page = open_app(browser, url + "/console/", DESKTOP)
    sign_in(page, "planner", password)
    page.get_by_text(re.compile("lets you read these settings")).wait_for(timeout=10_000)
    assert page.get_by_role("button", name="Save").count() == 0
    assert page.get_by_role("button", name=re.compile("^Staff")).count() == 0
    open_first_client(page)
    assert page.get_by_role("button", name="Create a permanent link").count() == 1
    go(page, "Activity types", phone=False)
    page.get_by_role("button", name=re.compile("^Entretien chaudière")).click()
    page.get_by_role("button", name="Save").wait_for(timeout=20_000)
    go(page, "Forms", phone=False)
    page.get_by_role("button", name="New form").wait_for(timeout=20_000)
    shot(page, "console_desktop_06_planner_forms")
    page.close()
    http = staff_http(url, "planner", password)
    settings = http.patch(f"/staff/business-units/{bu_id}", json={"portal_enabled": False})
    accounts = http.get("/staff/accounts")
    access = http.patch(f"/staff/clients/{client_id}", json={"portal_access": True})
    link = http.post(f"/staff/clients/{client_id}/permanent-links", json={})
    http.close()
    assert (settings.status_code, accounts.status_code) == (403, 403)
    assert access.status_code == 200, access.text
    assert link.status_code in (200, 201) and "/login/link#" in link.json()["url"]


# -- the demo (`portal app --web`): the console beside the client app -------------------

DEMO_ADMIN = "admin@demo.portal.example"
TEMPLATE = "{type.name} E2E – {site.city}"
MESSAGES_SHOWN = re.compile(r"status: |^No message\.")


def demo_password(app: AppProcess) -> str:
    """The demo staff password ``portal`` printed (a new one at each start)."""
    match = re.search(r"password: (\S+)", app.log_path.read_text())
    assert match, app.log_path.read_text()
    return match.group(1)


def open_page(context: Any, url: str) -> Any:
    """``open_app`` in a given browser context (one with clipboard rights)."""
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("flutter-view", timeout=60_000)
    page.wait_for_selector("flt-semantics-placeholder", state="attached", timeout=60_000)
    page.evaluate("document.querySelector('flt-semantics-placeholder')?.click()")
    page.wait_for_selector("flt-semantics", state="attached", timeout=30_000)
    return page


def replace_text(page: Any, box: Any, text: str) -> None:
    """Replace what a text field holds with ``text``, and check it took.

    Flutter moves its one <input> to the tapped field a moment after the tap;
    keys sent before that go nowhere (or to the field before).
    """
    for _ in range(3):
        box.click()
        page.wait_for_function(FOCUSED_TEXT_INPUT, timeout=10_000)
        page.wait_for_timeout(200)
        page.keyboard.press("Control+A")
        page.keyboard.type(text)
        if page.evaluate("document.activeElement?.value") == text:
            return
    raise AssertionError(f"could not type {text!r}")


def type_password(page: Any, password: str) -> None:
    """Type into the password field once it has the focus, and check what it holds.

    Right after the email, the email's <input> may still be the focused one
    for a moment: wait for the password's own, whose value is readable.
    """
    page.get_by_role("textbox", name="Password").click()
    page.wait_for_function("() => document.activeElement?.type === 'password'", timeout=10_000)
    page.keyboard.type(password)
    if page.evaluate("document.activeElement?.value") != password:
        page.keyboard.press("Control+A")
        page.keyboard.type(password)
    assert page.evaluate("document.activeElement?.value") == password


def console_sign_in(page: Any, email: str, password: str) -> None:
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    if page.get_by_role("button", name="English").count():
        page.get_by_role("button", name="English").click()
    page.get_by_text("Staff sign-in", exact=True).wait_for()
    type_into(page, "Email", email)
    type_password(page, password)
    page.get_by_role("button", name="Sign in").click()
    try:
        # A switch for admins, words and an On/Off chip for the others.
        enabled = re.compile("^Client portal enabled")
        page.get_by_role("switch", name=enabled).or_(page.get_by_text(enabled)).first.wait_for(
            timeout=30_000
        )
    except Exception:
        shot(page, "console_failed_sign_in")
        raise


def go(page: Any, screen: str, phone: bool) -> None:
    """Open a console screen from the rail (desktop) or the drawer (phone)."""
    if phone:
        page.get_by_role("button", name="Menu").click()
    page.get_by_role("button", name=re.compile("^" + re.escape(screen))).last.click()


def client_without_access(database: Path) -> tuple[int, str]:
    """The demo client without portal access who has the most shown activities."""
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT c.id, c.name FROM clients c JOIN activities a ON a.client_id = c.id "
            "JOIN activity_types t ON t.id = a.type_id "
            "WHERE c.portal_access = 0 AND t.portal_shown = 1 AND t.name = 'Entretien chaudière' "
            "AND EXISTS (SELECT 1 FROM client_contacts k WHERE k.client_id = c.id) "
            "GROUP BY c.id ORDER BY COUNT(a.id) DESC, c.id LIMIT 1"
        ).fetchone()
    assert row, "the demo has no client without access"
    return int(row[0]), str(row[1])


def logo_file(tmp: Path) -> Path:
    path = tmp / "logo.png"
    Image.new("RGB", (1200, 600), (200, 60, 20)).save(path)  # bigger than the 512 px cap
    return path


def feed_texts(page: Any) -> set[str]:
    """The lines Flutter's semantics tree says, trimmed (the client's screens)."""
    return {line.strip() for line in semantics_text(page).splitlines() if line.strip()}


@pytest.fixture
def demo(tmp_path: Path) -> Any:
    app = start_app(tmp_path, tmp_path / "data")
    yield app
    app.stop()


def test_admin_configures_the_portal_hands_a_link_and_sees_what_the_client_sees(
    browser: Any, demo: AppProcess, tmp_path: Path
) -> None:
    app = demo
    client_id, client_name = client_without_access(app.backend_db)
    context = browser.new_context(
        viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"]
    )
    console = open_page(context, app.url + "/console/")
    shot(console, "console_desktop_10_sign_in")
    console_sign_in(console, DEMO_ADMIN, demo_password(app))
    shot(console, "console_desktop_11_portal")

    # Branding: a logo (resized by the server) and a new company name; the
    # screen's title follows the saved name at once.
    with console.expect_file_chooser(timeout=20_000) as chooser:
        console.get_by_role("button", name="Upload a logo").click()
    chooser.value.set_files(str(logo_file(tmp_path)))
    console.get_by_text("Logo saved.", exact=True).wait_for(timeout=30_000)
    company = console.get_by_role("textbox", name="Company name")
    replace_text(console, company, "Chauffage Dubreuil")
    # The preview follows the typing: every key has reached the server session.
    console.get_by_text("Chauffage Dubreuil", exact=True).first.wait_for(timeout=10_000)
    console.get_by_role("button", name="Save").click()
    console.get_by_text("Saved.", exact=True).wait_for(timeout=20_000)
    console.get_by_text(re.compile("Client portal — Chauffage Dubreuil")).wait_for()
    shot(console, "console_desktop_12_branded")
    with sqlite3.connect(app.backend_db) as db:
        name, logo = db.execute("SELECT name, logo FROM business_units").fetchone()
    assert name == "Chauffage Dubreuil" and logo.endswith(".png")
    with Image.open(app.data_dir / "embedded-backend" / "logos" / logo) as stored:
        assert max(stored.size) <= 512

    # The client: found by name, portal access on, a permanent link copied.
    go(console, "Clients", phone=False)
    search = console.get_by_role("textbox", name="Search by name, email, phone or reference")
    replace_text(console, search, client_name.split()[-1])
    console.get_by_role("button", name=re.compile(re.escape(client_name))).first.wait_for(
        timeout=20_000
    )
    shot(console, "console_desktop_13_clients")
    console.get_by_role("button", name=re.compile(re.escape(client_name))).first.click()
    access = console.get_by_role("switch", name="Portal access")
    access.wait_for(timeout=20_000)
    access.click()
    console.get_by_text("Saved.", exact=True).wait_for(timeout=20_000)
    console.get_by_role("button", name="Create a permanent link").click()
    console.get_by_text(re.compile("shown only now")).wait_for(timeout=20_000)
    console.get_by_role("button", name="Copy").click()
    console.get_by_text("Copied to the clipboard.", exact=True).last.wait_for(timeout=10_000)
    link = console.evaluate("navigator.clipboard.readText()")
    assert link.startswith(app.url + "/login/link#"), link
    shot(console, "console_desktop_13b_client_record")
    with sqlite3.connect(app.backend_db) as db:
        assert db.execute("SELECT portal_access FROM clients WHERE id = ?", (client_id,)).fetchone()
        # (granting access may send the client a link of its own: a trigger)
        live = db.execute(
            "SELECT COUNT(*) FROM login_links WHERE client_id = ? AND kind = 'permanent' "
            "AND revoked_at IS NULL",
            (client_id,),
        ).fetchone()[0]
        assert live >= 1

    # The client opens the link in their own browser (phone) and signs in.
    client = open_app(browser, link, PHONE)
    client.get_by_role("button", name="Se connecter").click(timeout=30_000)
    client.get_by_text("Votre prochain rendez-vous").wait_for(timeout=30_000)
    client.wait_for_timeout(1500)
    client_home = feed_texts(client)
    shot(client, "console_client_phone_01_home")

    # Client Portal Access shows the same home, and the same appointment list.
    console.get_by_role("button", name="Client Portal Access").click()
    console.get_by_text(re.compile(rf"Preview of {re.escape(client_name)}")).wait_for(
        timeout=30_000
    )
    console.get_by_text("Votre prochain rendez-vous").wait_for(timeout=30_000)
    console.wait_for_timeout(1500)
    shot(console, "console_desktop_14_preview")
    missing = client_home - feed_texts(console)
    assert not missing, missing
    # The appointments, then the next appointment with its actions.
    nav(client, "Rendez-vous")
    nav(console, "Rendez-vous")
    title = re.compile("^Entretien chaudière – ")
    client.get_by_text(title).first.wait_for(timeout=20_000)
    console.get_by_text(title).first.wait_for(timeout=20_000)
    client.wait_for_timeout(1000)
    missing = feed_texts(client) - feed_texts(console)
    assert not missing, missing
    client.get_by_text(title).first.click()
    console.get_by_text(title).first.click()
    client.get_by_role("button", name=re.compile("^Retour|^Back")).first.wait_for(timeout=20_000)
    console.get_by_role("button", name=re.compile("^Retour|^Back")).first.wait_for(timeout=20_000)
    client.wait_for_timeout(1000)
    shot(client, "console_client_phone_02_appointment")
    shot(console, "console_desktop_14b_preview_appointment")
    client_detail = feed_texts(client)
    missing = client_detail - feed_texts(console)
    assert not missing, missing
    client.go_back()
    console.get_by_text("Computer", exact=True).click()  # the layout a computer gets
    console.wait_for_timeout(1000)
    shot(console, "console_desktop_14c_preview_computer")

    # An activity type's title template, edited and saved, reaches the client's
    # app at its next sync (every 3 s here).
    console.get_by_role("button", name="Close preview").click()
    go(console, "Activity types", phone=False)
    console.get_by_role("button", name=re.compile("^Entretien chaudière")).click()
    replace_text(console, console.get_by_role("textbox", name="Title template"), TEMPLATE)
    console.get_by_text(re.compile("^French: Entretien chaudière E2E")).wait_for(timeout=20_000)
    shot(console, "console_desktop_15_title_template")
    console.get_by_role("button", name="Save").click()
    console.get_by_text("Saved.", exact=True).wait_for(timeout=20_000)
    nav(client, "Rendez-vous")
    client.get_by_text(re.compile("^Entretien chaudière E2E – ")).first.wait_for(timeout=60_000)
    shot(client, "console_client_phone_03_new_title")

    # The other screens, for the record.
    console.get_by_role("button", name="Back to activity types").click()
    console.get_by_role("button", name=re.compile("^Dépannage")).wait_for(timeout=20_000)
    shot(console, "console_desktop_16_activity_types")
    go(console, "Forms", phone=False)
    console.get_by_role("button", name=re.compile("^Questionnaire de satisfaction")).click()
    console.get_by_text("Back to forms", exact=True).wait_for(timeout=20_000)
    shot(console, "console_desktop_17_form_builder")
    go(console, "Messages", phone=False)
    console.get_by_text(MESSAGES_SHOWN).first.wait_for(timeout=20_000)
    shot(console, "console_desktop_18_messages")
    go(console, "Staff", phone=False)
    console.get_by_text("API keys", exact=True).wait_for(timeout=20_000)
    shot(console, "console_desktop_19_staff")
    context.close()


def test_every_console_screen_on_a_phone(browser: Any, demo: AppProcess) -> None:
    app = demo
    client_id, client_name = client_without_access(app.backend_db)
    page = open_app(browser, app.url + "/console/", PHONE)
    shot(page, "console_phone_10_sign_in")
    console_sign_in(page, DEMO_ADMIN, demo_password(app))
    shot(page, "console_phone_11_portal")
    # The drawer's button is named for screen readers.
    page.get_by_role("button", name="Menu").click()
    page.get_by_role("button", name=re.compile("^Clients")).wait_for()
    shot(page, "console_phone_12_drawer")
    page.get_by_role("button", name=re.compile("^Clients")).last.click()
    page.get_by_role("button", name=re.compile(re.escape(client_name))).first.wait_for(
        timeout=20_000
    )
    shot(page, "console_phone_13_clients")
    page.get_by_role("button", name=re.compile(re.escape(client_name))).first.click()
    page.get_by_role("switch", name="Portal access").wait_for(timeout=20_000)
    shot(page, "console_phone_14_client_record")
    page.get_by_role("button", name="Client Portal Access").click()
    page.get_by_text(re.compile(rf"Preview of {re.escape(client_name)}")).wait_for(timeout=30_000)
    page.get_by_text("Votre prochain rendez-vous").wait_for(timeout=30_000)
    shot(page, "console_phone_15_preview")
    page.get_by_role("button", name="Close preview").click()
    go(page, "Activity types", phone=True)
    page.get_by_role("button", name=re.compile("^Entretien chaudière")).click()
    page.get_by_role("textbox", name="Title template").wait_for(timeout=20_000)
    shot(page, "console_phone_16_activity_type")
    go(page, "Forms", phone=True)
    page.get_by_role("button", name=re.compile("^Questionnaire de satisfaction")).click()
    page.get_by_text("Back to forms", exact=True).wait_for(timeout=20_000)
    shot(page, "console_phone_17_form_builder")
    go(page, "Messages", phone=True)
    page.get_by_text(MESSAGES_SHOWN).first.wait_for(timeout=20_000)
    shot(page, "console_phone_18_messages")
    go(page, "Staff", phone=True)
    page.get_by_text("API keys", exact=True).wait_for(timeout=20_000)
    shot(page, "console_phone_19_staff")
