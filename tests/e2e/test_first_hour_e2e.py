"""A newcomer's first minutes in a real Chromium (issue 12, "a new user's first hour").

The sign-in screen speaks the company's language and offers the other one;
the choice made there is kept after sign-in and saved for the client; the
code typed fast, right as its field appears, arrives whole; a wrong code is
cleared; the brand colour is the buttons' colour exactly; home names the
company once. Screenshots (phone and desktop) go to test-artifacts/.
"""

from __future__ import annotations

import os
import re
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import DESKTOP, PHONE, ROOT, free_port, open_app, shot, start_app

pytestmark = pytest.mark.e2e

BU_NAME = "Rhône Chauffage Services"
BRAND = (0xD8, 0x43, 0x15)  # the demo company's #D84315
# Flutter web types into an <input>: the semantics node's own, or one in its
# text-editing host, depending on how the focus came. The code field has the
# keyboard when an input has the focus and the email field is gone.
CODE_FIELD_HAS_FOCUS = """() => {
  const active = document.activeElement;
  return active !== null && active.tagName === 'INPUT'
    && !document.querySelector('[aria-label="Email or phone number"]')
    && !!document.querySelector('[aria-label="6-digit code"]');
}"""


def pixel_rgb(page, x: float, y: float) -> tuple[int, int, int]:
    """The (R, G, B) of one on-screen pixel, read from a 1×1 PNG screenshot."""
    png = page.screenshot(clip={"x": x, "y": y, "width": 1, "height": 1})
    pos, idat, color_type = 8, b"", 0
    while pos < len(png):
        length = struct.unpack(">I", png[pos : pos + 4])[0]
        kind = png[pos + 4 : pos + 8]
        if kind == b"IHDR":
            color_type = png[pos + 17]
        elif kind == b"IDAT":
            idat += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    row = zlib.decompress(idat)  # filter byte, then one pixel
    assert color_type in (2, 6), color_type  # RGB or RGBA, 8 bits
    return row[1], row[2], row[3]


def button_fill(page, name: str) -> tuple[int, int, int]:
    """The colour inside a filled button, between its left edge and its label."""
    box = page.get_by_role("button", name=name).bounding_box()
    assert box, name
    return pixel_rgb(page, box["x"] + 6, box["y"] + box["height"] / 2)


def semantics_text(page) -> str:
    """Everything Flutter's semantics tree says, each node once (nodes nest)."""
    return page.evaluate(
        """Array.from(document.querySelectorAll('flt-semantics'))
             .map(e => (e.getAttribute('aria-label') || '') + ' ' + Array.from(e.childNodes)
                  .filter(n => n.nodeType === Node.TEXT_NODE
                               || (n.nodeName !== 'FLT-SEMANTICS'
                                   && !n.querySelector?.('flt-semantics')))
                  .map(n => n.textContent).join(' '))
             .join('\\n')"""
    )


def demo_preferred_language(app, email: str) -> str | None:
    with sqlite3.connect(app.backend_db) as db:
        row = db.execute(
            "SELECT c.preferred_language FROM clients c JOIN client_contacts k "
            "ON k.client_id = c.id WHERE k.value = ?",
            (email,),
        ).fetchone()
    return row[0] if row else None


def test_first_hour_sign_in_language_code_and_brand(browser, tmp_path: Path) -> None:
    app = start_app(tmp_path, tmp_path / "data")
    try:
        # Desktop first: the sign-in screen, in the company's language.
        wide = open_app(browser, app.url, DESKTOP)
        wide.get_by_text(BU_NAME).wait_for(timeout=30_000)
        wide.get_by_role("button", name="Recevoir un code").wait_for()
        # The browser tab's title speaks the company's language too.
        wide.wait_for_function("document.title === 'Portail client'", timeout=10_000)
        shot(wide, "first_hour_desktop_01_sign_in")
        wide.close()

        page = open_app(browser, app.url, PHONE)
        page.get_by_text(BU_NAME).wait_for(timeout=30_000)
        page.get_by_text("Connexion", exact=True).wait_for()
        page.get_by_role("img").first.wait_for()
        shot(page, "first_hour_phone_01_sign_in")
        said = semantics_text(page)
        # No alarming note about the session on the sign-in screen.
        assert "session" not in said.lower(), said
        # The brand colour is the primary colour, not a darker tone of it.
        fill = button_fill(page, "Recevoir un code")
        assert all(abs(a - b) <= 6 for a, b in zip(fill, BRAND, strict=True)), fill

        # The other language is one tap away, and the choice is kept.
        page.get_by_role("button", name="English").click()
        page.get_by_text("Sign in", exact=True).first.wait_for(timeout=10_000)
        email = app.demo_email()
        box = page.get_by_role("textbox", name="Email or phone number")
        box.click()
        page.keyboard.type(email)
        page.get_by_role("button", name="Send me a code").click()

        # The field appears with the keyboard focus (no tap needed): type at
        # once and fast. A late update from the server side must not wipe the
        # first digits (a lost digit gives "the code is the 6 digits…").
        page.get_by_role("textbox", name="6-digit code").wait_for(timeout=20_000)
        page.wait_for_function(CODE_FIELD_HAS_FOCUS, timeout=20_000)
        page.keyboard.type("000000")
        page.keyboard.press("Enter")
        try:
            page.get_by_text(re.compile(r"^That code is not right")).wait_for(timeout=20_000)
        except Exception:
            shot(page, "failure_first_hour_fast_typing")
            print(semantics_text(page))
            raise
        said = semantics_text(page)
        assert "remaining" not in said and "caractères" not in said, said
        assert "Too many attempts" not in said
        shot(page, "first_hour_phone_02_wrong_code")
        # The wrong code is gone from the field: the good one alone is sent.
        page.keyboard.type(app.last_code(email))
        page.keyboard.press("Enter")
        try:
            page.get_by_text("Your next appointment").wait_for(timeout=30_000)
        except Exception:
            shot(page, "failure_first_hour_sign_in")
            raise
        # The header names the company; home does not repeat it.
        shot(page, "first_hour_phone_03_home")
        assert semantics_text(page).count(BU_NAME) == 1, semantics_text(page)

        # The language chosen before sign-in wins over the profile's French,
        # and the server is told (messages and titles follow it).
        deadline = time.monotonic() + 30
        while demo_preferred_language(app, email) != "en" and time.monotonic() < deadline:
            page.wait_for_timeout(500)
        assert demo_preferred_language(app, email) == "en"

        wide = open_app(browser, app.url, DESKTOP)
        wide.get_by_text("Your next appointment").wait_for(timeout=30_000)
        shot(wide, "first_hour_desktop_02_home")
        assert semantics_text(wide).count(BU_NAME) == 1, semantics_text(wide)
        wide.close()

        # Dark mode keeps the brand's orange as the primary colour.
        dark = open_app(browser, app.url, PHONE, color_scheme="dark")
        dark.get_by_text("Your next appointment").wait_for(timeout=30_000)
        dark.wait_for_timeout(4000)
        shot(dark, "first_hour_phone_04_home_dark")
        dark.close()
    finally:
        app.stop()


def start_serve(tmp_path: Path) -> tuple[subprocess.Popen[str], int, Path]:
    """``portal serve --demo`` on a free port; returns the process, its port and its log."""
    port = free_port()
    env = dict(os.environ)
    for name in ("PORTAL_PUBLIC_BASE_URL", "PORTAL_DATABASE_URL"):
        env.pop(name, None)
    env.update(
        PYTHONPATH=str(ROOT),
        PORTAL_DATA_DIR=str(tmp_path / "serve"),
        PORTAL_STAFF_TOKEN="first-hour-staff",
        PYTHONUNBUFFERED="1",
    )
    log_path = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--demo"],
        cwd=ROOT,
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited: {log_path.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process, port, log_path
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise AssertionError(f"serve did not start: {log_path.read_text()}")


def test_serve_first_hour_links_app_address_and_calm_session_note(browser, tmp_path: Path) -> None:
    process, port, log_path = start_serve(tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        # Login links point at the port actually served, not 8000.
        assert f"Login links point to {base}" in log_path.read_text()
        email = re.search(r"demo client (\S+)", log_path.read_text()).group(1)  # type: ignore[union-attr]
        staff = {"X-Staff-Token": "first-hour-staff"}
        db_path = tmp_path / "serve" / "portal.db"
        with sqlite3.connect(db_path) as db:
            (client_id,) = db.execute(
                "SELECT client_id FROM client_contacts WHERE value = ?", (email,)
            ).fetchone()
        link = httpx.post(
            f"{base}/staff/clients/{client_id}/permanent-links", json={}, headers=staff, timeout=30
        )
        assert link.status_code == 201, link.text
        assert link.json()["url"].startswith(f"{base}/login/link#")

        # /app without its slash opens the app.
        page = open_app(browser, f"{base}/app", PHONE)
        page.get_by_text("Connexion", exact=True).wait_for(timeout=30_000)
        page.get_by_role("img").first.wait_for(timeout=30_000)  # the company's logo
        # A browser session keeps its token in memory: no red warning here.
        assert "session" not in semantics_text(page).lower()
        shot(page, "first_hour_phone_05_serve_sign_in")
        box = page.get_by_role("textbox", name="E-mail ou numéro de téléphone")
        box.click()
        page.keyboard.type(email)
        page.keyboard.press("Enter")
        page.get_by_role("textbox", name="Code à 6 chiffres").wait_for(timeout=20_000)
        with sqlite3.connect(db_path) as db:
            (body,) = db.execute(
                "SELECT body FROM outgoing_messages WHERE recipient = ? ORDER BY id DESC",
                (email,),
            ).fetchone()
        page.keyboard.type(re.findall(r"\b\d{6}\b", body)[-1])
        page.keyboard.press("Enter")
        page.get_by_text("Votre prochain rendez-vous").wait_for(timeout=30_000)

        # Said once, calmly, where the person looks for it: Account.
        page.get_by_role("tab", name="Compte").or_(
            page.get_by_role("button", name=re.compile("^Compte Tab"))
        ).first.click()
        note = page.get_by_text(re.compile("^Par sécurité, cette session n’est pas conservée"))
        note.wait_for(timeout=20_000)
        shot(page, "first_hour_phone_06_serve_account")
        box = note.bounding_box()
        assert box
        red, green, blue = pixel_rgb(page, box["x"] + 1, box["y"] + box["height"] / 2)
        assert not (red > 150 and green < 90 and blue < 90)  # not an error red
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
