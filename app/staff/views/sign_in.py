"""The console's sign-in screen (email, password, then a TOTP code when asked)
and the set-password screen of a one-time link."""

from __future__ import annotations

from typing import TYPE_CHECKING

import flet as ft

from app.i18n import LANGUAGES

if TYPE_CHECKING:
    from app.staff.main import ConsoleApp

LANGUAGE_NAMES = {"en": "English", "fr": "Français"}


def language_row(console: ConsoleApp) -> ft.Row:
    """One button per language (named in that language)."""

    def handler(lang: str):
        async def chosen(_e: ft.Event[ft.Control]) -> None:
            await console.state.set_language(lang)

        return chosen

    return ft.Row(
        [
            ft.TextButton(LANGUAGE_NAMES.get(lang, lang), on_click=handler(lang))
            for lang in LANGUAGES
        ],
        alignment=ft.MainAxisAlignment.CENTER,
    )


def _card(controls: list[ft.Control]) -> ft.Control:
    return ft.Container(
        content=ft.Column(
            [
                ft.Container(
                    content=ft.Column(
                        controls,
                        spacing=14,
                        tight=True,
                        horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
                    ),
                    padding=24,
                    width=420,
                )
            ],
            horizontal_alignment=ft.CrossAxisAlignment.CENTER,
            scroll=ft.ScrollMode.AUTO,
        ),
        alignment=ft.Alignment.TOP_CENTER,
        padding=ft.Padding.only(top=40),
        expand=True,
    )


class SignInView:
    """Email and password, then the authenticator code when the account has one."""

    def __init__(self, console: ConsoleApp) -> None:
        """Build the controls; ``refresh`` fills them from ``state.form``."""
        self.console = console
        self.state = console.state
        self.title = ft.Text(size=24, weight=ft.FontWeight.BOLD)
        self.intro = ft.Text()
        self.error = ft.Text(color=ft.Colors.ERROR, visible=False)
        self.busy = ft.ProgressBar(visible=False)
        self.email = ft.TextField(
            keyboard_type=ft.KeyboardType.EMAIL, autofocus=True, on_submit=self._submit
        )
        self.password = ft.TextField(
            password=True, can_reveal_password=True, on_submit=self._submit
        )
        self.totp = ft.TextField(
            keyboard_type=ft.KeyboardType.NUMBER, on_submit=self._submit, visible=False
        )
        self.submit = ft.FilledButton(on_click=self._submit)
        self.back = ft.TextButton(on_click=self._back, visible=False)
        self.control = _card(
            [
                self.title,
                self.intro,
                self.busy,
                self.error,
                self.email,
                self.password,
                self.totp,
                self.submit,
                self.back,
                language_row(console),
            ]
        )

    def refresh(self) -> None:
        """Fill every text from the state (no ``update`` here)."""
        tr = self.state.tr
        form = self.state.form
        totp = form.step == "totp"
        self.title.value = tr.t("console.signin.title")
        self.intro.value = tr.t("console.signin.totp_intro" if totp else "console.signin.intro")
        self.email.label = tr.t("console.signin.email")
        self.password.label = tr.t("console.signin.password")
        self.totp.label = tr.t("console.signin.totp")
        self.email.visible = self.password.visible = not totp
        self.totp.visible = totp
        self.back.visible = totp
        self.back.content = tr.t("console.signin.back")
        self.submit.content = tr.t("console.signin.submit")
        self.submit.disabled = form.busy
        self.busy.visible = form.busy
        self.error.value = form.error or ""
        self.error.visible = bool(form.error)

    async def _submit(self, _e: ft.Event[ft.Control]) -> None:
        if self.state.form.busy:
            return
        self.state.form.busy = True
        self.refresh()
        self.control.update()
        if self.state.form.step == "totp":
            ok = await self.state.sign_in("", "", (self.totp.value or "").strip())
        else:
            ok = await self.state.sign_in(self.email.value or "", self.password.value or "")
        if not ok:
            self.totp.value = "" if self.state.form.step == "totp" else self.totp.value
            self.refresh()
            self.control.update()
        else:
            self.password.value = ""
            self.totp.value = ""

    async def _back(self, _e: ft.Event[ft.Control]) -> None:
        self.state.back_to_credentials()
        self.refresh()
        self.control.update()


class SetPasswordView:
    """A new password for the account of a one-time link."""

    def __init__(self, console: ConsoleApp) -> None:
        """``token`` is set by ``ConsoleApp`` from the link's hand-off."""
        self.console = console
        self.state = console.state
        self.token: str | None = None
        self.done = False
        self.title = ft.Text(size=24, weight=ft.FontWeight.BOLD)
        self.intro = ft.Text()
        self.error = ft.Text(color=ft.Colors.ERROR, visible=False)
        self.password = ft.TextField(password=True, can_reveal_password=True)
        self.again = ft.TextField(password=True, can_reveal_password=True, on_submit=self._submit)
        self.submit = ft.FilledButton(on_click=self._submit)
        self.to_sign_in = ft.TextButton(on_click=self._sign_in)
        self.control = _card(
            [
                self.title,
                self.intro,
                self.error,
                self.password,
                self.again,
                self.submit,
                self.to_sign_in,
                language_row(console),
            ]
        )

    def refresh(self) -> None:
        """Fill the texts (no ``update`` here)."""
        tr = self.state.tr
        self.title.value = tr.t("console.password.title")
        if self.done:
            self.intro.value = tr.t("console.password.done")
        elif not self.token:
            self.intro.value = tr.t("console.password.no_link")
        else:
            self.intro.value = tr.t("console.password.intro")
        self.password.label = tr.t("console.password.new")
        self.again.label = tr.t("console.password.again")
        form_shown = bool(self.token) and not self.done
        self.password.visible = self.again.visible = self.submit.visible = form_shown
        self.submit.content = tr.t("console.password.submit")
        self.to_sign_in.content = tr.t("console.password.to_sign_in")

    async def _submit(self, _e: ft.Event[ft.Control]) -> None:
        if not self.token:
            return
        self.submit.disabled = True
        self.control.update()
        problem = await self.state.set_password(
            self.token, self.password.value or "", self.again.value or ""
        )
        self.submit.disabled = False
        self.error.value = problem or ""
        self.error.visible = bool(problem)
        if problem is None:
            self.done = True
            self.token = None
            self.password.value = self.again.value = ""
        self.refresh()
        self.control.update()

    async def _sign_in(self, _e: ft.Event[ft.Control]) -> None:
        await self.console.navigate("/")
