"""The web app in a real Chromium: sign in, home, appointments, detail, language, sign out,
then an offline restart that still shows the cached appointments."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import pytest

from backend.demo import ACTIVITY_TYPES
from tests.e2e.conftest import DESKTOP, PHONE, open_app, shot, start_app

pytestmark = pytest.mark.e2e

BU_NAME = "Rhône Chauffage Services"
ROLES = """Array.from(document.querySelectorAll('flt-semantics[role], flt-semantics [role]'))
  .map(e => e.getAttribute('role') + ' | ' + (e.getAttribute('aria-label') || '') + ' | '
       + e.innerText.slice(0, 60)).join('\\n')"""


# Flutter creates the browser's text input when its field takes focus, a
# frame after the tap: keys typed before that go nowhere, as they would for a
# person typing before the caret shows.
FOCUSED_TEXT_INPUT = (
    "() => { const e = document.activeElement;"
    " return !!e && (e.tagName === 'INPUT' || e.tagName === 'TEXTAREA'); }"
)


def type_into(page, label: str, text: str) -> None:
    box = page.get_by_role("textbox", name=label)
    box.click()
    page.wait_for_function(FOCUSED_TEXT_INPUT, timeout=10_000)
    page.keyboard.type(text)


def pixel_brightness(page, x: int, y: int) -> float:
    """Mean of R, G and B (0–255) of one on-screen pixel, from a 1×1 PNG screenshot."""
    png = page.screenshot(clip={"x": x, "y": y, "width": 1, "height": 1})
    pos, idat = 8, b""
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
    return sum(row[1:4]) / 3


# The booking flows (slots or the cancel dialog); forms have their own tests.
ACTION_LABELS = re.compile(
    "^("
    + "|".join(
        re.escape(a["label"])
        for t in ACTIVITY_TYPES
        for a in t["actions"]
        if a["kind"] in ("book", "reschedule", "cancel")
    )
    + ")$"
)


def open_visit_with_an_action(page, tries: int = 8):
    """Open the scheduled visits one by one; return the first action button found."""
    rows = page.get_by_role("button").filter(has_text="Planifié")
    rows.first.wait_for()
    for n in range(min(tries, rows.count())):
        rows.nth(n).click()
        page.get_by_text("Ce que vous pouvez faire").wait_for()
        page.get_by_text("Suivi", exact=True).wait_for()
        action = page.get_by_role("button", name=ACTION_LABELS)
        if action.count():
            return action.first
        page.get_by_role("button", name="Retour aux rendez-vous").click()
        page.get_by_text("À venir", exact=True).wait_for()
    raise AssertionError("no scheduled visit offers an action")


def nav(page, label: str) -> None:
    """Open a tab: NavigationBar items are tabs, NavigationRail items "<label> Tab n of 3"."""
    target = page.get_by_role("tab", name=label).or_(
        page.get_by_role("button", name=re.compile(f"^{label} Tab"))
    )
    target.first.click()


def sign_in_with_code(page, app) -> None:
    # The sign-in screen speaks the company's language (French for the demo).
    email = app.demo_email()
    page.get_by_text("Connexion", exact=True).first.wait_for(timeout=30_000)
    type_into(page, "E-mail ou numéro de téléphone", email)
    page.get_by_role("button", name="Recevoir un code").click()
    page.get_by_text("Nous vous avons envoyé un code").wait_for(timeout=20_000)
    page.get_by_text(re.compile(r"Nouveau code possible dans \d+ s")).wait_for(timeout=10_000)
    type_into(page, "Code à 6 chiffres", app.last_code(email))
    page.get_by_role("button", name="Se connecter").click()
    try:
        # The company shows on the sign-in screen too: wait for the form to go.
        page.get_by_role("textbox", name="Code à 6 chiffres").wait_for(
            state="detached", timeout=30_000
        )
        page.get_by_text(BU_NAME).first.wait_for(timeout=30_000)
    except Exception:
        shot(page, "failure_sign_in")
        raise


def test_sign_in_browse_switch_language_sign_out(browser, tmp_path: Path) -> None:
    app = start_app(tmp_path, tmp_path / "data")
    try:
        page = open_app(browser, app.url, PHONE)
        # Before anyone signs in, the portal shows whose portal it is.
        page.get_by_text(BU_NAME).wait_for(timeout=30_000)
        page.get_by_role("img").first.wait_for()
        shot(page, "phone_01_sign_in")
        sign_in_with_code(page, app)
        # The demo client prefers French: the app follows the profile's language.
        page.get_by_text("Votre prochain rendez-vous").wait_for(timeout=20_000)
        shot(page, "phone_02_home")

        nav(page, "Rendez-vous")
        page.get_by_text("À venir", exact=True).wait_for()
        shot(page, "phone_03_activities")
        # Every action button opens its flow (no "coming soon" anywhere). Which
        # actions a visit offers depends on the demo's "now" (e.g. no change
        # within 24 h), so open scheduled visits until one offers some.
        action = open_visit_with_an_action(page)
        shot(page, "phone_04_detail")
        action.click()
        page.get_by_text("Choisissez un nouveau créneau").or_(
            page.get_by_text(re.compile(r"^Annuler ce rendez-vous"))
        ).first.wait_for()
        shot(page, "phone_05_action_flow")
        assert page.get_by_text("Bientôt disponible").count() == 0
        keep = page.get_by_role("button", name="Le garder")  # the cancel dialog
        if keep.count():
            keep.click()
        else:
            page.get_by_role("button", name="Retour au rendez-vous").click()
        page.get_by_text("Ce que vous pouvez faire").wait_for()

        nav(page, "Compte")
        page.get_by_text("Connecté en tant que").wait_for()
        page.get_by_text(re.compile(r"^Mis à jour à ")).wait_for()
        shot(page, "phone_06_account")
        page.get_by_role("button", name="English").click()
        page.get_by_role("button", name="Sign out").wait_for()
        nav(page, "Home")
        page.get_by_text("Your next appointment").wait_for()

        # Same device, wide window: the session and the language carry over.
        wide = open_app(browser, app.url, DESKTOP)
        wide.get_by_text("Your next appointment").wait_for(timeout=30_000)
        shot(wide, "desktop_02_home")
        nav(wide, "Appointments")
        wide.get_by_text("Upcoming", exact=True).wait_for()
        shot(wide, "desktop_03_activities")
        wide.get_by_role("button").filter(has_text="Scheduled").first.click()
        wide.get_by_text("What you can do").wait_for()
        shot(wide, "desktop_04_detail")
        nav(wide, "Account")
        wide.get_by_text("Signed in as").wait_for()
        shot(wide, "desktop_06_account")
        wide.close()

        # The system's dark mode is followed.
        dark = open_app(browser, app.url, PHONE, color_scheme="dark")
        dark.get_by_text("Your next appointment").wait_for(timeout=30_000)
        shot(dark, "phone_12_home_dark")
        assert pixel_brightness(dark, 200, 700) < 80  # a dark background
        assert pixel_brightness(page, 200, 700) > 180  # the light page beside it
        dark.close()

        nav(page, "Account")
        page.get_by_role("button", name="Français").click()
        page.get_by_role("button", name="Se déconnecter").click()
        page.get_by_text("Connexion", exact=True).wait_for()
        page.get_by_role("textbox", name="E-mail ou numéro de téléphone").wait_for()
        shot(page, "phone_07_signed_out")
        assert app.cached_activity_count() == 0
        assert "field-portal/session" not in app.keyring_text()

        wide = open_app(browser, app.url, DESKTOP)
        try:
            wide.get_by_text("Connexion", exact=True).wait_for(timeout=30_000)
        except Exception:
            shot(wide, "failure_wide")
            print(wide.evaluate(ROLES))
            raise
        shot(wide, "desktop_01_sign_in")
        wide.close()

        # Opening a sign-in link: a refused one says so on the link form...
        bad = open_app(browser, app.url + "/login/link#not-a-real-token", PHONE)
        bad.get_by_text("Ce lien a expiré ou a déjà servi. Demandez-en un nouveau.").wait_for(
            timeout=30_000
        )
        bad.get_by_role("textbox", name="Lien de connexion").wait_for()
        shot(bad, "phone_10_link_refused")
        bad.close()
        # ...a good one asks first (scanners open links too), then signs in and
        # leaves no token behind.
        good = open_app(browser, app.demo_link(), PHONE)
        good.get_by_text(f"Se connecter à {BU_NAME} ?").wait_for(timeout=30_000)
        shot(good, "phone_11_link_confirm")
        good.get_by_role("button", name="Se connecter").click()
        good.get_by_text("Votre prochain rendez-vous").wait_for(timeout=30_000)
        assert "#" not in good.url and "/login/link" not in good.url
        assert (
            good.evaluate("JSON.stringify(Object.entries(localStorage))").find("pending_link") == -1
        )
        good.close()
    finally:
        app.stop()


def test_restart_offline_shows_cached_appointments(browser, tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = start_app(tmp_path, data, name="online")
    try:
        # A deep link to the list: sign in first, then the list, not home.
        page = open_app(browser, app.url + "/activities", PHONE)
        sign_in_with_code(page, app)
        page.get_by_text("À venir", exact=True).wait_for(timeout=20_000)
        page.get_by_role("button").filter(has_text="Planifié").first.wait_for()
        assert page.get_by_text("Votre prochain rendez-vous").count() == 0
        page.close()
    finally:
        app.stop()
    cached = app.cached_activity_count()
    assert cached > 0

    # Same data dir and (test) keyring, but the server cannot be reached.
    offline = start_app(tmp_path, data, "--server", "http://127.0.0.1:9", name="offline")
    try:
        page = open_app(browser, offline.url, PHONE)
        page.get_by_text(re.compile(r"^Hors ligne — dernière mise à jour ")).wait_for(
            timeout=30_000
        )
        page.get_by_text("Votre prochain rendez-vous").wait_for()
        shot(page, "phone_08_offline_home")
        nav(page, "Rendez-vous")
        page.get_by_role("button").filter(has_text="Planifié").first.wait_for()
        shot(page, "phone_09_offline_activities")
        # Signed in and offline, /activities shows the cached list directly.
        wide = open_app(browser, offline.url + "/activities", DESKTOP)
        wide.get_by_role("button").filter(has_text="Planifié").first.wait_for(timeout=30_000)
        wide.get_by_text(re.compile(r"^Hors ligne — dernière mise à jour ")).wait_for(
            timeout=30_000
        )
        shot(wide, "desktop_09_offline_activities")
        assert "Traceback" not in offline.log_path.read_text()
    finally:
        offline.stop()
    assert offline.cached_activity_count() == cached
