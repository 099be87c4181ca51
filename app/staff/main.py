"""The console's Flet app: one ``ConsoleState`` per browser session, routes, screens.

Routes (under the mount, ``/console/``): ``/`` sign-in or the first screen,
``/portal``, ``/clients``, ``/clients/{id}``, ``/clients/{id}/portal``
(Client Portal Access: ``views.preview.preview_view`` on top),
``/types``, ``/forms``, ``/messages``, ``/staff``, and ``/password``
(the set-password screen a ``/console/set-password#token`` link opens;
the token comes through the browser's storage, as the client app's
sign-in links do). ``console_asgi_app`` is what ``portal serve`` mounts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flet as ft

from app.i18n import Translator, normalize_language
from app.staff.api import ApiError, StaffApi
from app.staff.state import ConsoleState
from app.staff.views.activity_types import ActivityTypesScreen
from app.staff.views.clients import ClientsScreen
from app.staff.views.common import Screen
from app.staff.views.forms import FormsScreen
from app.staff.views.messages import MessagesScreen
from app.staff.views.portal import PortalScreen
from app.staff.views.preview import close_previews, preview_view
from app.staff.views.shell import ConsoleShell
from app.staff.views.sign_in import SetPasswordView, SignInView
from app.staff.views.staff import StaffScreen
from app.views.theme import apply_theme

log = logging.getLogger(__name__)

CONSOLE_MOUNT = "/console"
ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets" / "console"
SET_PASSWORD_KEY = "console.set_password"
_CLIENT_ROUTE = re.compile(r"^/clients/(\d+)(/portal)?/?$")
_TIMEOUT = 5.0


class ConsoleApp:
    """One session's console: routes to screens, state events to redraws."""

    def __init__(self, page: ft.Page, state: ConsoleState) -> None:
        """Build the screens once (nothing is shown until ``mount``)."""
        self.page = page
        self.state = state
        self.sign_in = SignInView(self)
        self.set_password = SetPasswordView(self)
        self.shell = ConsoleShell(self)
        self.screens: dict[str, Screen] = {
            "portal": PortalScreen(self),
            "clients": ClientsScreen(self),
            "types": ActivityTypesScreen(self),
            "forms": FormsScreen(self),
            "messages": MessagesScreen(self),
            "staff": StaffScreen(self),
        }
        self.route = "/"
        self._logos: dict[str, bytes] = {}
        state.subscribe(self._on_event)

    async def mount(self) -> None:
        """First screen: the route asked for, or sign-in."""
        page = self.page
        page.title = self.state.tr.t("console.title")
        apply_theme(page, None)
        page.on_route_change = self._route_changed
        page.on_view_pop = self._view_popped
        page.on_resize = self._resized
        self.shell.set_width(page.width)
        if not self.state.language_chosen:
            await self._browser_language()
        token = await self._take_set_password_token()
        if token:
            self.set_password.token = token
        await self.show_route(page.route or "/")

    async def _browser_language(self) -> None:
        with contextlib.suppress(Exception):
            info = await asyncio.wait_for(self.page.get_device_info(), _TIMEOUT)
            language = getattr(info, "language", None)
            if language:
                self.state.tr.set_language(normalize_language(language))
                self.page.title = self.state.tr.t("console.title")

    async def _take_set_password_token(self) -> str | None:
        prefs = ft.SharedPreferences()
        try:
            value = await asyncio.wait_for(prefs.get(SET_PASSWORD_KEY), _TIMEOUT)
            if value is None:
                return None
            await asyncio.wait_for(prefs.remove(SET_PASSWORD_KEY), _TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - no hand-off is not an error
            log.info("no set-password hand-off: %s", type(exc).__name__)
            return None
        return str(value).strip() or None

    # -- routes -------------------------------------------------------------------------

    async def navigate(self, path: str) -> None:
        """Go to ``path`` through the browser history (the route change shows it)."""
        await self.page.push_route(path)

    async def _route_changed(self, e: ft.RouteChangeEvent) -> None:
        await self.show_route(e.route)

    async def _view_popped(self, e: Any) -> None:
        match = _CLIENT_ROUTE.match(self.route)
        await self.navigate(f"/clients/{match.group(1)}" if match else "/")

    async def show_route(self, route: str) -> None:
        """Show the screen of ``route`` (signed out: sign-in, or set-password)."""
        route = "/" + route.split("?")[0].strip("/")
        self.route = route
        page = self.page
        if route == "/password":
            self.set_password.refresh()
            page.views.clear()
            page.views.append(ft.View(route=route, controls=[self.set_password.control]))
            page.update()
            return
        if not self.state.signed_in:
            self.sign_in.refresh()
            page.views.clear()
            page.views.append(ft.View(route=route, controls=[self.sign_in.control]))
            page.update()
            return
        match = _CLIENT_ROUTE.match(route)
        name = route.strip("/").split("/")[0] or "portal"
        if name not in self.shell.screens:
            name = "portal"
        screen = self.screens[name]
        self.shell.place(name, screen.control)
        if not (match and match.group(2)):
            await close_previews(self)  # its temporary copy of the client's data goes
        page.views.clear()
        page.views.append(self.shell.view(route))
        if match and match.group(2):
            page.views.append(preview_view(self, int(match.group(1))))
        page.update()
        if match and isinstance(screen, ClientsScreen):
            if not match.group(2):
                await screen.open_record(int(match.group(1)))
            elif screen.model.record is None:
                await screen.model.open(int(match.group(1)))
        else:
            await screen.load()

    def client_name(self, client_id: int) -> str:
        """The name of a client the Clients screen knows (for the preview's banner)."""
        clients = self.screens["clients"]
        model = clients.model  # type: ignore[attr-defined]
        if model.record and int(model.record.get("id", 0)) == client_id:
            return str(model.record.get("name") or "")
        for item in model.items:
            if int(item.get("id", 0)) == client_id:
                return str(item.get("name") or "")
        return f"#{client_id}"

    # -- events -------------------------------------------------------------------------

    async def _on_event(self, event: str) -> None:
        if event == "session":
            await self.show_route("/" if self.state.signed_in else self.route)
        elif event in ("language", "bu"):
            self.page.title = self.state.tr.t("console.title")
            await self.show_route(self.route if event == "language" else "/" + self.shell.screen)

    async def _resized(self, e: ft.PageResizeEvent) -> None:
        if self.shell.set_width(e.width) and self.state.signed_in:
            self.page.update()

    # -- shared services --------------------------------------------------------------------

    async def copy(self, text: str) -> None:
        """Put ``text`` on the clipboard and say so in a snack bar."""
        await ft.Clipboard().set(text)
        self.page.show_dialog(ft.SnackBar(ft.Text(self.state.tr.t("console.copied"))))

    async def fetch_logo(self, url: str | None) -> bytes | None:
        """The business unit's logo bytes (for the branding preview)."""
        if not url:
            return None
        try:
            response = await self.state.api._call("GET", url)  # noqa: SLF001 - same client
        except ApiError:
            return None
        return response.content


def make_main(make_api: Callable[[], StaffApi]) -> Callable[[ft.Page], Any]:
    """The ``main(page)`` Flet calls for each console session."""

    async def main(page: ft.Page) -> None:
        state = ConsoleState(make_api(), Translator())
        console = ConsoleApp(page, state)

        async def closed(_e: Any) -> None:
            with contextlib.suppress(Exception):
                await state.api.aclose()

        page.on_close = closed
        await console.mount()

    return main


def console_asgi_app(make_api: Callable[[], StaffApi]) -> Any:
    """The console as an ASGI app (``no_cdn``), to mount at ``/console``."""
    import flet_web.fastapi as flet_fastapi

    return flet_fastapi.app(make_main(make_api), assets_dir=str(ASSETS_DIR), no_cdn=True)
