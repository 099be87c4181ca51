"""Staff (admins): accounts and roles, API keys, and the audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import flet as ft

from app.i18n import LANGUAGES, parse_utc
from app.staff.admin import AdminModel, change_text
from app.staff.state import ROLES
from app.staff.views.common import Screen, heading, secret_box

if TYPE_CHECKING:
    from app.staff.main import ConsoleApp


class StaffScreen(Screen):
    """``/staff``."""

    def __init__(self, console: ConsoleApp) -> None:
        """The creation forms are built once."""
        super().__init__(console)
        self.model = AdminModel(console.state)
        self.email = ft.TextField(keyboard_type=ft.KeyboardType.EMAIL, width=280)
        self.name = ft.TextField(width=220)
        self.language = ft.Dropdown(
            options=[ft.DropdownOption(key=lang, text=lang) for lang in LANGUAGES],
            value=LANGUAGES[0],
            width=120,
        )
        self.role = ft.Dropdown(options=[], value="viewer", width=160)
        self.key_name = ft.TextField(width=280)
        self.key_role = ft.Dropdown(options=[], value="viewer", width=160)

    async def load(self) -> None:
        """Accounts, keys and the audit log."""
        self.model.forget_secret()

        async def work() -> None:
            await self.model.load()
            self.show_result(self.model.action)

        await self.busy(work)

    def render(self) -> None:
        """Three sections; the secret shown once on top."""
        tr, m = self.tr, self.model
        self.title.value = tr.t("console.staff.title")
        role_options = [ft.DropdownOption(key=r, text=tr.t(f"console.role.{r}")) for r in ROLES]
        parts: list[ft.Control] = []
        if m.shown_secret:
            parts.append(
                secret_box(m.shown_label or "", m.shown_secret, tr.t("console.copy"), self._copy)
            )
        parts.append(heading(tr.t("console.staff.accounts")))
        for account in m.accounts:
            parts.append(self._account_row(account, role_options))
        if m.editable:
            self.email.label = tr.t("console.signin.email")
            self.name.label = tr.t("console.staff.name")
            self.language.label = tr.t("console.staff.language")
            self.role.label = tr.t("console.staff.role")
            self.role.options = role_options
            parts.append(
                ft.Row(
                    [
                        self.email,
                        self.name,
                        self.language,
                        self.role,
                        ft.FilledButton(tr.t("console.staff.create"), on_click=self._create),
                    ],
                    wrap=True,
                )
            )
        parts.append(heading(tr.t("console.staff.keys")))
        for key in m.keys:
            revoked = bool(key.get("revoked_at"))
            line = f"{key.get('name')} · {key.get('prefix') or ''} · {key.get('role')}"
            row: list[ft.Control] = [ft.Icon(ft.Icons.KEY), ft.Text(line, expand=True)]
            if revoked:
                row.append(ft.Text(tr.t("console.staff.revoked"), italic=True))
            elif m.editable:
                row.append(
                    ft.TextButton(
                        tr.t("console.clients.revoke"), on_click=self._revoke_handler(key)
                    )
                )
            parts.append(ft.Row(row))
        if m.editable:
            self.key_name.label = tr.t("console.staff.key_name")
            self.key_role.label = tr.t("console.staff.role")
            self.key_role.options = role_options
            parts.append(
                ft.Row(
                    [
                        self.key_name,
                        self.key_role,
                        ft.FilledButton(tr.t("console.staff.create_key"), on_click=self._key),
                    ],
                    wrap=True,
                )
            )
        parts.append(heading(tr.t("console.staff.audit")))
        for entry in m.audit:
            parts.append(self._audit_row(entry))
        if m.audit_next:
            parts.append(ft.TextButton(tr.t("console.more"), on_click=self._more))
        self.body.controls = parts

    def _account_row(self, account: dict[str, Any], options: list[ft.DropdownOption]):
        tr, m = self.tr, self.model
        disabled = bool(account.get("disabled"))
        text = f"{account.get('name')} · {account.get('email')}"
        head: list[ft.Control] = [ft.Icon(ft.Icons.PERSON_OUTLINE), ft.Text(text, expand=True)]
        row: list[ft.Control] = []
        role = m.role_in_bu(account)
        if m.editable:
            row.append(
                ft.Dropdown(
                    value=role,
                    options=options,
                    width=160,
                    on_select=self._role_handler(account),
                )
            )
            row.append(
                ft.TextButton(
                    tr.t("console.staff.enable" if disabled else "console.staff.disable"),
                    on_click=self._disable_handler(account, not disabled),
                )
            )
            row.append(
                ft.TextButton(tr.t("console.staff.reset"), on_click=self._reset_handler(account))
            )
        else:
            row.append(ft.Text(tr.t(f"console.role.{role}") if role else ""))
        if disabled:
            head.append(ft.Text(tr.t("console.staff.disabled"), italic=True))
        # A wrapping row gives its children no width to share: the text that
        # fills the line sits in its own row above the controls.
        return ft.Column([ft.Row(head), ft.Row(row, wrap=True)], spacing=4)

    def _audit_row(self, entry: dict[str, Any]) -> ft.Control:
        tr = self.tr
        at = parse_utc(entry.get("at"))
        actor = (entry.get("actor") or {}).get("label") or ""
        target = entry.get("target") or {}
        what = f"{entry.get('action')} {target.get('kind') or ''} {target.get('label') or ''}"
        return ft.Container(
            content=ft.Column(
                [
                    ft.Text(
                        f"{tr.date_time(at) if at else ''} · {actor}", weight=ft.FontWeight.W_600
                    ),
                    ft.Text(what.strip()),
                    ft.Text(change_text(entry), size=12, selectable=True),
                ],
                spacing=2,
            ),
            padding=ft.Padding.symmetric(vertical=6),
            border=ft.Border.only(bottom=ft.BorderSide(1, ft.Colors.OUTLINE_VARIANT)),
        )

    # -- handlers ------------------------------------------------------------------------

    async def _copy(self, _e: ft.Event[ft.Control]) -> None:
        if self.model.shown_secret:
            await self.copy(self.model.shown_secret)

    async def _create(self, _e: ft.Event[ft.Control]) -> None:
        async def work() -> None:
            ok = await self.model.create_account(
                self.email.value or "",
                self.name.value or "",
                self.language.value or "en",
                self.role.value or "viewer",
            )
            if ok:
                self.email.value = self.name.value = ""
            self.show_result(self.model.action)

        await self.busy(work)

    async def _key(self, _e: ft.Event[ft.Control]) -> None:
        async def work() -> None:
            if await self.model.create_key(self.key_name.value or "", self.key_role.value or ""):
                self.key_name.value = ""
            self.show_result(self.model.action)

        await self.busy(work)

    async def _more(self, _e: ft.Event[ft.Control]) -> None:
        await self.busy(lambda: self.model.load_audit(more=True))

    def _role_handler(self, account: dict[str, Any]):
        async def changed(e: ft.Event[ft.Dropdown]) -> None:
            role = e.control.value or None

            async def work() -> None:
                await self.model.set_role(account, role)
                self.show_result(self.model.action)

            await self.busy(work)

        return changed

    def _disable_handler(self, account: dict[str, Any], disabled: bool):
        async def clicked(_e: ft.Event[ft.Control]) -> None:
            async def work() -> None:
                await self.model.set_disabled(account, disabled)
                self.show_result(self.model.action)

            await self.busy(work)

        return clicked

    def _reset_handler(self, account: dict[str, Any]):
        async def clicked(_e: ft.Event[ft.Control]) -> None:
            async def work() -> None:
                await self.model.reset_password(account)
                self.show_result(self.model.action)

            await self.busy(work)

        return clicked

    def _revoke_handler(self, key: dict[str, Any]):
        async def clicked(_e: ft.Event[ft.Control]) -> None:
            async def work() -> None:
                await self.model.revoke_key(int(key["id"]))
                self.show_result(self.model.action)

            await self.busy(work)

        return clicked
