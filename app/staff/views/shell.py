"""The console's frame: a top bar (business unit, language, sign out), a
navigation rail on wide windows or a drawer on phones, and the screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

import flet as ft

from app.i18n import LANGUAGES
from app.views.theme import COMPACT_WIDTH

if TYPE_CHECKING:
    from app.staff.main import ConsoleApp

# (screen, icon, selected icon), in the navigation's order.
SCREENS: tuple[tuple[str, str, str], ...] = (
    ("portal", ft.Icons.TUNE_OUTLINED, ft.Icons.TUNE),
    ("clients", ft.Icons.PEOPLE_OUTLINE, ft.Icons.PEOPLE),
    ("types", ft.Icons.CATEGORY_OUTLINED, ft.Icons.CATEGORY),
    ("forms", ft.Icons.DESCRIPTION_OUTLINED, ft.Icons.DESCRIPTION),
    ("messages", ft.Icons.OUTBOX_OUTLINED, ft.Icons.OUTBOX),
    ("staff", ft.Icons.ADMIN_PANEL_SETTINGS_OUTLINED, ft.Icons.ADMIN_PANEL_SETTINGS),
)


class ConsoleShell:
    """Signed-in layout; ``screens`` lists what the staff member may open."""

    def __init__(self, console: ConsoleApp) -> None:
        """Build the frame once; ``refresh`` fills labels, ``place`` puts a screen in."""
        self.console = console
        self.state = console.state
        self.screen = "portal"
        self.compact = False
        self.content = ft.Container(expand=True, padding=ft.Padding.symmetric(horizontal=16))
        self.rail = ft.NavigationRail(
            label_type=ft.NavigationRailLabelType.ALL, on_change=self._rail_changed
        )
        self.rail_divider = ft.VerticalDivider(width=1)
        self.drawer = ft.NavigationDrawer(on_change=self._drawer_changed)
        self.bu = ft.Dropdown(on_select=self._bu_changed, width=300, dense=True)
        # The dropdown's label is not its accessible name: say it.
        self.bu_named = ft.Semantics(content=self.bu)
        self.language = ft.TextButton(on_click=self._language)
        self.sign_out = ft.TextButton(icon=ft.Icons.LOGOUT, on_click=self._sign_out)
        self.menu_icon = ft.IconButton(ft.Icons.MENU, on_click=self._open_drawer)
        # A named button for screen readers (an icon button's tooltip is not its name).
        self.menu = ft.Semantics(content=self.menu_icon, button=True, visible=True)
        self.who = ft.Text(size=12)
        self.appbar = ft.AppBar(
            leading=self.menu,
            # No automatic drawer button on wide windows: the rail is there.
            automatically_imply_leading=False,
            title=ft.Text(size=18, weight=ft.FontWeight.W_600),
            actions=[self.language, self.sign_out],
        )
        self.body = ft.Row(
            [self.rail, self.rail_divider, self.content],
            expand=True,
            spacing=0,
            vertical_alignment=ft.CrossAxisAlignment.STRETCH,
        )
        self.header = ft.Container(
            content=ft.Row([self.bu_named, self.who], wrap=True, spacing=12),
            padding=ft.Padding.only(left=16, right=16, top=8, bottom=4),
        )
        self.control = ft.Column([self.header, self.body], expand=True, spacing=0)

    @property
    def screens(self) -> list[str]:
        """The screens the staff member may open (Staff: admins only)."""
        return [s for s, *_ in SCREENS if s != "staff" or self.state.is_admin_anywhere]

    def set_width(self, width: float | None) -> bool:
        """Rail on wide windows, drawer on phones; True when it changed."""
        compact = (width or 0) < COMPACT_WIDTH
        if compact == self.compact and self.menu.visible == compact:
            return False
        self.compact = compact
        self.rail.visible = self.rail_divider.visible = not compact
        self.menu.visible = compact
        self.appbar.leading = self.menu if compact else None
        return True

    def refresh(self) -> None:
        """Fill every label from the state (no ``update`` here)."""
        tr = self.state.tr
        icons = {s: (i, si) for s, i, si in SCREENS}
        names = self.screens
        self.rail.destinations = [
            ft.NavigationRailDestination(
                icon=icons[s][0], selected_icon=icons[s][1], label=tr.t(f"console.nav.{s}")
            )
            for s in names
        ]
        self.drawer.controls = [
            ft.Container(height=12),
            *[
                ft.NavigationDrawerDestination(
                    icon=icons[s][0], selected_icon=icons[s][1], label=tr.t(f"console.nav.{s}")
                )
                for s in names
            ],
        ]
        index = names.index(self.screen) if self.screen in names else 0
        self.rail.selected_index = index
        self.drawer.selected_index = index
        self.appbar.title.value = tr.t("console.title")  # type: ignore[union-attr]
        staff = self.state.staff
        self.bu.label = tr.t("console.business_unit")
        self.bu_named.label = tr.t("console.business_unit")
        self.bu.options = [
            ft.DropdownOption(key=str(m.business_unit_id), text=m.business_unit_name)
            for m in (staff.memberships if staff else [])
        ]
        self.bu.value = str(self.state.bu_id) if self.state.bu_id is not None else None
        role = self.state.role
        self.who.value = (
            tr.t("console.signed_in_as", name=staff.name, role=tr.t(f"console.role.{role}"))
            if staff and role
            else ""
        )
        other = next((lang for lang in LANGUAGES if lang != tr.language), tr.language)
        self.language.content = "Français" if other == "fr" else "English"
        self.sign_out.content = tr.t("console.sign_out")
        self.menu_icon.tooltip = tr.t("console.menu")
        self.menu.label = tr.t("console.menu")

    def update(self) -> None:
        """Redraw the frame's own controls (unit menu, names) when on the page."""
        for control in (self.header, self.appbar):
            try:
                if control.page is not None:
                    control.update()
            except RuntimeError:
                pass  # not on the page (a test, or signed out)

    def place(self, screen: str, control: ft.Control) -> None:
        """Show ``control`` as the current screen (no ``update`` here)."""
        self.screen = screen
        self.content.content = control
        self.refresh()

    def view(self, route: str) -> ft.View:
        """The page view holding the frame."""
        return ft.View(
            route=route,
            controls=[self.control],
            appbar=self.appbar,
            drawer=self.drawer,
            padding=0,
        )

    # -- handlers -----------------------------------------------------------------------

    async def _go(self, index: int | None) -> None:
        names = self.screens
        await self.console.navigate("/" + names[index or 0])

    async def _rail_changed(self, e: ft.Event[ft.NavigationRail]) -> None:
        await self._go(e.control.selected_index)

    async def _drawer_changed(self, e: ft.Event[ft.NavigationDrawer]) -> None:
        await self.console.page.close_drawer()
        await self._go(e.control.selected_index)

    async def _open_drawer(self, _e: ft.Event[ft.Control]) -> None:
        await self.console.page.show_drawer()

    async def _bu_changed(self, e: ft.Event[ft.Dropdown]) -> None:
        if e.control.value:
            await self.state.choose_business_unit(int(e.control.value))

    async def _language(self, _e: ft.Event[ft.Control]) -> None:
        tr = self.state.tr
        other = next((lang for lang in LANGUAGES if lang != tr.language), tr.language)
        await self.state.set_language(other)

    async def _sign_out(self, _e: ft.Event[ft.Control]) -> None:
        await self.state.sign_out()
