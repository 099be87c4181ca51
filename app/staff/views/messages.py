"""Messages: the outbox (status, channel, recipient, cost, error), filtered by status."""

from __future__ import annotations

from typing import TYPE_CHECKING

import flet as ft

from app.i18n import parse_utc
from app.staff.outbox import OutboxModel
from app.staff.views.common import Screen

if TYPE_CHECKING:
    from app.staff.main import ConsoleApp


class MessagesScreen(Screen):
    """``/messages``."""

    def __init__(self, console: ConsoleApp) -> None:
        """The filter is built once."""
        super().__init__(console)
        self.model = OutboxModel(console.state)
        self.filter = ft.Dropdown(options=[], value="", width=220, on_select=self._filtered)
        self.rows = ft.Column(spacing=2)

    async def load(self) -> None:
        """The newest messages."""

        async def work() -> None:
            await self.model.load()
            self.show_result(self.model.action)

        await self.busy(work)

    def render(self) -> None:
        """The filter and one line per message."""
        tr, m = self.tr, self.model
        self.title.value = tr.t("console.messages.title")
        self.filter.label = tr.t("console.messages.status")
        self.filter.options = [
            ft.DropdownOption(key=s, text=s if s else tr.t("console.messages.all"))
            for s in m.statuses
        ]
        self.filter.value = m.status
        lines: list[ft.Control] = []
        for item in m.items:
            at = parse_utc(item.get("created_at"))
            head = " · ".join(
                p
                for p in (
                    tr.date_time(at) if at else "",
                    str(item.get("channel") or ""),
                    str(item.get("recipient") or ""),
                )
                if p
            )
            details = [tr.t("console.messages.line_status", status=item.get("status") or "?")]
            cost = m.cost_text(item)
            if cost:
                details.append(tr.t("console.messages.cost", credits=cost))
            error = m.error_text(item)
            parts: list[ft.Control] = [
                ft.Text(head, weight=ft.FontWeight.W_600, selectable=True),
                ft.Text(" · ".join(details), size=13),
            ]
            if error:
                parts.append(ft.Text(error, size=13, color=ft.Colors.ERROR))
            lines.append(
                ft.Container(
                    content=ft.Column(parts, spacing=2),
                    padding=ft.Padding.symmetric(vertical=6),
                    border=ft.Border.only(bottom=ft.BorderSide(1, ft.Colors.OUTLINE_VARIANT)),
                )
            )
        if not lines:
            lines.append(ft.Text(tr.t("console.messages.none")))
        self.rows.controls = lines
        self.body.controls = [
            ft.Row(
                [
                    self.filter,
                    ft.IconButton(
                        ft.Icons.REFRESH, tooltip=tr.t("console.refresh"), on_click=self._reload
                    ),
                ]
            ),
            self.rows,
        ]

    async def _filtered(self, e: ft.Event[ft.Dropdown]) -> None:
        self.model.status = e.control.value or ""
        self.render()
        self._update()

    async def _reload(self, _e: ft.Event[ft.Control]) -> None:
        await self.load()
