"""Account: who is signed in, sync status, language, sign out."""

from __future__ import annotations

import flet as ft

from app.i18n import LANGUAGES
from app.state import AppState
from app.views.theme import section_title


class AccountView:
    """Settings screen; ``refresh`` re-reads the state."""

    def __init__(self, state: AppState) -> None:
        """Build the controls once."""
        self.state = state
        self.who_title = section_title("")
        self.name = ft.Text(size=16, weight=ft.FontWeight.W_600)
        self.contacts = ft.Text()
        self.sync_title = section_title("")
        self.sync_text = ft.Text()
        self.pending = ft.Text()
        self.notifications_title = section_title("")
        self.notifications_note = ft.Text(size=13, color=ft.Colors.ON_SURFACE_VARIANT)
        self.email_switch = ft.Switch(on_change=self._notifications_changed)
        self.sms_switch = ft.Switch(on_change=self._notifications_changed)
        self.notifications_problem = ft.Text(size=13, color=ft.Colors.ERROR, visible=False)
        self.language_title = section_title("")
        self.language_buttons = {
            lang: ft.OutlinedButton(on_click=self._language_handler(lang)) for lang in LANGUAGES
        }
        # Information, not a warning: a browser session served to many users
        # never keeps the token, which is the safe and expected thing.
        self.memory_note = ft.Text(size=13, color=ft.Colors.ON_SURFACE_VARIANT)
        self.sign_out_note = ft.Text(size=12)
        self.sign_out = ft.FilledButton(icon=ft.Icons.LOGOUT, on_click=self._sign_out)
        self.control = ft.Column(
            [
                self.who_title,
                self.name,
                self.contacts,
                self.sync_title,
                self.sync_text,
                self.pending,
                self.language_title,
                ft.Row(list(self.language_buttons.values()), spacing=8),
                self.notifications_title,
                self.notifications_note,
                self.email_switch,
                self.sms_switch,
                self.notifications_problem,
                ft.Divider(),
                self.memory_note,
                self.sign_out_note,
                self.sign_out,
            ],
            spacing=10,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
        )

    def refresh(self) -> None:
        """Fill every text from the state (no ``update`` here)."""
        tr = self.state.tr
        self.who_title.value = tr.t("account.signed_in_as")
        self.name.value = self.state.client_name
        self.contacts.value = ", ".join(self.state.client_contacts)
        self.sync_title.value = tr.t("account.sync")
        self.refresh_status()
        self.language_title.value = tr.t("account.language")
        for lang, button in self.language_buttons.items():
            button.content = tr.t(f"language.{lang}")
            button.icon = ft.Icons.CHECK if lang == tr.language else None
        self.notifications_title.value = tr.t("account.notifications")
        self.notifications_note.value = tr.t("account.notifications_note")
        consent = self.state.notifications.current()
        self.email_switch.label = tr.t("account.notifications_email")
        self.email_switch.value = consent.email
        self.sms_switch.label = tr.t("account.notifications_sms")
        self.sms_switch.value = consent.sms
        self.sms_switch.visible = consent.has_phone
        self.memory_note.value = tr.t("account.memory_only")
        self.memory_note.visible = not self.state.token_persistent
        self.sign_out_note.value = tr.t("account.sign_out_note")
        self.sign_out.content = tr.t("account.sign_out")

    def refresh_status(self) -> None:
        """Only the sync lines (called on every status change)."""
        self.sync_text.value = self.state.sync_status_text()
        pending = self.state.sync_status.pending
        self.pending.value = self.state.tr.t("account.pending", count=pending)
        self.pending.visible = pending > 0

    def _language_handler(self, lang: str):  # noqa: ANN202 - a Flet event handler
        async def choose(_e: ft.Event[ft.Control]) -> None:
            await self.state.language.set_language(lang)

        return choose

    async def _notifications_changed(self, _e: ft.Event[ft.Control]) -> None:
        self.email_switch.disabled = self.sms_switch.disabled = True
        self.notifications_problem.visible = False
        self.control.update()
        problem = await self.state.notifications.change(
            email=bool(self.email_switch.value), sms=bool(self.sms_switch.value)
        )
        self.email_switch.disabled = self.sms_switch.disabled = False
        if problem is not None:
            # Not saved: the switches show what the server still has.
            consent = self.state.notifications.current()
            self.email_switch.value, self.sms_switch.value = consent.email, consent.sms
            self.notifications_problem.value = problem.text(self.state.tr)
            self.notifications_problem.visible = True
        self.control.update()

    async def _sign_out(self, _e: ft.Event[ft.Control]) -> None:
        await self.state.sign_out()
