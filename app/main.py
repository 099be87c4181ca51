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

from app.activities import ACTIVITIES, ActionItem
from app.booking import BookingModel
from app.booking_rules import FORM_KINDS, SLOT_KINDS
from app.company import BRANDING
from app.config import PERIODIC_ATTEMPTS, AppConfig
from app.form_filling import FormModel
from app.i18n import LANGUAGES
from app.link_handoff import take_pending_link
from app.new_request import Created, NewRequestModel
from app.state import PROFILE, AppState
from app.submission_status import SubmissionLine
from app.sync.api import PortalApi
from app.sync.engine import SyncResult, open_store
from app.sync.outbox import Outbox
from app.sync.push import OUTBOX
from app.sync.store import Store
from app.sync.tokens import MemoryTokenStore, TokenStore
from app.views.booking import BookingView, CalendarSaver, CancelDialog
from app.views.form import FormView
from app.views.new_request import NewRequestView
from app.views.routes import Route, parse_route
from app.views.shell import Shell
from app.views.sign_in import SignInView
from app.views.theme import apply_theme

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
# Fields a form shows in its first update (more than a phone screen holds).
FIRST_FIELDS = 6
REST_DELAY = 0.1


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
        self.booking = BookingModel(state)
        self.booking.on_change = self._booking_changed
        self.booking_view = BookingView(self.booking, self._booking_closed)
        self.calendar = CalendarSaver(self.booking)
        self.shell = Shell(
            state,
            self.open_activity,
            self.refresh_now,
            booking=self.booking_view,
            on_action=self._run_action,
            on_calendar=self._add_to_calendar,
        )
        self.requests = NewRequestModel(state)
        self.request_view = NewRequestView(self.requests, self._request_back, self._request_created)
        self.shell.new_request = self.request_view
        self.forms = FormModel(state)
        self.form_view = FormView(self.forms, self._form_back)
        self.shell.form = self.form_view
        self.shell.detail.on_fix = self._fix_submission
        self.shell.detail.on_discard = self._discard_submission
        self.shell.navigate = self.navigate
        self.root = ft.Container(expand=True)
        self._stop = asyncio.Event()
        self._periodic: Future[None] | None = None
        self._open_detail_id: str | None = None
        # Whether the slots screen of the current booking is on the page yet.
        self._booking_shown = False
        # A request just sent with a bookable type: its slots screen opens
        # when its address is shown.
        self._book_on_show: str | None = None
        # A refused submission to reopen for fixing when its form's address is shown.
        self._fixing: tuple[str, str, str] | None = None
        self._seed: str | None = None
        # The screen a web address asked for; shown now, or right after sign-in.
        self._start_route = Route("home")
        # The screen of the address the browser shows (its last route change).
        self._address = Route("home")
        state.subscribe(self._on_event)

    async def mount(self) -> None:
        """Show the right screen and start syncing when signed in."""
        page = self.page
        page.title = self.state.tr.t("app.title")
        page.padding = 0
        self._apply_theme()
        page.on_resize = self._on_resize
        page.on_close = self._on_close
        page.on_route_change = self._route_changed
        self.shell.set_width(page.width)
        # A deep link (…/activities/12) opens that screen now, or right after sign-in.
        self._start_route = self._address = parse_route(page.route)
        self.shell.set_tab(self._start_route.tab)
        page.add(self.root)
        self._show_current()
        page.update()
        link = await take_pending_link()
        if self.state.signed_in:
            # The documents list is read from the store, offline too.
            await self.shell.documents.reload()
            # Already signed in: the link is dropped (take_pending_link removed it).
            await self._show_start_screen()
            self._start_periodic()
            return
        if link:
            await self.state.sign_in.open_link(link)
        await self.state.company.load_public_branding()

    # -- screens -------------------------------------------------------------

    def _apply_locale(self) -> None:
        """Flutter's own words (a text field's counter, the date picker) in the app's language."""
        self.page.locale_configuration = ft.LocaleConfiguration(
            supported_locales=[ft.Locale(code) for code in LANGUAGES],
            current_locale=ft.Locale(self.state.tr.language),
        )

    def _apply_theme(self) -> bool:
        """Seed the theme with the company's colour; True when it changed."""
        seed = self.state.company.color
        if seed != self._seed or self.page.theme is None:
            self._seed = seed
            apply_theme(self.page, seed)
            return True
        return False

    def _show_current(self) -> None:
        self._apply_locale()
        if self.state.signed_in:
            self.shell.refresh_all()
            self.root.content = self.shell.control
        else:
            self.sign_in.refresh()
            self.root.content = self.sign_in.control

    # -- state events ----------------------------------------------------------

    async def _on_event(self, event: str, data: Any) -> None:
        if event == "signin":
            # The company's language may have just arrived (public branding):
            # the tab's title and Flutter's own words follow it.
            title = self.state.tr.t("app.title")
            retitled = title != self.page.title
            self.page.title = title
            self._apply_locale()
            self.sign_in.refresh()
            if self._apply_theme() or retitled:
                self.page.update()  # colours or language arrived: repaint all
            else:
                self._patch(self.sign_in.control)
        elif event == "session":
            self._open_detail_id = None
            self.shell.set_tab(self._start_route.tab if data else "home")
            self.shell.activities.reset_pages()
            self._apply_theme()
            self._show_current()
            self.page.update()
            if data:
                await self.shell.documents.reload()
                await self._show_start_screen()
                self._start_periodic()
            else:
                self._stop.set()
                self.page.run_task(self.state.company.load_public_branding)
        elif event == "status":
            self.shell.refresh_status()
            self._patch(
                self.shell.progress,
                self.shell.banner,
                self.shell.refresh_button,
                self.shell.account.sync_text,
                self.shell.account.pending,
            )
        elif event == "data" and isinstance(data, SyncResult):
            await self._apply_sync(data)
        if event in ("status", "data") and self.shell.in_form:
            # "Waiting to be sent" becomes "sent" (or refused) when the push ran.
            screen = self.forms.screen
            if screen is not None and screen.phase == "queued":
                await self.forms.refresh_sent()
                self.form_view.show()
                self._patch(self.form_view.control)
        elif event == "language":
            self.page.title = self.state.tr.t("app.title")
            self._show_current()
            if self._open_detail_id:
                self.shell.detail.show(
                    await self.state.activities.activity_detail(self._open_detail_id)
                )
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
        if self.shell.tab == "documents" and (result.reset or changed.get(ACTIVITIES)):
            await self.shell.documents.reload()
        # The outbox names the activities whose forms were sent or refused.
        touched = changed.get(ACTIVITIES, set()) | {str(i) for i in changed.get(OUTBOX, set())}
        if self._open_detail_id and (result.reset or self._open_detail_id in touched):
            self.shell.detail.show(
                await self.state.activities.activity_detail(self._open_detail_id)
            )
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

    # -- routes ------------------------------------------------------------------

    async def navigate(self, path: str) -> None:
        """Go to a screen through the browser history: the route change shows it."""
        await self.page.push_route(path)

    async def _route_changed(self, e: ft.RouteChangeEvent) -> None:
        await self.show_route(e.route)

    async def show_route(self, path: str) -> None:
        """Show the screen of a web address (signed out: remember it for later)."""
        route = parse_route(path)
        self._address = route
        if not self.state.signed_in:
            self._start_route = route
            return
        if route.screen == "detail" and route.activity_id:
            await self._show_activity(route.activity_id)
        elif route.screen == "book" and route.activity_id:
            await self.open_booking(route.activity_id)
        elif route.screen == "form" and route.activity_id and route.action_key:
            fixing, self._fixing = self._fixing, None
            await self._open_form(
                route.activity_id,
                route.action_key,
                fixing=fixing[2]
                if fixing and fixing[:2] == (route.activity_id, route.action_key)
                else None,
            )
        elif route.screen == "new_request":
            await self._open_new_request()
        else:
            self._open_detail_id = None
            await self.shell.select(route.tab)

    async def _show_start_screen(self) -> None:
        """After sign-in (or at start when signed in), the screen the address asked for."""
        start, self._start_route = self._start_route, Route("home")
        if start.activity_id:
            await self.state.activities.ensure_activity(start.activity_id)
        if start.screen in ("detail", "book", "form", "new_request"):
            await self.show_route(start.path)

    async def open_activity(self, activity_id: str) -> None:
        """Open one appointment (its own address, so Back returns here)."""
        await self.navigate(Route("detail", activity_id).path)

    async def _show_activity(self, activity_id: str) -> None:
        """Show one appointment's detail (or its slots screen, for a request just sent)."""
        if self._book_on_show == activity_id:
            self._book_on_show = None
            await self.open_booking(activity_id)
            return
        self._open_detail_id = activity_id
        self.shell.detail.show(await self.state.activities.activity_detail(activity_id))
        await self.shell.show_detail()

    # -- booking -----------------------------------------------------------------

    async def open_booking(self, activity_id: str) -> None:
        """The slots screen for ``activity_id`` (route ``/activities/{id}/book``):
        book, or reschedule when it already has a date."""
        self._open_detail_id = activity_id
        self.booking.close()
        self.booking_view.reset()
        self._booking_shown = False
        await self.booking.open(activity_id)
        if not self._booking_shown:
            await self._booking_changed()

    async def _run_action(self, page: ft.Page, activity_id: str, action: ActionItem) -> None:
        if action.kind in SLOT_KINDS:
            # A step of the appointment's screen, under its address: Flet's web
            # client can only push history entries, never replace one, so a
            # slots screen with its own entry would stay behind after the
            # booking and Back would reopen it. (/activities/{id}/book stays a
            # link that opens it.)
            await self.open_booking(activity_id)
        elif action.kind == "cancel":
            CancelDialog(self.booking, activity_id, self._cancelled).open(page)
        elif action.kind in FORM_KINDS:
            await self.navigate(Route("form", activity_id, action.key).path)

    # -- forms ---------------------------------------------------------------------

    async def _open_form(
        self, activity_id: str, action_key: str, fixing: str | None = None
    ) -> None:
        """The form screen of one action (offline too: all it needs is in the cache)."""
        self._open_detail_id = activity_id
        await self.forms.open(activity_id, action_key, fixing=fixing)
        # A long form: its first screenful now, the rest right after.
        self.form_view.show(first=FIRST_FIELDS)
        await self.shell.show_form()
        # After the browser has drawn the first part (one frame or two).
        await asyncio.sleep(REST_DELAY)
        await self.form_view.show_rest()

    async def fix_refused(self, activity_id: str, action_key: str, mutation_id: str) -> None:
        """Reopen a refused submission with what was sent, to fix and send again."""
        self._fixing = (activity_id, action_key, mutation_id)
        await self.navigate(Route("form", activity_id, action_key).path)

    async def _fix_submission(self, activity_id: str, line: SubmissionLine) -> None:
        if line.mutation_id:
            await self.fix_refused(activity_id, line.action_key, line.mutation_id)

    async def _discard_submission(self, activity_id: str, line: SubmissionLine) -> None:
        if line.mutation_id:
            await asyncio.to_thread(Outbox(self.state.store).dismiss, line.mutation_id)
        if self._open_detail_id == activity_id:
            self.shell.detail.show(await self.state.activities.activity_detail(activity_id))
            self._patch(self.shell.detail.control)

    async def _form_back(self) -> None:
        activity_id = self.forms.screen.activity_id if self.forms.screen else None
        await self.navigate(Route("detail", activity_id).path if activity_id else "/activities")

    async def _booking_changed(self) -> None:
        self.booking_view.show()
        if self._booking_shown:
            self._patch(self.booking_view.control)
        else:
            # First draw: the screen goes in filled, in one update (proposals
            # that came quickly, or the spinner when they take a while).
            self._booking_shown = True
            await self.shell.show_booking()

    async def _booking_closed(self, booked: bool) -> None:
        """Back from the slots screen to the appointment, which shows the new date.

        Opened from the appointment, the slots screen is already at its
        address: the appointment comes back in place, adding no history entry,
        so Back then goes where the client came from (the list), not to the
        slots. Opened by a link to ``/book``, the appointment gets its address.
        """
        screen = self.booking.screen
        text = screen.booked_text if booked and screen else None
        self.booking.close()
        activity_id = self._open_detail_id
        if activity_id and self._address == Route("detail", activity_id):
            await self._show_activity(activity_id)
        elif activity_id:
            await self.open_activity(activity_id)
        if text:
            self._snack(text)

    # -- new request ---------------------------------------------------------------

    async def _open_new_request(self) -> None:
        self._open_detail_id = None
        self.request_view.prepare()
        await self.shell.show_new_request()
        await self.request_view.load()

    async def _request_back(self) -> None:
        await self.navigate(Route("activities").path)

    async def _request_created(self, created: Created) -> None:
        """A bookable request goes on to its slots screen; otherwise it is sent."""
        if created.bookable:
            # The slots open at the new appointment's address, as from its screen.
            self._book_on_show = created.activity_id
            await self.navigate(Route("detail", created.activity_id).path)
        else:
            await self.navigate(Route("detail", created.activity_id).path)
            self._snack(self.state.tr.t("request.sent"))

    async def _cancelled(self) -> None:
        self._snack(self.state.tr.t("cancel.done"))

    async def _add_to_calendar(self, page: ft.Page, activity_id: str) -> None:
        if not await self.calendar.save(activity_id):
            self._snack(self.state.tr.t("booking.no_calendar"))

    def _snack(self, text: str) -> None:
        self.page.show_dialog(ft.SnackBar(ft.Text(text), duration=6000))

    async def refresh_now(self) -> None:
        """The refresh button: one attempt, the status bar says how it went."""
        await self.state.refresh(max_attempts=1)

    def _start_periodic(self) -> None:
        if self._periodic is not None and not self._periodic.done():
            return
        self._stop = asyncio.Event()
        self._periodic = self.page.run_task(
            self.state.run_periodic,
            self.runtime.config.sync_interval,
            self._stop,
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
            # page.web: Flet runs as a web page; every pushed form says so.
            channel = "web" if page.web else "app"
            state = AppState(runtime.make_api(), store, tokens, channel=channel)
            await state.start()
        except Exception:
            # Never a traceback on screen: a short sentence, details in the log.
            log.exception("the app could not start")
            page.add(
                ft.Text(
                    "The app could not open its local data. / "
                    "L’application n’a pas pu ouvrir ses données locales."
                )
            )
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
