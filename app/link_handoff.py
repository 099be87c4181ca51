"""A sign-in link opened in the browser, handed over to the app.

Links are ``…/login/link#token``. Flet's web router drops the ``#fragment``, so
``assets/login/link/index.html`` stores the token where Flet's
``SharedPreferences`` reads it (browser local storage) and opens the app. The
app takes it once at start-up and deletes it at once, used or not, so the
secret does not outlive the page load.
"""

from __future__ import annotations

import asyncio
import logging

import flet as ft

PENDING_LINK_KEY = "portal.pending_link"
# Reading local storage is one round trip to the browser; a client that never
# answers (an old desktop shell) must not hold the start-up.
_TIMEOUT_SECONDS = 5.0

log = logging.getLogger(__name__)


async def take_pending_link(prefs: ft.SharedPreferences | None = None) -> str | None:
    """The token of a sign-in link the browser just opened, removed from storage."""
    prefs = prefs or ft.SharedPreferences()
    try:
        value = await asyncio.wait_for(prefs.get(PENDING_LINK_KEY), _TIMEOUT_SECONDS)
        if value is None:
            return None
        await asyncio.wait_for(prefs.remove(PENDING_LINK_KEY), _TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - a missing hand-off is not an error
        # Never log the value: it is a credential.
        log.info("no sign-in link hand-off: %s", type(exc).__name__)
        return None
    token = str(value).strip()
    return token or None
