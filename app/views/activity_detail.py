"""One appointment: status, when, where, technician, follow-up timeline, actions.

Portal actions come from ``backend.actions.available_actions`` (via the
state), so the offline app offers exactly what the server would. Their flows
arrive in later versions: each button opens a dialog that says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import flet as ft

from app.state import ActionItem, ActivityDetail, AppState
from app.views.theme import section_title, status_chip


class ActivityDetailView:
    """Filled by ``show(detail)``; the back button returns to the list."""

    def __init__(self, state: AppState, go_back: Callable[[], Awaitable[None]]) -> None:
        """``go_back()`` returns to the appointment list."""
        self.state = state
        self._go_back = go_back
        self.detail: ActivityDetail | None = None
        self.back = ft.TextButton(icon=ft.Icons.ARROW_BACK, on_click=self._back)
        self.body = ft.Column(spacing=12)
        self.control = ft.Column([self.back, self.body], spacing=8, scroll=ft.ScrollMode.AUTO,
                                 expand=True)

    def show(self, detail: ActivityDetail | None) -> None:
        """Render ``detail`` (None: the activity disappeared)."""
        self.detail = detail
        tr = self.state.tr
        self.back.content = tr.t("detail.back")
        if detail is None:
            self.body.controls = [ft.Text(tr.t("detail.not_found"))]
            return
        item = detail.item
        parts: list[ft.Control] = [
            ft.Row([ft.Text(item.title, size=22, weight=ft.FontWeight.BOLD, expand=True),
                    status_chip(item.status_label, item.status)],
                   vertical_alignment=ft.CrossAxisAlignment.START),
            _labelled(tr.t("detail.when"), [item.date_text] + ([item.window_text]
                                                                if item.window_text else [])),
        ]
        where = _labelled(tr.t("detail.where"), detail.address_lines)
        if detail.maps_url:
            where.controls.append(ft.TextButton(tr.t("detail.open_map"), icon=ft.Icons.MAP,
                                                url=detail.maps_url))
        parts.append(where)
        parts.append(_labelled(tr.t("detail.technician"),
                               [detail.technician_name or tr.t("detail.no_technician")]))
        if detail.description:
            parts.append(_labelled(tr.t("detail.description"), [detail.description]))
        if detail.closure_report:
            parts.append(_labelled(tr.t("detail.report"), [detail.closure_report]))
        parts.append(section_title(tr.t("detail.actions")))
        if detail.actions:
            parts.append(ft.Row([self._action_button(a) for a in detail.actions], wrap=True,
                                spacing=8, run_spacing=8))
        else:
            parts.append(ft.Text(tr.t("detail.no_actions"), italic=True))
        parts.append(section_title(tr.t("detail.timeline")))
        for entry in detail.timeline:
            lines = [ft.Text(entry.label, weight=ft.FontWeight.W_600),
                     ft.Text(entry.when_text, size=12)]
            if entry.note:
                lines.append(ft.Text(entry.note, size=13))
            parts.append(ft.Row([ft.Icon(ft.Icons.CIRCLE, size=12, color=ft.Colors.PRIMARY),
                                 ft.Column(lines, spacing=0, expand=True)],
                                vertical_alignment=ft.CrossAxisAlignment.START))
        self.body.controls = parts

    def _action_button(self, action: ActionItem) -> ft.Control:
        async def click(e: ft.Event[ft.Control]) -> None:
            tr = self.state.tr
            dialog = ft.AlertDialog(
                title=ft.Text(tr.t("action.not_available_title")),
                content=ft.Text(tr.t("action.not_available", label=action.label)),
            )

            async def close(_e: ft.Event[ft.Control]) -> None:
                e.page.pop_dialog()

            dialog.actions = [ft.TextButton(tr.t("action.ok"), on_click=close)]
            e.page.show_dialog(dialog)

        return ft.FilledTonalButton(action.label, on_click=click)

    async def _back(self, _e: ft.Event[ft.Control]) -> None:
        await self._go_back()


def _labelled(label: str, lines: list[str]) -> ft.Column:
    return ft.Column(
        [ft.Text(label, size=12, color=ft.Colors.ON_SURFACE_VARIANT)]
        + [ft.Text(line, selectable=True) for line in lines],
        spacing=2,
    )
