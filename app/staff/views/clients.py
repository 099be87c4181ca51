"""Clients: the search list and a client's record (access, contacts, links, sign-ins)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import flet as ft

from app.i18n import parse_utc
from app.staff.clients import ClientsModel
from app.staff.views.common import Screen, chip, heading, secret_box

if TYPE_CHECKING:
    from app.staff.main import ConsoleApp


class ClientsScreen(Screen):
    """``/clients`` (the list) and ``/clients/{id}`` (one record)."""

    def __init__(self, console: ConsoleApp) -> None:
        """The search box is built once so typing never loses focus."""
        super().__init__(console)
        self.model = ClientsModel(console.state)
        self.search = ft.TextField(
            prefix_icon=ft.Icons.SEARCH,
            on_change=self._typed,
            on_submit=self._submitted,
            expand=True,
        )
        # In a Row the search box takes the screen's width (300 px in a Column).
        self.search_row = ft.Row([self.search])
        self.results = ft.Column(spacing=4)
        self._searching: asyncio.Task[Any] | None = None
        self.sms_price = 0.2

    async def load(self) -> None:
        """The first page of every client."""
        self.model.close()

        async def work() -> None:
            await self.model.search(self.search.value or "")
            self.show_result(self.model.action)

        await self.busy(work)

    async def open_record(self, client_id: int) -> None:
        """Show one client's record."""

        async def work() -> None:
            await self.model.open(client_id)
            self.show_result(self.model.action)

        await self.busy(work)

    def render(self) -> None:
        """The list, or the open record."""
        tr = self.tr
        self.search.label = tr.t("console.clients.search")
        if self.model.record is not None:
            self.title.value = str(self.model.record.get("name") or "")
            self.body.controls = self._record_controls()
            return
        self.title.value = tr.t("console.clients.title")
        self._fill_results()
        self.body.controls = [self.search_row, self.results]

    def _fill_results(self) -> None:
        tr, m = self.tr, self.model
        rows: list[ft.Control] = []
        for item in m.items:
            contacts = ", ".join([*item.get("emails", []), *item.get("phones", [])])
            ref = item.get("reference")
            rows.append(
                ft.ListTile(
                    title=ft.Text(str(item.get("name"))),
                    subtitle=ft.Text(f"{ref} · {contacts}" if ref else contacts),
                    trailing=chip(
                        tr.t("console.on" if item.get("portal_access") else "console.off"),
                        bool(item.get("portal_access")),
                    ),
                    on_click=self._open_handler(int(item["id"])),
                )
            )
        if not rows:
            rows.append(ft.Text(tr.t("console.clients.none")))
        if m.next:
            rows.append(ft.TextButton(tr.t("console.more"), on_click=self._more))
        self.results.controls = rows

    def _record_controls(self) -> list[ft.Control]:
        tr, m = self.tr, self.model
        record = m.record or {}
        editable = m.editable
        on = bool(record.get("portal_access"))
        access: ft.Control = ft.Switch(
            label=tr.t("console.clients.access"), value=on, on_change=self._access
        )
        if not editable:
            # A disabled switch looks off whatever its value: say it in words.
            access = ft.Row(
                [
                    ft.Text(tr.t("console.clients.access")),
                    chip(tr.t(f"console.{'on' if on else 'off'}"), on),
                ],
                spacing=12,
            )
        parts: list[ft.Control] = [
            ft.Row(
                [
                    ft.TextButton(
                        tr.t("console.clients.back"), icon=ft.Icons.ARROW_BACK, on_click=self._back
                    ),
                    ft.FilledTonalButton(
                        tr.t("console.clients.portal_access"),
                        icon=ft.Icons.VISIBILITY,
                        on_click=self._preview,
                    ),
                ],
                wrap=True,
            ),
            access,
        ]
        if m.notice:
            parts.append(ft.Text(m.notice, color=ft.Colors.GREEN_800))
        parts.append(heading(tr.t("console.clients.contacts")))
        for contact in m.contacts:
            channel = "sms" if contact.get("kind") == "phone" else "email"
            row: list[ft.Control] = [
                ft.Icon(ft.Icons.PHONE if channel == "sms" else ft.Icons.EMAIL_OUTLINED),
                ft.Text(str(contact.get("value")), selectable=True),
            ]
            if editable:
                row += [
                    ft.Text(m.cost_text(channel, self.sms_price), size=12),
                    ft.OutlinedButton(
                        tr.t(f"console.clients.send_{channel}"),
                        on_click=self._send_handler(channel, int(contact["id"])),
                    ),
                ]
            parts.append(ft.Row(row, wrap=True))
        if not m.contacts:
            parts.append(ft.Text(tr.t("console.clients.no_contacts")))
        parts.append(heading(tr.t("console.clients.links")))
        if m.shown_link is not None:
            parts.append(
                secret_box(
                    tr.t("console.clients.link_once"),
                    m.shown_link.url,
                    tr.t("console.copy"),
                    self._copy_link,
                    qr=m.shown_link.qr,
                )
            )
        for link in m.live_links:
            created = parse_utc(link.get("created_at"))
            text = tr.t(
                "console.clients.link_line",
                label=link.get("label") or "—",
                date=tr.date(created) if created else "",
            )
            row = [ft.Icon(ft.Icons.LINK), ft.Text(text, expand=True)]
            if editable:
                row.append(
                    ft.TextButton(
                        tr.t("console.clients.revoke"),
                        on_click=self._revoke_handler(int(link["id"])),
                    )
                )
            parts.append(ft.Row(row))
        if not m.live_links and m.shown_link is None:
            parts.append(ft.Text(tr.t("console.clients.no_links")))
        if editable:
            parts.append(
                ft.FilledButton(
                    tr.t("console.clients.create_link"), icon=ft.Icons.ADD_LINK, on_click=self._link
                )
            )
        parts.append(heading(tr.t("console.clients.sign_ins")))
        sign_ins = record.get("recent_sign_ins") or []
        for entry in sign_ins:
            at = parse_utc(entry.get("at"))
            parts.append(
                ft.Text(
                    " · ".join(
                        p
                        for p in (
                            tr.date_time(at) if at else "",
                            str(entry.get("method") or ""),
                            str(entry.get("contact") or ""),
                        )
                        if p
                    )
                )
            )
        if not sign_ins:
            parts.append(ft.Text(tr.t("console.clients.no_sign_ins")))
        return parts

    # -- handlers ------------------------------------------------------------------------

    async def _typed(self, e: ft.Event[ft.TextField]) -> None:
        query = e.control.value or ""
        if await self.model.search_soon(query):
            self.show_result(self.model.action)
            self._fill_results()
            self._update()

    async def _submitted(self, e: ft.Event[ft.TextField]) -> None:
        if await self.model.search(e.control.value or ""):
            self._fill_results()
            self._update()

    async def _more(self, _e: ft.Event[ft.Control]) -> None:
        await self.busy(self.model.more)

    def _open_handler(self, client_id: int):
        async def clicked(_e: ft.Event[ft.Control]) -> None:
            await self.console.navigate(f"/clients/{client_id}")

        return clicked

    async def _back(self, _e: ft.Event[ft.Control]) -> None:
        await self.console.navigate("/clients")

    async def _preview(self, _e: ft.Event[ft.Control]) -> None:
        if self.model.record:
            await self.console.navigate(f"/clients/{self.model.record['id']}/portal")

    async def _access(self, e: ft.Event[ft.Switch]) -> None:
        value = bool(e.control.value)

        async def work() -> None:
            await self.model.set_access(value)
            self.show_result(self.model.action, self.tr.t("console.saved"))

        await self.busy(work)

    async def _link(self, _e: ft.Event[ft.Control]) -> None:
        async def work() -> None:
            await self.model.create_link()
            self.show_result(self.model.action)

        await self.busy(work)

    async def _copy_link(self, _e: ft.Event[ft.Control]) -> None:
        if self.model.shown_link:
            await self.copy(self.model.shown_link.url)

    def _revoke_handler(self, link_id: int):
        async def clicked(_e: ft.Event[ft.Control]) -> None:
            async def work() -> None:
                await self.model.revoke_link(link_id)
                self.show_result(self.model.action)

            await self.busy(work)

        return clicked

    def _send_handler(self, channel: str, contact_id: int):
        async def clicked(_e: ft.Event[ft.Control]) -> None:
            async def work() -> None:
                await self.model.send_link(channel, contact_id)
                self.show_result(self.model.action)

            await self.busy(work)

        return clicked
