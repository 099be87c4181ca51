"""Home: a welcome, the next appointment, the business unit's contact buttons.

The company's logo and name are in the shell's header, above every tab, so
this screen does not repeat them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import flet as ft

from app.activities import ActivityItem
from app.state import AppState
from app.views.theme import section_title, status_chip


class HomeView:
    """Welcome, next appointment and contacts; ``refresh`` re-reads the state."""

    def __init__(
        self,
        state: AppState,
        open_activity: Callable[[str], Awaitable[None]],
        show_all: Callable[[], Awaitable[None]],
    ) -> None:
        """``open_activity(id)`` opens a detail; ``show_all()`` opens the list."""
        self.state = state
        self._open_activity = open_activity
        self._show_all = show_all
        self.description = ft.Text()
        self.welcome = ft.Text(size=22, weight=ft.FontWeight.BOLD)
        self.contact_title = section_title("")
        self.call = ft.OutlinedButton(icon=ft.Icons.PHONE)
        self.email = ft.OutlinedButton(icon=ft.Icons.EMAIL_OUTLINED)
        self.address = ft.OutlinedButton(icon=ft.Icons.PLACE_OUTLINED)
        self.next_title = section_title("")
        self.next_body = ft.Column(spacing=6)
        self.next_card = ft.Card(
            content=ft.Container(content=self.next_body, padding=16, on_click=self._open_next),
        )
        self.see_all = ft.TextButton(on_click=self._see_all)
        self._next_id: str | None = None
        self.control = ft.Column(
            [
                self.welcome,
                self.description,
                self.next_title,
                self.next_card,
                self.see_all,
                self.contact_title,
                ft.Row([self.call, self.email, self.address], wrap=True, spacing=8, run_spacing=8),
            ],
            spacing=14,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
        )

    def refresh(self) -> None:
        """Fill every text from the state (no ``update`` here)."""
        tr = self.state.tr
        brand = self.state.company.branding
        self.description.value = (brand.description or "") if brand else ""
        self.description.visible = bool(self.description.value)
        name = self.state.client_name
        self.welcome.value = tr.t("home.welcome", name=name) if name else ""
        self.welcome.visible = bool(name)
        self.contact_title.value = tr.t("home.contact")
        self.call.content = f"{tr.t('home.call')} {brand.phone}" if brand and brand.phone else ""
        self.call.url = brand.tel_url if brand else None
        self.call.visible = bool(brand and brand.tel_url)
        self.email.content = tr.t("home.email")
        self.email.url = brand.mailto_url if brand else None
        self.email.visible = bool(brand and brand.mailto_url)
        self.address.content = tr.t("home.directions")
        self.address.url = brand.maps_url if brand else None
        self.address.tooltip = brand.address if brand else None
        self.address.visible = bool(brand and brand.maps_url)
        self.next_title.value = tr.t("home.next")
        self.see_all.content = tr.t("home.see_all")
        self._fill_next(self.state.activities.next_appointment)

    def _fill_next(self, item: ActivityItem | None) -> None:
        tr = self.state.tr
        self._next_id = item.id if item else None
        if item is None:
            self.next_body.controls = [ft.Text(tr.t("home.no_next"))]
            return
        lines: list[ft.Control] = [
            ft.Row(
                [
                    ft.Text(item.title, size=17, weight=ft.FontWeight.W_600, expand=True),
                    status_chip(item.status_label, item.status),
                ]
            ),
            ft.Row([ft.Icon(ft.Icons.EVENT, size=18), ft.Text(item.date_text, expand=True)]),
        ]
        if item.window_text:
            lines.append(
                ft.Row(
                    [ft.Icon(ft.Icons.SCHEDULE, size=18), ft.Text(item.window_text, expand=True)]
                )
            )
        if item.technician_text:
            lines.append(
                ft.Row(
                    [
                        ft.Icon(ft.Icons.PERSON_OUTLINE, size=18),
                        ft.Text(item.technician_text, expand=True),
                    ]
                )
            )
        self.next_body.controls = lines

    async def _open_next(self, _e: ft.Event[ft.Control]) -> None:
        if self._next_id:
            await self._open_activity(self._next_id)

    async def _see_all(self, _e: ft.Event[ft.Control]) -> None:
        await self._show_all()
