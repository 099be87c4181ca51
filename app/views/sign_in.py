"""Sign-in screen: email or phone → code, resend countdown, or a login link.

No I/O here: buttons call ``AppState`` methods, which do the network work and
report back through ``refresh``. One state at a time: the form of the current
step and at most one message. A language can be picked here; it is kept after
sign-in and saved for the client.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import Future

import flet as ft

from app.i18n import LANGUAGES
from app.messages import minutes_for
from app.sign_in import SignInStep
from app.state import AppState


class SignInView:
    """The three sign-in forms in one card; ``control`` is what the shell shows."""

    def __init__(self, state: AppState) -> None:
        """Build the controls once; ``refresh`` fills them from ``state.sign_in.form``."""
        self.state = state
        self._tick_task: Future[None] | None = None
        self.title = ft.Text(size=24, weight=ft.FontWeight.BOLD)
        self.intro = ft.Text()
        self.error = ft.Text(color=ft.Colors.ERROR, visible=False)
        self.busy = ft.ProgressBar(visible=False)
        self.identifier = ft.TextField(
            keyboard_type=ft.KeyboardType.EMAIL,
            autofocus=True,
            on_submit=self._send_code,
        )
        self.send_button = ft.FilledButton(on_click=self._send_code)
        self.link_button = ft.TextButton(on_click=self._show_link)
        # No max_length: Flutter's "N characters remaining" counter is not
        # translated; the state checks the six digits. Focused as soon as it
        # appears, so the first digit typed lands in it.
        self.code = ft.TextField(
            keyboard_type=ft.KeyboardType.NUMBER,
            autofocus=True,
            on_submit=self._verify,
        )
        self.verify_button = ft.FilledButton(on_click=self._verify)
        self.resend_button = ft.TextButton(on_click=self._resend)
        self.countdown = ft.Text(size=13)
        self.change_button = ft.TextButton(on_click=self._back)
        self.link = ft.TextField(on_submit=self._use_link)
        self.link_submit = ft.FilledButton(on_click=self._use_link)
        self.back_button = ft.TextButton(on_click=self._back)
        self.confirm_link_button = ft.FilledButton(on_click=self._confirm_link)
        self.cancel_link_button = ft.TextButton(on_click=self._back)
        self.language_buttons = {
            lang: ft.TextButton(on_click=self._language_handler(lang)) for lang in LANGUAGES
        }
        self.languages = ft.Row(
            list(self.language_buttons.values()),
            alignment=ft.MainAxisAlignment.CENTER,
            wrap=True,
        )
        self.identifier_form = ft.Column(
            [self.identifier, self.send_button, self.link_button],
            spacing=12,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
        )
        self.code_form = ft.Column(
            [self.code, self.verify_button, self.countdown, self.resend_button, self.change_button],
            spacing=8,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
        )
        self.link_form = ft.Column(
            [self.link, self.link_submit, self.back_button],
            spacing=12,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
        )
        self.confirm_link_form = ft.Column(
            [self.confirm_link_button, self.cancel_link_button],
            spacing=12,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
        )
        self.logo = ft.Container()
        self.company = ft.Text(
            size=16, weight=ft.FontWeight.W_500, visible=False, text_align=ft.TextAlign.CENTER
        )
        self._shown_logo: bytes | None = None
        card = ft.Container(
            content=ft.Column(
                [
                    self.logo,
                    self.company,
                    self.title,
                    self.intro,
                    self.busy,
                    self.error,
                    self.identifier_form,
                    self.code_form,
                    self.link_form,
                    self.confirm_link_form,
                    self.languages,
                ],
                spacing=16,
                tight=True,
                horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
            ),
            padding=24,
            width=440,
        )
        self.control = ft.Container(
            content=ft.Column(
                [card],
                horizontal_alignment=ft.CrossAxisAlignment.CENTER,
                scroll=ft.ScrollMode.AUTO,
            ),
            alignment=ft.Alignment.TOP_CENTER,
            padding=ft.Padding.only(top=32),
            expand=True,
        )
        self.refresh()

    def set_logo(self, logo: bytes | None) -> None:
        """Show the company logo above the form when it is known."""
        if logo is self._shown_logo:
            return  # the image bytes travel with every update: send them once
        self._shown_logo = logo
        self.logo.content = ft.Image(src=logo, height=64) if logo else None

    def refresh(self) -> None:
        """Show the form and texts for the current step (no ``update`` here)."""
        s = self.state.sign_in.form
        tr = self.state.tr
        step = s.step
        self.identifier_form.visible = step == SignInStep.IDENTIFIER
        self.code_form.visible = step == SignInStep.CODE
        self.link_form.visible = step == SignInStep.LINK
        self.confirm_link_form.visible = step == SignInStep.CONFIRM_LINK
        if step == SignInStep.IDENTIFIER:
            self.title.value = tr.t("signin.title")
            self.intro.value = tr.t("signin.intro")
        elif step == SignInStep.CODE:
            self.title.value = tr.t("signin.code_sent")
            self.intro.value = tr.t("signin.code_sent_to", identifier=s.identifier)
        elif step == SignInStep.CONFIRM_LINK:
            self.title.value = tr.t("signin.confirm_link_title", business_unit=s.link_business_unit)
            self.intro.value = tr.t("signin.confirm_link_intro")
        else:
            self.title.value = tr.t("signin.link_title")
            self.intro.value = tr.t("signin.link_intro")
        self.identifier.label = tr.t("signin.identifier")
        self.send_button.content = tr.t("signin.send_code")
        self.link_button.content = tr.t("signin.have_link")
        self.code.label = tr.t("signin.code")
        self.verify_button.content = tr.t("signin.verify")
        self.resend_button.content = tr.t("signin.resend")
        self.change_button.content = tr.t("signin.change_identifier")
        self.link.label = tr.t("signin.link")
        self.link_submit.content = tr.t("signin.use_link")
        self.back_button.content = tr.t("signin.back")
        self.confirm_link_button.content = tr.t("signin.confirm_link")
        self.cancel_link_button.content = tr.t("signin.back")
        self.set_logo(self.state.company.logo)
        self.company.value = self.state.company.name or ""
        self.company.visible = bool(self.company.value)
        self.error.value = s.error.text(tr) if s.error else ""
        self.error.visible = s.error is not None
        self.busy.visible = s.busy
        for button in (
            self.send_button,
            self.verify_button,
            self.link_submit,
            self.confirm_link_button,
        ):
            button.disabled = s.busy
        for lang, button in self.language_buttons.items():
            button.content = tr.t(f"language.{lang}")
            button.icon = ft.Icons.CHECK if lang == tr.language else None
        self._refresh_countdown()

    def _refresh_countdown(self) -> None:
        tr = self.state.tr
        left = self.state.sign_in.form.resend_seconds_left(self.state.monotonic())
        if left >= 60:
            # "in 46 min", never "in 2724 s".
            self.countdown.value = tr.t("signin.resend_in_minutes", minutes=minutes_for(left))
        else:
            self.countdown.value = tr.t("signin.resend_in", seconds=left)
        self.countdown.visible = left > 0
        self.resend_button.disabled = left > 0 or self.state.sign_in.form.busy

    def start_countdown(self, page: ft.Page) -> None:
        """Tick the resend countdown every second while the code form is shown."""
        if self._tick_task is None or self._tick_task.done():
            self._tick_task = page.run_task(self._tick)

    async def _tick(self) -> None:
        while self.state.sign_in.form.step == SignInStep.CODE and not self.state.signed_in:
            self._refresh_countdown()
            if self.countdown.page:
                # Only the countdown and the resend button: re-sending the
                # form while the user types could drop a keystroke.
                self.countdown.page.update(self.countdown, self.resend_button)
            if self.state.sign_in.form.resend_seconds_left(self.state.monotonic()) == 0:
                return
            await asyncio.sleep(1)

    # -- handlers (async: never block the shared loop) ----------------------

    async def _send_code(self, _e: ft.Event[ft.Control]) -> None:
        # Cleared before the request, so it travels with the form: set after
        # it, Flet's update at the end of this handler would wipe digits the
        # person has already started typing.
        self.code.value = ""
        if await self.state.sign_in.request_code(self.identifier.value or ""):
            self.start_countdown(self.control.page)
            await self._focus_code()

    async def _verify(self, _e: ft.Event[ft.Control]) -> None:
        if await self.state.sign_in.verify_code(self.code.value or ""):
            return
        # A refused code is of no use: clear it for the next try. Sent at once
        # (the "signin" event already went out with the old value).
        self.code.value = ""
        with contextlib.suppress(RuntimeError):  # not on a page: tests build it bare
            self.code.update()
        await self._focus_code()  # ready for the next try without a tap

    async def _focus_code(self) -> None:
        """Put the keyboard in the code field.

        ``autofocus`` alone loses the race with the identifier field that had
        the focus and disappears in the same frame; this request reaches the
        client after the update that showed the field.
        """
        with contextlib.suppress(RuntimeError):  # not on a page: tests build it bare
            await self.code.focus()

    def _language_handler(self, lang: str):  # noqa: ANN202 - a Flet event handler
        async def choose(_e: ft.Event[ft.Control]) -> None:
            await self.state.language.set_language(lang)

        return choose

    async def _resend(self, _e: ft.Event[ft.Control]) -> None:
        if await self.state.sign_in.resend_code():
            self.start_countdown(self.control.page)

    async def _show_link(self, _e: ft.Event[ft.Control]) -> None:
        await self.state.sign_in.show_step(SignInStep.LINK)

    async def _back(self, _e: ft.Event[ft.Control]) -> None:
        await self.state.sign_in.show_step(SignInStep.IDENTIFIER)

    async def _confirm_link(self, _e: ft.Event[ft.Control]) -> None:
        await self.state.sign_in.confirm_opened_link()

    async def _use_link(self, _e: ft.Event[ft.Control]) -> None:
        await self.state.sign_in.use_link(self.link.value or "")
