"""Every screen's web address, both ways: ``parse_route`` and ``Route.path``.

``/`` home, ``/activities`` the list, ``/activities/{id}`` one appointment,
``/activities/{id}/book`` its slots screen, ``/activities/{id}/forms/{action}``
one of its forms (fill, sign, survey), ``/requests/new`` a new request,
``/account``. Each navigation inside the app pushes its address, so the
browser's Back button goes back inside the app and a link opens that screen
(after sign-in when needed). One exception: opened from its appointment (or
right after a request), the slots screen stays at the appointment's address,
because Flet's web client can push history entries but never replace one, and
an entry of its own would reopen the slots on Back after the booking. No Flet
here: tests read it directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Screen = Literal[
    "home", "activities", "detail", "book", "form", "new_request", "documents", "account"
]
# The tab each screen belongs to (what the navigation bar highlights).
TAB_OF: dict[str, str] = {
    "home": "home",
    "activities": "activities",
    "detail": "activities",
    "book": "activities",
    "form": "activities",
    "new_request": "activities",
    "documents": "documents",
    "account": "account",
}

_ACTIVITY = re.compile(r"^activities/(\d{1,10})(/book)?$")
_FORM = re.compile(r"^activities/(\d{1,10})/forms/([a-z][a-z0-9_]{0,39})$")


@dataclass(frozen=True)
class Route:
    """A screen and, for an appointment's screens, its id."""

    screen: Screen
    activity_id: str | None = None
    action_key: str | None = None

    @property
    def tab(self) -> str:
        """The navigation tab this screen sits under."""
        return TAB_OF[self.screen]

    @property
    def path(self) -> str:
        """The web address of this screen."""
        if self.screen == "home":
            return "/"
        if self.screen == "detail":
            return f"/activities/{self.activity_id}"
        if self.screen == "book":
            return f"/activities/{self.activity_id}/book"
        if self.screen == "form":
            return f"/activities/{self.activity_id}/forms/{self.action_key}"
        if self.screen == "new_request":
            return "/requests/new"
        return f"/{self.screen}"


def parse_route(route: str | None) -> Route:
    """The screen a web address opens; anything unknown opens home."""
    path = (route or "").split("#", 1)[0].split("?", 1)[0].strip("/")
    if path in ("activities", "documents", "account"):
        return Route(path)  # type: ignore[arg-type]
    if path == "requests/new":
        return Route("new_request")
    form = _FORM.match(path)
    if form:
        return Route("form", form.group(1), form.group(2))
    match = _ACTIVITY.match(path)
    if match:
        return Route("book" if match.group(2) else "detail", match.group(1))
    return Route("home")
