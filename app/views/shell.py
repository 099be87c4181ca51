"""The frame around the screens: header, offline banner, navigation, content.

Phones (< 600 px wide) get a NavigationBar at the bottom, wider windows a
NavigationRail on the left. Every screen's controls stay alive; switching tab
only swaps which one the content area holds. On wide windows the content
keeps a readable width (``MAX_CONTENT_WIDTH``), centred.

Every screen has its own web address (``app.views.routes``): navigation goes
through ``navigate(path)`` (wired by ``app.main`` to the browser history), and
``app.main`` shows the screen when the address changes, so the browser's Back
button stays inside the app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import flet as ft

from app.state import AppState
from app.views.account import AccountView
from app.views.activities import ActivitiesView
from app.views.activity_detail import ActionHandler, ActivityDetailView, CalendarHandler
from app.views.booking import BookingView
from app.views.documents import DocumentsView
from app.views.form import FormView
from app.views.home import HomeView
from app.views.new_request import NewRequestView
from app.views.routes import Route, parse_route
from app.views.theme import COMPACT_WIDTH

# Wider than this, lines get hard to read and a status chip drifts far from
# its title: the content stays this wide, centred.
MAX_CONTENT_WIDTH = 840
# The navigation rail and its divider, beside the content on wide windows.
_RAIL_WIDTH = 100

TABS = ("home", "activities", "documents", "account")
_ICONS = {
    "home": (ft.Icons.HOME_OUTLINED, ft.Icons.HOME),
    "activities": (ft.Icons.EVENT_NOTE_OUTLINED, ft.Icons.EVENT_NOTE),
    "documents": (ft.Icons.DESCRIPTION_OUTLINED, ft.Icons.DESCRIPTION),
    "account": (ft.Icons.PERSON_OUTLINE, ft.Icons.PERSON),
}


def tab_for_route(route: str | None) -> str:
    """The tab a web address opens: ``/activities`` → the list, unknown → home."""
    return parse_route(route).tab


class Shell:
    """Signed-in layout; ``main`` wires ``open_activity`` and ``refresh_now``."""

    def __init__(
        self,
        state: AppState,
        open_activity: Callable[[str], Awaitable[None]],
        refresh_now: Callable[[], Awaitable[None]],
        booking: BookingView | None = None,
        on_action: ActionHandler | None = None,
        on_calendar: CalendarHandler | None = None,
    ) -> None:
        """Build every screen once; ``booking`` is the slots screen (``show_booking``)."""
        self.state = state
        self._refresh_now = refresh_now
        self.tab = "home"
        self.in_detail = False
        self.in_booking = False
        self.in_request = False
        self.in_form = False
        self.compact = True
        self.width: float | None = None
        # Wired by ``app.main``: push a web address (the route change shows it).
        self.navigate: Callable[[str], Awaitable[None]] | None = None
        # The "New request" screen, when ``app.main`` wires one.
        self.new_request: NewRequestView | None = None
        # The form screen (fill, sign, survey), when ``app.main`` wires one.
        self.form: FormView | None = None
        self.home = HomeView(state, open_activity, self._show_activities)
        self.activities = ActivitiesView(state, open_activity, new_request=self._open_new_request)
        self.detail = ActivityDetailView(state, self._close_detail, on_action, on_calendar)
        self.booking = booking
        self.documents = DocumentsView(state)
        self.account = AccountView(state)

        self.header_logo = ft.Container()
        self.header_name = ft.Text(
            size=18,
            weight=ft.FontWeight.W_600,
            expand=True,
            max_lines=1,
            overflow=ft.TextOverflow.ELLIPSIS,
        )
        self.refresh_icon = ft.IconButton(icon=ft.Icons.REFRESH, on_click=self._refresh)
        # A named button for screen readers, like every other control.
        self.refresh_button = ft.Semantics(content=self.refresh_icon, button=True)
        self.progress = ft.ProgressBar(visible=False)
        self.status_text = ft.Text(size=13)
        self.banner = ft.Container(
            content=ft.Row([ft.Icon(ft.Icons.CLOUD_OFF, size=18), self.status_text], spacing=8),
            bgcolor=ft.Colors.SECONDARY_CONTAINER,
            padding=ft.Padding.symmetric(vertical=6, horizontal=16),
            visible=False,
        )
        self.content = ft.Container(
            expand=True, padding=ft.Padding.symmetric(horizontal=16, vertical=8)
        )
        self.frame = ft.Row(
            [self.content],
            expand=True,
            spacing=0,
            alignment=ft.MainAxisAlignment.CENTER,
            vertical_alignment=ft.CrossAxisAlignment.STRETCH,
        )
        self.rail = ft.NavigationRail(
            selected_index=0,
            label_type=ft.NavigationRailLabelType.ALL,
            destinations=[
                ft.NavigationRailDestination(icon=_ICONS[t][0], selected_icon=_ICONS[t][1])
                for t in TABS
            ],
            on_change=self._rail_changed,
            visible=False,
        )
        self.rail_divider = ft.VerticalDivider(width=1, visible=False)
        self.bar = ft.NavigationBar(
            selected_index=0,
            destinations=[
                ft.NavigationBarDestination(icon=_ICONS[t][0], selected_icon=_ICONS[t][1])
                for t in TABS
            ],
            on_change=self._bar_changed,
        )
        self.header = ft.Container(
            content=ft.Row(
                [self.header_logo, self.header_name, self.refresh_button],
                vertical_alignment=ft.CrossAxisAlignment.CENTER,
            ),
            padding=ft.Padding.only(left=16, right=8, top=8, bottom=4),
        )
        self.control = ft.SafeArea(
            content=ft.Column(
                [
                    self.header,
                    self.progress,
                    self.banner,
                    ft.Row(
                        [self.rail, self.rail_divider, self.frame],
                        expand=True,
                        vertical_alignment=ft.CrossAxisAlignment.STRETCH,
                        spacing=0,
                    ),
                    self.bar,
                ],
                spacing=0,
                expand=True,
            ),
            expand=True,
        )
        self._place_content()

    # -- layout ------------------------------------------------------------

    def set_width(self, width: float | None) -> bool:
        """Pick phone or wide layout and the content's width; True when it changed."""
        compact = (width or 0) < COMPACT_WIDTH
        room = (width or 0) - (0 if compact else _RAIL_WIDTH)
        content_width = MAX_CONTENT_WIDTH if room > MAX_CONTENT_WIDTH else None
        if (
            compact == self.compact
            and self.bar.visible == compact
            and self.content.width == content_width
        ):
            return False
        self.compact = compact
        self.width = width
        self.bar.visible = compact
        self.rail.visible = not compact
        self.rail_divider.visible = not compact
        # Narrower than the maximum: fill the room; wider: that width, centred.
        self.content.width = content_width
        self.content.expand = content_width is None
        return True

    def _place_content(self) -> None:
        if self.in_form and self.form is not None:
            self.content.content = self.form.control
        elif self.in_request and self.new_request is not None:
            self.content.content = self.new_request.control
        elif self.in_booking and self.booking is not None:
            self.content.content = self.booking.control
        elif self.in_detail:
            self.content.content = self.detail.control
        else:
            self.content.content = {
                "home": self.home.control,
                "activities": self.activities.control,
                "documents": self.documents.control,
                "account": self.account.control,
            }[self.tab]
        index = TABS.index(self.tab)
        self.rail.selected_index = index
        self.bar.selected_index = index

    # -- refresh from state ------------------------------------------------

    def refresh_all(self) -> None:
        """Re-read everything (sign-in, language switch, cache reset)."""
        tr = self.state.tr
        labels = [tr.t(f"nav.{tab}") for tab in TABS]
        for dest, label in zip(self.rail.destinations, labels, strict=True):
            dest.label = label
        for dest, label in zip(self.bar.destinations, labels, strict=True):
            dest.label = label
        brand = self.state.company.branding
        self.header_name.value = brand.name if brand else tr.t("app.title")
        self.header_logo.content = (
            ft.Image(src=self.state.company.logo, height=32) if self.state.company.logo else None
        )
        self.refresh_icon.tooltip = tr.t("activities.refresh")
        self.refresh_button.label = tr.t("activities.refresh")
        self.home.refresh()
        self.activities.refresh()
        self.documents.refresh()
        self.account.refresh()
        if self.in_detail and self.detail.detail is not None:
            self.detail.show(self.detail.detail)
        if self.in_booking and self.booking is not None:
            self.booking.show()
        if self.in_request and self.new_request is not None:
            self.new_request.show()
        if self.in_form and self.form is not None:
            self.form.show()
        self.refresh_status()

    def refresh_status(self) -> None:
        """Banner, progress bar and the account's sync lines."""
        status = self.state.sync_status
        self.progress.visible = status.state == "syncing"
        self.refresh_icon.disabled = status.state == "syncing"
        problem = status.state in ("offline", "error")
        self.banner.visible = problem
        self.status_text.value = self.state.sync_status_text()
        self.account.refresh_status()

    # -- navigation ----------------------------------------------------------

    def set_tab(self, tab: str) -> None:
        """Put a tab in the content area (closing any open detail); no ``update`` here."""
        self.tab = tab
        self.in_detail = False
        self.in_booking = False
        self.in_request = False
        self.in_form = False
        self._place_content()

    async def select(self, tab: str) -> None:
        """Show a tab (closing any open detail)."""
        if tab == "documents":
            # Read when shown: documents change with syncs and downloads.
            self.documents.rows = await self.state.documents.all_rows()
            self.documents.refresh()
        self.set_tab(tab)
        self.control.update()

    async def show_detail(self) -> None:
        """Show the detail screen (already filled) inside the current layout."""
        self.in_detail = True
        self.in_booking = False
        self.in_request = False
        self.in_form = False
        self._place_content()
        self.control.update()

    async def show_booking(self) -> None:
        """Show the slots screen (filled by its model) in place of the detail."""
        self.in_detail = True
        self.in_booking = True
        self.in_request = False
        self.in_form = False
        self._place_content()
        self.control.update()

    async def show_new_request(self) -> None:
        """Show the "New request" screen (filled by its view) under the list's tab."""
        self.tab = "activities"
        self.in_detail = False
        self.in_booking = False
        self.in_request = True
        self.in_form = False
        self._place_content()
        self.control.update()

    async def show_form(self) -> None:
        """Show the form screen (filled by its view) under the appointment's tab."""
        self.tab = "activities"
        self.in_detail = True
        self.in_booking = False
        self.in_request = False
        self.in_form = True
        self._place_content()
        self.control.update()

    async def go(self, route: Route) -> None:
        """Open ``route`` through the browser history (``navigate``), or directly."""
        if self.navigate is not None:
            await self.navigate(route.path)
        else:
            await self.select(route.tab)

    async def _close_detail(self) -> None:
        await self.go(Route("activities"))

    async def _show_activities(self) -> None:
        await self.go(Route("activities"))

    async def _open_new_request(self) -> None:
        await self.go(Route("new_request"))

    async def _rail_changed(self, e: ft.Event[ft.NavigationRail]) -> None:
        await self.go(Route(TABS[e.control.selected_index or 0]))  # type: ignore[arg-type]

    async def _bar_changed(self, e: ft.Event[ft.NavigationBar]) -> None:
        await self.go(Route(TABS[e.control.selected_index]))  # type: ignore[arg-type]

    async def _refresh(self, _e: ft.Event[ft.Control]) -> None:
        await self._refresh_now()
