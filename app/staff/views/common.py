"""What every console screen shares: a title, a progress bar, the error line,
and ``Screen.busy``, which disables the screen while a request runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import flet as ft

from app.staff.state import Action

if TYPE_CHECKING:
    from app.staff.main import ConsoleApp


def reorder_row(tr: Any, *, up: Any, down: Any, remove: Any) -> ft.Row:
    """Move up, move down and remove: the buttons under each item of an editable list
    (portal actions, form fields)."""
    return ft.Row(
        [
            ft.IconButton(ft.Icons.ARROW_UPWARD, tooltip=tr.t("console.up"), on_click=up),
            ft.IconButton(ft.Icons.ARROW_DOWNWARD, tooltip=tr.t("console.down"), on_click=down),
            ft.TextButton(tr.t("console.remove"), icon=ft.Icons.DELETE_OUTLINE, on_click=remove),
        ]
    )


def heading(text: str, size: int = 18) -> ft.Text:
    """A heading inside a screen."""
    return ft.Text(text, size=size, weight=ft.FontWeight.W_600)


def chip(text: str, on: bool) -> ft.Container:
    """A small on/off pill."""
    return ft.Container(
        content=ft.Text(text, size=12, color=ft.Colors.WHITE, weight=ft.FontWeight.W_600),
        bgcolor=ft.Colors.GREEN_700 if on else ft.Colors.GREY_600,
        border_radius=ft.BorderRadius.all(12),
        padding=ft.Padding.symmetric(vertical=2, horizontal=10),
    )


def secret_box(label: str, value: str, copy_label: str, on_copy: Any, qr: bytes | None = None):
    """A value shown once (a link, a key) with a Copy button (and a QR code)."""
    parts: list[ft.Control] = [
        ft.Text(label, weight=ft.FontWeight.W_600),
        ft.Text(value, selectable=True, size=13),
        ft.FilledTonalButton(copy_label, icon=ft.Icons.COPY, on_click=on_copy),
    ]
    if qr is not None:
        parts.append(ft.Image(src=qr, width=180, height=180))
    return ft.Container(
        content=ft.Column(parts, spacing=8),
        bgcolor=ft.Colors.SECONDARY_CONTAINER,
        border_radius=8,
        padding=12,
    )


class Screen:
    """Base of the console's screens: ``render`` fills ``body`` from the model."""

    title_key = ""

    def __init__(self, console: ConsoleApp) -> None:
        """Build the frame; the screen's controls come from ``render``."""
        self.console = console
        self.state = console.state
        self.tr = console.state.tr
        self.title = heading("", size=22)
        self.progress = ft.ProgressBar(visible=False)
        self.error = ft.Text(color=ft.Colors.ERROR, visible=False, selectable=True)
        self.notice = ft.Text(color=ft.Colors.GREEN_800, visible=False)
        self.body = ft.Column(spacing=12)
        self.control = ft.Column(
            [self.title, self.progress, self.error, self.notice, self.body],
            spacing=10,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
        )

    async def load(self) -> None:
        """Read the screen's data (subclasses), then ``render``."""
        self.render()

    def render(self) -> None:
        """Fill ``body`` from the model (subclasses); no ``update`` here."""

    def show_result(self, action: Action, notice: str | None = None) -> None:
        """Show ``action``'s error, else ``notice``."""
        self.error.value = action.error or ""
        self.error.visible = bool(action.error)
        self.notice.value = notice or ""
        self.notice.visible = bool(notice) and not action.error

    async def busy(self, work: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``work`` with the screen disabled and the progress bar shown."""
        self.body.disabled = True
        self.progress.visible = True
        self._update()
        try:
            return await work()
        finally:
            self.body.disabled = False
            self.progress.visible = False
            if self.state.signed_in:
                self.render()
                self._update()

    def _update(self) -> None:
        try:
            if self.control.page is not None:
                self.control.update()
        except RuntimeError:
            pass  # not on the page (a test, or the screen was left)

    async def copy(self, text: str) -> None:
        """Put ``text`` on the clipboard and say so."""
        await self.console.copy(text)
