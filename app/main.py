"""The Flet app: one ``AppState`` per session, the screens, background sync.

``run_app`` starts it with ``ft.run`` (desktop window, or the web client with
``no_cdn=True``); ``web_asgi_app`` returns the web client as an ASGI app to
serve beside the API (``portal serve``).

Rules kept here (DESIGN.md §6): every handler is async; controls are built
once and patched — a sync sends only the rows it changed
(``SyncResult.changed_ids``); network and disk work happen in ``AppState``
(httpx async, store calls in threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flet as ft

from app.config import PERIODIC_ATTEMPTS, AppConfig
from app.link_handoff import take_pending_link
from app.state import ACTIVITIES, BRANDING, PROFILE, AppState, MemoryTokenStore
from app.sync.api import PortalApi
from app.sync.engine import SyncResult, open_store
from app.sync.store import Store
from app.sync.tokens import TokenStore
from app.views.shell import Shell, tab_for_route
from app.views.sign_in import SignInView
from app.views.theme import apply_theme

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"


@dataclass
class Runtime:
    """What each session needs: how to reach the backend, where to keep data.

    ``device`` mode (``portal app``): one user, the cache in the app data dir,
    the token in the OS keyring. ``shared`` mode (``portal serve``): many
    browser users in one server process, so each session gets its own cache
    file (deleted when the session closes) and a memory-only token.
    """

    make_api: Callable[[], PortalApi]
    config: AppConfig
    shared: bool = False

    def open_store(self, session_id: str) -> Store:
        """The session's local cache."""
        if self.shared:
            return open_store(self.session_store_path(session_id))
        return open_store(self.config.store_path)

    def session_store_path(self, session_id: str) -> Path:
        """Per-session cache file in shared mode."""
        return self.config.data_dir / "web-sessions" / f"{session_id}.sqlite3"

    def make_tokens(self) -> Any:
        """Keyring-backed tokens on a device; memory only when serving many users."""
        if self.shared:
            return MemoryTokenStore()
        return TokenStore(service=self.config.keyring_service)


class PortalApp:
    """One session's UI: wires ``AppState`` events to the screens."""

    def __init__(self, page: ft.Page, state: AppState, runtime: Runtime) -> None:
        """Build the screens (nothing is shown until ``mount``)."""
        self.page = page
        self.state = state
        self.runtime = runtime
        self.sign_in = SignInView(state)
        self.shell = Shell(state, self.open_activity, self.refresh_now)
        self.root = ft.Container(expand=True)
        self._stop = asyncio.Event()
        self._periodic: Future[None] | None = None
        self._open_detail_id: str | None = None
        self._seed: str | None = None
        self._start_tab = "home"
        state.subscribe(self._on_event)

    async def mount(self) -> None:
        """Show the right screen and start syncing when signed in."""
        page = self.page
        page.title = self.state.tr.t("app.title")
        page.padding = 0
        self._apply_theme()
        page.on_resize = self._on_resize
        page.on_close = self._on_close
        self.shell.set_width(page.width)
        # A deep link (…/activities) opens that tab now, or right after sign-in.
        self._start_tab = tab_for_route(page.route)
        self.shell.set_tab(self._start_tab)
        page.add(self.root)
        self._show_current()
        page.update()
        link = await take_pending_link()
        if self.state.signed_in:
            # Already signed in: the link is dropped (take_pending_link removed it).
            self._start_periodic()
            return
        if link:
            await self.state.open_link(link)
        await self.state.load_public_branding()

    # -- screens -------------------------------------------------------------

    def _apply_theme(self) -> bool:
        """Seed the theme with the company's colour; True when it changed."""
        seed = self.state.company_color
        if seed != self._seed or self.page.theme is None:
            self._seed = seed
            apply_theme(self.page, seed)
            return True
        return False

    def _show_current(self) -> None:
        if self.state.signed_in:
            self.shell.refresh_all()
            self.root.content = self.shell.control
        else:
            self.sign_in.refresh()
            self.root.content = self.sign_in.control

    # -- state events ----------------------------------------------------------

    async def _on_event(self, event: str, data: Any) -> None:
        if event == "signin":
            self.sign_in.refresh()
            if self._apply_theme():
                self.page.update()  # the company's colours arrived: repaint all
            else:
                self._patch(self.sign_in.control)
        elif event == "session":
            self._open_detail_id = None
            self.shell.set_tab(self._start_tab if data else "home")
            self.shell.activities.reset_pages()
            self._apply_theme()
            self._show_current()
            self.page.update()
            if data:
                self._start_periodic()
            else:
                self._stop.set()
                self.page.run_task(self.state.load_public_branding)
        elif event == "status":
            self.shell.refresh_status()
            self._patch(self.shell.progress, self.shell.banner, self.shell.refresh_button,
                        self.shell.account.sync_text, self.shell.account.pending)
        elif event == "data" and isinstance(data, SyncResult):
            await self._apply_sync(data)
        elif event == "language":
            self.page.title = self.state.tr.t("app.title")
            self._show_current()
            if self._open_detail_id:
                self.shell.detail.show(await self.state.activity_detail(self._open_detail_id))
            self.page.update()

    async def _apply_sync(self, result: SyncResult) -> None:
        """Patch what a sync changed; rebuild only after a reset or new branding."""
        changed = result.changed_ids
        if result.reset or PROFILE in changed or BRANDING in changed:
            self._apply_theme()
            self.shell.refresh_all()
            self.page.update()
        else:
            dirty = self.shell.activities.sync_rows(changed.get(ACTIVITIES, set()))
            self.shell.home.refresh()
            self._patch(*dirty, self.shell.home.control)
        if self._open_detail_id and (
            result.reset or self._open_detail_id in changed.get(ACTIVITIES, set())
        ):
            self.shell.detail.show(await self.state.activity_detail(self._open_detail_id))
            self._patch(self.shell.detail.control)

    def _patch(self, *controls: ft.Control) -> None:
        """Send these controls' changes, skipping those not on screen right now.

        A control off screen keeps its new values and is sent whole when it
        is shown again.
        """
        shown = []
        for control in controls:
            try:
                if control.page is not None:
                    shown.append(control)
            except RuntimeError:
                continue  # not attached to the page
        if shown:
            self.page.update(*shown)

    # -- actions -----------------------------------------------------------------

    async def open_activity(self, activity_id: str) -> None:
        """Show one appointment's detail."""
        self._open_detail_id = activity_id
        self.shell.detail.show(await self.state.activity_detail(activity_id))
        await self.shell.show_detail()

    async def refresh_now(self) -> None:
        """The refresh button: one attempt, the status bar says how it went."""
        await self.state.refresh(max_attempts=1)

    def _start_periodic(self) -> None:
        if self._periodic is not None and not self._periodic.done():
            return
        self._stop = asyncio.Event()
        self._periodic = self.page.run_task(
            self.state.run_periodic, self.runtime.config.sync_interval, self._stop,
            PERIODIC_ATTEMPTS,
        )

    async def _on_resize(self, e: ft.PageResizeEvent) -> None:
        if self.shell.set_width(e.width):
            self._patch(self.shell.control)

    async def _on_close(self, _e: ft.Event[ft.Page]) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop syncing and release the network client and the cache."""
        self._stop.set()
        with contextlib.suppress(Exception):
            await self.state.api.aclose()
        await asyncio.to_thread(self.state.store.close)
        if self.runtime.shared:
            # A shared server keeps no browser user's data after they leave.
            for suffix in ("", "-wal", "-shm"):
                path = Path(str(self.runtime.session_store_path(self._session_id)) + suffix)
                with contextlib.suppress(OSError):
                    path.unlink()

    _session_id = ""


def make_main(runtime: Runtime) -> Callable[[ft.Page], Any]:
    """The ``main(page)`` Flet calls for each new session."""

    async def main(page: ft.Page) -> None:
        session_id = uuid.uuid4().hex
        try:
            store = await asyncio.to_thread(runtime.open_store, session_id)
            # Reading the keyring may block (D-Bus, Keychain prompt).
            tokens = await asyncio.to_thread(runtime.make_tokens)
            state = AppState(runtime.make_api(), store, tokens)
            await state.start()
        except Exception:
            # Never a traceback on screen: a short sentence, details in the log.
            log.exception("the app could not start")
            page.add(ft.Text("The app could not open its local data. / "
                             "L’application n’a pas pu ouvrir ses données locales."))
            return
        ui = PortalApp(page, state, runtime)
        ui._session_id = session_id
        await ui.mount()

    return main


def run_app(runtime: Runtime, *, web: bool, port: int = 0, host: str | None = None) -> None:
    """Run the app: a desktop window, or (``web``) the web client on localhost."""
    view = ft.AppView.WEB_BROWSER if web else ft.AppView.FLET_APP
    ft.run(
        make_main(runtime),
        view=view,
        port=port,
        host=host,
        assets_dir=str(ASSETS_DIR),
        no_cdn=True,
    )


def web_asgi_app(runtime: Runtime) -> Any:
    """The Flet web client as an ASGI app (``no_cdn``), to mount beside the API."""
    import flet_web.fastapi as flet_fastapi

    return flet_fastapi.app(make_main(runtime), assets_dir=str(ASSETS_DIR), no_cdn=True)
