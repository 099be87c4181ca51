"""A newcomer's first minutes in a real Chromium (issue 12, "a new user's first hour").

The sign-in screen speaks the company's language and offers the other one;
the choice made there is kept after sign-in and saved for the client; the
code typed fast, right as its field appears, arrives whole; a wrong code is
cleared; the brand colour is the buttons' colour exactly; home names the
company once. Screenshots (phone and desktop) go to test-artifacts/.
"""

from __future__ import annotations

import re
import sqlite3
import struct
import time
import zlib
from pathlib import Path

import pytest

from tests.e2e.conftest import DESKTOP, PHONE, open_app, shot, start_app

pytestmark = pytest.mark.e2e

BU_NAME = "Rhône Chauffage Services"
BRAND = (0xD8, 0x43, 0x15)  # the demo company's #D84315


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
        shot(wide, "first_hour_desktop_01_sign_in")
        wide.close()

        page = open_app(browser, app.url, PHONE)
        page.get_by_text(BU_NAME).wait_for(timeout=30_000)
        page.get_by_text("Connexion", exact=True).wait_for()
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

        # Type as soon as the field appears, fast, without clicking it first.
        code_box = page.get_by_role("textbox", name="6-digit code")
        code_box.wait_for(timeout=20_000)
        page.keyboard.type("000000")
        page.keyboard.press("Enter")
        page.get_by_text(re.compile(r"^That code is not right")).wait_for(timeout=20_000)
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
    finally:
        app.stop()
