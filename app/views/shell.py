"""The frame around the screens: header, offline banner, navigation, content.

Phones (< 600 px wide) get a NavigationBar at the bottom, wider windows a
NavigationRail on the left. Every screen's controls stay alive; switching tab
only swaps which one the content area holds. The web address picks the first
tab (``/activities`` opens the appointment list, see ``tab_for_route``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import flet as ft

from app.state import AppState
from app.views.account import AccountView
from app.views.activities import ActivitiesView
from app.views.activity_detail import ActivityDetailView
from app.views.home import HomeView
from app.views.theme import COMPACT_WIDTH

TABS = ("home", "activities", "account")
_ICONS = {
    "home": (ft.Icons.HOME_OUTLINED, ft.Icons.HOME),
    "activities": (ft.Icons.EVENT_NOTE_OUTLINED, ft.Icons.EVENT_NOTE),
    "account": (ft.Icons.PERSON_OUTLINE, ft.Icons.PERSON),
}


def tab_for_route(route: str | None) -> str:
    """The tab a web address opens: ``/activities`` → the list, unknown → home."""
    first = (route or "").split("#", 1)[0].split("?", 1)[0].strip("/").split("/", 1)[0]
    return first if first in TABS else "home"


class Shell:
    """Signed-in layout; ``main`` wires ``open_activity`` and ``refresh_now``."""

    def __init__(
        self,
        state: AppState,
        open_activity: Callable[[str], Awaitable[None]],
        refresh_now: Callable[[], Awaitable[None]],
    ) -> None:
        """Build every screen once."""
        self.state = state
        self._refresh_now = refresh_now
        self.tab = "home"
        self.in_detail = False
        self.compact = True
        self.home = HomeView(state, open_activity, self._show_activities)
        self.activities = ActivitiesView(state, open_activity)
        self.detail = ActivityDetailView(state, self._close_detail)
        self.account = AccountView(state)

        self.header_logo = ft.Container()
        self.header_name = ft.Text(size=18, weight=ft.FontWeight.W_600, expand=True,
                                   max_lines=1, overflow=ft.TextOverflow.ELLIPSIS)
        self.refresh_button = ft.IconButton(icon=ft.Icons.REFRESH, on_click=self._refresh)
        self.progress = ft.ProgressBar(visible=False)
        self.status_text = ft.Text(size=13)
        self.banner = ft.Container(
            content=ft.Row([ft.Icon(ft.Icons.CLOUD_OFF, size=18), self.status_text],
                           spacing=8),
            bgcolor=ft.Colors.SECONDARY_CONTAINER,
            padding=ft.Padding.symmetric(vertical=6, horizontal=16),
            visible=False,
        )
        self.content = ft.Container(expand=True, padding=ft.Padding.symmetric(horizontal=16,
                                                                               vertical=8))
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
            content=ft.Row([self.header_logo, self.header_name, self.refresh_button],
                           vertical_alignment=ft.CrossAxisAlignment.CENTER),
            padding=ft.Padding.only(left=16, right=8, top=8, bottom=4),
        )
        self.control = ft.SafeArea(
            content=ft.Column(
                [
                    self.header,
                    self.progress,
                    self.banner,
                    ft.Row([self.rail, self.rail_divider, self.content], expand=True,
                           vertical_alignment=ft.CrossAxisAlignment.STRETCH, spacing=0),
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
        """Pick phone or wide layout; True when it changed."""
        compact = (width or 0) < COMPACT_WIDTH
        if compact == self.compact and (self.bar.visible == compact):
            return False
        self.compact = compact
        self.bar.visible = compact
        self.rail.visible = not compact
        self.rail_divider.visible = not compact
        return True

    def _place_content(self) -> None:
        if self.in_detail:
            self.content.content = self.detail.control
        else:
            self.content.content = {
                "home": self.home.control,
                "activities": self.activities.control,
                "account": self.account.control,
            }[self.tab]
        index = TABS.index(self.tab)
        self.rail.selected_index = index
        self.bar.selected_index = index

    # -- refresh from state ------------------------------------------------

    def refresh_all(self) -> None:
        """Re-read everything (sign-in, language switch, cache reset)."""
        tr = self.state.tr
        labels = [tr.t("nav.home"), tr.t("nav.activities"), tr.t("nav.account")]
        for dest, label in zip(self.rail.destinations, labels, strict=True):
            dest.label = label
        for dest, label in zip(self.bar.destinations, labels, strict=True):
            dest.label = label
        brand = self.state.branding
        self.header_name.value = brand.name if brand else tr.t("app.title")
        self.header_logo.content = (
            ft.Image(src=self.state.logo, height=32) if self.state.logo else None
        )
        self.refresh_button.tooltip = tr.t("activities.refresh")
        self.home.refresh()
        self.activities.refresh()
        self.account.refresh()
        if self.in_detail and self.detail.detail is not None:
            self.detail.show(self.detail.detail)
        self.refresh_status()

    def refresh_status(self) -> None:
        """Banner, progress bar and the account's sync lines."""
        status = self.state.sync_status
        self.progress.visible = status.state == "syncing"
        self.refresh_button.disabled = status.state == "syncing"
        problem = status.state in ("offline", "error")
        self.banner.visible = problem
        self.status_text.value = self.state.sync_status_text()
        self.account.refresh_status()

    # -- navigation ----------------------------------------------------------

    def set_tab(self, tab: str) -> None:
        """Put a tab in the content area (closing any open detail); no ``update`` here."""
        self.tab = tab
        self.in_detail = False
        self._place_content()

    async def select(self, tab: str) -> None:
        """Show a tab (closing any open detail)."""
        self.set_tab(tab)
        self.control.update()

    async def show_detail(self) -> None:
        """Show the detail screen (already filled) inside the current layout."""
        self.in_detail = True
        self._place_content()
        self.control.update()

    async def _close_detail(self) -> None:
        await self.select("activities")

    async def _show_activities(self) -> None:
        await self.select("activities")

    async def _rail_changed(self, e: ft.Event[ft.NavigationRail]) -> None:
        await self.select(TABS[e.control.selected_index or 0])

    async def _bar_changed(self, e: ft.Event[ft.NavigationBar]) -> None:
        await self.select(TABS[e.control.selected_index])

    async def _refresh(self, _e: ft.Event[ft.Control]) -> None:
        await self._refresh_now()
