"""The "New request" screen (``/requests/new``): where, what, a description, send.

No I/O here: ``app.new_request.NewRequestModel`` loads the choices and sends
the request; this module shows its ``RequestForm`` and forwards taps. When the
type is bookable the button reads "Continue: choose a date" and ``on_created``
hands over to the slots screen; otherwise the request is sent as is.
``app.main`` calls ``prepare`` (blank form), shows the screen, then ``load``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import flet as ft

from app.i18n import Translator
from app.messages import Message
from app.new_request import Created, NewRequestModel
from app.views.theme import section_title

OnCreated = Callable[[Created], Awaitable[None]]


class NewRequestView:
    """``prepare`` builds a fresh form; ``show`` refills it from the model's form."""

    def __init__(
        self,
        model: NewRequestModel,
        go_back: Callable[[], Awaitable[None]],
        on_created: OnCreated,
    ) -> None:
        """``go_back()`` returns to the list; ``on_created(created)`` continues."""
        self.model = model
        self._go_back = go_back
        self._on_created = on_created
        # A stable frame; each visit gets a brand-new form in it (``prepare``):
        # a form refilled while off screen would be patched against a state
        # the browser no longer has (see ``ActivityDetailView``).
        self.control = ft.Container(expand=True)
        self._build()

    def _build(self) -> None:
        self.back = ft.TextButton(icon=ft.Icons.ARROW_BACK, on_click=self._back)
        self.heading = section_title("")
        self.intro = ft.Text()
        self.site = ft.Dropdown(on_select=self._site_chosen, expand=True)
        self.kind = ft.Dropdown(on_select=self._type_chosen, expand=True)
        # Named for screen readers (a dropdown's label is only drawn).
        self.site_semantics = ft.Semantics(content=self.site, expand=True)
        self.kind_semantics = ft.Semantics(content=self.kind, expand=True)
        self.description = ft.TextField(
            multiline=True, min_lines=3, max_lines=8, on_change=self._typed, expand=True
        )
        self.hint = ft.Text(size=13, italic=True)
        self.notice = ft.Text(color=ft.Colors.ERROR)
        self.retry = ft.OutlinedButton(icon=ft.Icons.REFRESH, on_click=self._retry)
        self.progress = ft.ProgressRing(width=20, height=20, stroke_width=3, visible=False)
        self.submit = ft.FilledButton(on_click=self._submit)
        # Cleared first: Flet keeps a control equal in value to the current one.
        self.control.content = None
        self.control.content = ft.Column(
            [
                self.back,
                self.heading,
                self.intro,
                ft.Row([self.site_semantics]),
                ft.Row([self.kind_semantics]),
                ft.Row([self.description]),
                self.hint,
                self.notice,
                self.retry,
                ft.Row([self.submit, self.progress], spacing=12),
            ],
            spacing=12,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
        )

    def show(self) -> None:
        """Refill every control from the form (no ``update`` here)."""
        form = self.model.form
        tr = self.model.state.tr
        self.back.content = tr.t("request.back")
        self.heading.value = tr.t("request.title")
        self.intro.value = tr.t("request.intro")
        self.site.label = tr.t("request.site")
        self.site_semantics.label = tr.t("request.site")
        self.site.options = [ft.DropdownOption(key=str(c.id), text=c.text) for c in form.sites]
        self.site.value = str(form.site_id) if form.site_id is not None else None
        self.site.error_text = _text(form.errors.get("site_id"), tr)
        self.kind.label = tr.t("request.type")
        self.kind_semantics.label = tr.t("request.type")
        self.kind.options = [ft.DropdownOption(key=str(c.id), text=c.text) for c in form.types]
        self.kind.value = str(form.type_id) if form.type_id is not None else None
        self.kind.error_text = _text(form.errors.get("type_id"), tr)
        self.description.label = tr.t("request.description")
        self.description.error = _text(form.errors.get("description"), tr)
        if form.type_id is None:
            self.hint.value = ""
        else:
            self.hint.value = tr.t(
                "request.bookable_hint" if form.goes_on_to_book else "request.not_bookable_hint"
            )
        self.notice.value = _text(form.notice, tr) or ""
        self.notice.visible = form.notice is not None
        self.retry.content = tr.t("request.retry")
        self.retry.visible = form.offline and not form.loaded
        self.submit.content = tr.t(
            "request.choose_slot" if form.goes_on_to_book else "request.send"
        )
        busy = form.loading or form.sending
        self.progress.visible = busy
        self.submit.disabled = busy or not form.loaded or not form.types
        for control in (self.site, self.kind, self.description):
            control.disabled = busy or not form.loaded

    def prepare(self) -> None:
        """A new blank form, waiting for its choices (no ``update`` here)."""
        self.model.reset()
        self._build()
        self.model.form.loading = True
        self.show()

    async def load(self) -> None:
        """Fetch the choices from the server and show them (the screen is on the page)."""
        await self.model.load()
        self.show()
        self.control.update()

    async def _site_chosen(self, e: ft.Event[ft.Dropdown]) -> None:
        self.model.choose_site(int(e.control.value) if e.control.value else None)
        self.show()
        self.control.update()

    async def _type_chosen(self, e: ft.Event[ft.Dropdown]) -> None:
        self.model.choose_type(int(e.control.value) if e.control.value else None)
        self.show()
        self.control.update()

    async def _typed(self, e: ft.Event[ft.TextField]) -> None:
        had_error = "description" in self.model.form.errors
        self.model.describe(e.control.value or "")
        if had_error and "description" not in self.model.form.errors:
            self.show()
            self.control.update()

    async def _retry(self, _e: ft.Event[ft.Control]) -> None:
        self.prepare()
        self.control.update()
        await self.load()

    async def _submit(self, _e: ft.Event[ft.Control]) -> None:
        self.model.describe(self.description.value or "")
        self.model.form.sending = True
        self.show()
        self.control.update()
        self.model.form.sending = False
        created = await self.model.submit()
        self.show()
        self.control.update()
        if created is not None:
            await self._on_created(created)

    async def _back(self, _e: ft.Event[ft.Control]) -> None:
        await self._go_back()


def _text(message: Message | None, tr: Translator) -> str | None:
    return message.text(tr) if message is not None else None
