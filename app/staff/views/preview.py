"""Client Portal Access: the client's portal as they see it, read-only.

Placeholder: the banner and a back button; the coordinator replaces the body
with the client app's own views (``ConsoleApp`` routes ``/clients/{id}/portal``
here and calls exactly ``preview_view``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import flet as ft

if TYPE_CHECKING:
    from app.staff.main import ConsoleApp


def preview_view(console: ConsoleApp, client_id: int) -> ft.View:
    """The view of route ``/clients/{client_id}/portal``."""
    tr = console.state.tr
    name = console.client_name(client_id)

    async def back(_e: ft.Event[ft.Control]) -> None:
        await console.navigate(f"/clients/{client_id}")

    return ft.View(
        route=f"/clients/{client_id}/portal",
        controls=[
            ft.Container(
                content=ft.Text(tr.t("console.clients.preview_banner", name=name)),
                bgcolor=ft.Colors.AMBER_100,
                padding=12,
            ),
            ft.TextButton(
                tr.t("console.clients.preview_back"), icon=ft.Icons.ARROW_BACK, on_click=back
            ),
        ],
    )
