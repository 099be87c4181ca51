"""The form screen (``/activities/{id}/forms/{action}``): fill, sign, send — offline too.

No I/O here: ``app.form_filling.FormModel`` loads the form and the draft,
validates and queues; this module shows its ``FormScreen`` with one renderer
per field (``app.forms.renderers``) and forwards taps.

- fill_form and survey: the fields, then "Send";
- validate_document: the document to read (the quote's lines and totals,
  its PDF), the fields (the signature among them), then "Accept and sign"
  or "Refuse", which asks for a reason.

Typing never redraws the form: each renderer reports its answer and only an
error line changes. After sending, the screen says whether the answers left
already or wait for the connection, and leads back to the appointment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from app.form_filling import FormModel, FormScreen
from app.forms.fields import FieldSpec
from app.forms.renderers import FieldContext, FieldRenderer, render_field
from app.messages import Message
from app.quote_view import QuoteScreen
from app.views.theme import section_title

GoBack = Callable[[], Awaitable[None]]


class PhotoPicker:
    """The platform's picker for images (camera or gallery on phones)."""

    def __init__(self, model: FormModel) -> None:
        """Created once; the Flet service is made on first use (it needs the page)."""
        self.model = model
        self._picker: ft.FilePicker | None = None

    async def pick(self) -> dict[str, Any] | str | None:
        """The photo answer of the picked image, why it cannot be used, or None (cancelled)."""
        if self._picker is None:
            # Kept referenced: Flet drops services nobody holds.
            self._picker = ft.FilePicker()
        files = await self._picker.pick_files(
            dialog_title=self.model.tr.t("form.photo.pick"),
            file_type=ft.FilePickerFileType.IMAGE,
            with_data=True,
        )
        if not files:
            return None
        return await self.model.photo_answer(files[0].bytes, files[0].path)


class FormView:
    """``show`` builds the screen from the model's ``FormScreen``."""

    def __init__(self, model: FormModel, go_back: GoBack) -> None:
        """``go_back()`` returns to the appointment."""
        self.model = model
        self._go_back = go_back
        self.photos = PhotoPicker(model)
        self.renderers: dict[str, FieldRenderer] = {}
        # A stable frame; each ``show`` puts a new subtree in it (see ActivityDetailView).
        self.control = ft.Container(expand=True)
        self.notice = ft.Text()
        self.notice_box = ft.Container()
        self.reason = ft.TextField()
        self.refusal = ft.Column()
        self.pdf_problem = ft.Text()
        self._saver: ft.FilePicker | None = None
        self._list: ft.Column | None = None
        self._rest: list[FieldSpec] = []
        self._tail: list[ft.Control] = []
        self._context = FieldContext(tr=model.tr)

    def show(self, first: int | None = None) -> None:
        """Build the screen from the model (no ``update`` here); ``first``: only that
        many fields now, the others with ``show_rest``."""
        screen = self.model.screen
        tr = self.model.tr
        back = ft.TextButton(tr.t("form.back"), icon=ft.Icons.ARROW_BACK, on_click=self._back)
        parts: list[ft.Control] = [back]
        self.renderers = {}
        if screen is None or screen.phase == "loading":
            parts.append(ft.ProgressRing())
            self._set(parts)
            return
        parts.append(ft.Text(screen.title, size=22, weight=ft.FontWeight.BOLD))
        if screen.activity_title:
            parts.append(ft.Text(screen.activity_title, color=ft.Colors.ON_SURFACE_VARIANT))
        self.notice = ft.Text(screen.notice.text(tr) if screen.notice else "")
        self.notice_box = ft.Container(
            content=self.notice,
            padding=12,
            border_radius=8,
            bgcolor=_notice_color(screen),
            visible=screen.notice is not None,
        )
        parts.append(self.notice_box)
        if screen.phase == "unavailable":
            self._set(parts)
            return
        if screen.phase == "queued":
            parts.append(self._sent_panel(screen))
            self._set(parts)
            return
        if screen.draft_restored:
            parts.append(
                ft.Row(
                    [
                        ft.Icon(ft.Icons.HISTORY, size=18),
                        ft.Text(tr.t("form.draft_restored"), expand=True, size=13),
                        ft.TextButton(tr.t("form.start_again"), on_click=self._start_again),
                    ],
                    wrap=True,
                )
            )
        if screen.quote is not None:
            parts.append(self._quote(screen.quote))
        context = FieldContext(
            tr=tr,
            values=screen.template_values,
            signed_line=tr.t(
                "form.signature.signed_by",
                name=screen.signer_name or tr.t("form.signature.you"),
                date=self.model.today_text(),
            ),
            pick_photo=self.photos.pick,
        )
        self._context = context
        shown = screen.fields if first is None else screen.fields[:first]
        self._rest = [] if first is None else screen.fields[first:]
        parts += [self._field(spec) for spec in shown]
        self._tail = [ft.Divider(), self._buttons(screen)]
        self._set(parts + self._tail)

    def _field(self, spec: FieldSpec) -> ft.Control:
        screen = self.model.screen
        assert screen is not None
        renderer = render_field(spec, screen.answers.get(spec.key), self._changed, self._context)
        error = screen.errors.get(spec.key)
        renderer.set_error(error.text(self.model.tr) if error else None)
        self.renderers[spec.key] = renderer
        renderer.control.key = _scroll_key(spec.key)
        return renderer.control

    async def show_rest(self) -> None:
        """Add the fields ``show(first=…)`` left out, in one update (the screen is on the page).

        A long form opens with its first fields at once and the others
        follow a moment later, while the client reads the top.
        """
        if not self._rest or self._list is None:
            return
        rest, self._rest = self._rest, []
        controls = self._list.controls
        at = len(controls) - len(self._tail)
        controls[at:at] = [self._field(spec) for spec in rest]
        self._list.update()

    def _set(self, parts: list[ft.Control]) -> None:
        # Cleared first: Flet keeps a control equal in value to the current one.
        self.control.content = None
        self._list = ft.Column(parts, spacing=14, scroll=ft.ScrollMode.AUTO, expand=True)
        self.control.content = self._list

    def _buttons(self, screen: FormScreen) -> ft.Control:
        tr = self.model.tr
        if not screen.is_document:
            return ft.FilledButton(tr.t("form.send"), icon=ft.Icons.SEND, on_click=self._submit)
        error = screen.errors.get("reason")
        self.reason = ft.TextField(
            label=tr.t("form.refuse.reason"),
            multiline=True,
            min_lines=2,
            max_lines=5,
            max_length=1000,
            error=error.text(tr) if error else None,
        )
        self.refusal = ft.Column(
            [
                ft.Semantics(content=self.reason, label=tr.t("form.refuse.reason")),
                ft.OutlinedButton(tr.t("form.refuse.send"), on_click=self._refuse),
            ],
            visible=error is not None,
        )
        return ft.Column(
            [
                ft.Row(
                    [
                        ft.FilledButton(
                            tr.t("form.accept"), icon=ft.Icons.DRAW, on_click=self._submit
                        ),
                        ft.OutlinedButton(tr.t("form.refuse"), on_click=self._open_refusal),
                    ],
                    wrap=True,
                    spacing=8,
                ),
                self.refusal,
            ],
            spacing=8,
        )

    def _sent_panel(self, screen: FormScreen) -> ft.Control:
        tr = self.model.tr
        return ft.Column(
            [
                ft.Icon(ft.Icons.CHECK_CIRCLE, color=ft.Colors.PRIMARY, size=40),
                ft.FilledTonalButton(
                    tr.t("form.back"), icon=ft.Icons.ARROW_BACK, on_click=self._back
                ),
            ],
            spacing=12,
        )

    def _quote(self, quote: QuoteScreen) -> ft.Control:
        """The quote to read before signing: its lines, totals, note and PDF."""
        muted = ft.Colors.ON_SURFACE_VARIANT
        rows: list[ft.Control] = [section_title(quote.title)]
        if quote.problem:
            rows.append(ft.Text(quote.problem, color=ft.Colors.ERROR))
        if quote.issued:
            rows.append(ft.Text(quote.issued, size=13, color=muted))
        if quote.valid_until:
            rows.append(
                ft.Text(
                    quote.valid_until,
                    size=13,
                    color=ft.Colors.ERROR if quote.expired else muted,
                )
            )
        columns = quote.columns
        for line in quote.lines:
            detail = (
                f"{columns.quantity} {line.quantity} × {line.unit_price}"
                f" · {columns.tax_rate} {line.tax_rate}"
            )
            rows.append(
                ft.Row(
                    [
                        ft.Column(
                            [
                                ft.Text(line.label),
                                ft.Text(detail, size=12, color=muted),
                            ],
                            spacing=0,
                            expand=True,
                        ),
                        ft.Text(line.total, text_align=ft.TextAlign.RIGHT),
                    ],
                    vertical_alignment=ft.CrossAxisAlignment.START,
                )
            )
        if quote.readable:
            rows.append(ft.Divider(height=1))
            rows.append(_amount_row(quote.subtotal_label, quote.subtotal))
            for tax in quote.taxes:
                rows.append(_amount_row(tax.label, tax.amount, size=13))
            rows.append(_amount_row(quote.total_label, quote.total, strong=True))
        if quote.note:
            rows.append(ft.Text(quote.note, size=13, italic=True))
        if quote.pdf is not None:
            self.pdf_problem = ft.Text(color=ft.Colors.ERROR, size=13, visible=False)
            rows.append(
                ft.TextButton(quote.pdf.label, icon=ft.Icons.PICTURE_AS_PDF, on_click=self._pdf)
            )
            rows.append(self.pdf_problem)
        return ft.Container(
            content=ft.Column(rows, spacing=6),
            padding=12,
            border=ft.Border.all(1, ft.Colors.OUTLINE_VARIANT),
            border_radius=8,
        )

    # -- events ----------------------------------------------------------------

    async def _changed(self, key: str, value: Any) -> None:
        await self.model.set_answer(key, value)

    async def _pdf(self, _e: ft.Event[ft.Control]) -> None:
        got = await self.model.quote_pdf()
        if isinstance(got, Message):
            self.pdf_problem.value = got.text(self.model.tr)
            self.pdf_problem.visible = True
            self.pdf_problem.update()
            return
        name, data = got
        if self._saver is None:
            # Kept referenced: Flet drops services nobody holds.
            self._saver = ft.FilePicker()
        # A download in a browser, a save dialog on desktop, the share sheet on phones.
        await self._saver.save_file(
            file_name=name,
            src_bytes=data,
            file_type=ft.FilePickerFileType.CUSTOM,
            allowed_extensions=["pdf"],
        )

    async def _start_again(self, _e: ft.Event[ft.Control]) -> None:
        await self.model.discard_draft()
        self.show()
        self.control.update()

    async def _submit(self, _e: ft.Event[ft.Control]) -> None:
        if await self.model.submit():
            self.show()
            self.control.update()
        else:
            await self._show_errors()

    async def _show_errors(self) -> None:
        """Errors beside their fields and the summary on top, the form left as it is."""
        screen = self.model.screen
        if screen is None:
            return
        tr = self.model.tr
        changed: list[ft.Control] = []
        for key, renderer in self.renderers.items():
            error = screen.errors.get(key)
            text = error.text(tr) if error else None
            if (renderer.error.value or None) != text:
                renderer.set_error(text)
                changed.append(renderer.error)
        self.notice.value = screen.notice.text(tr) if screen.notice else ""
        self.notice_box.visible = screen.notice is not None
        self.notice_box.bgcolor = _notice_color(screen)
        changed.append(self.notice_box)
        for control in changed:
            control.update()
        # Bring the first field to fix into view (the button is at the bottom).
        first = next((key for key in self.renderers if key in screen.errors), None)
        if first is not None and self._list is not None:
            await self._list.scroll_to(scroll_key=_scroll_key(first), duration=300)
        elif self._list is not None:
            await self._list.scroll_to(offset=0, duration=300)

    async def _open_refusal(self, _e: ft.Event[ft.Control]) -> None:
        self.refusal.visible = True
        self.refusal.update()

    async def _refuse(self, _e: ft.Event[ft.Control]) -> None:
        if await self.model.refuse(self.reason.value or ""):
            self.show()
            self.control.update()
            return
        error = self.model.screen.errors.get("reason") if self.model.screen else None
        self.reason.error = error.text(self.model.tr) if error else None
        self.reason.update()

    async def _back(self, _e: ft.Event[ft.Control]) -> None:
        await self._go_back()


def _scroll_key(field_key: str) -> ft.ScrollKey:
    return ft.ScrollKey(f"field-{field_key}")


def _notice_color(screen: FormScreen) -> str:
    if screen.phase == "queued":
        return ft.Colors.PRIMARY_CONTAINER
    if screen.errors or screen.phase == "unavailable" or screen.fixing:
        return ft.Colors.ERROR_CONTAINER
    return ft.Colors.SECONDARY_CONTAINER


def _amount_row(label: str, amount: str, *, strong: bool = False, size: int = 14) -> ft.Row:
    weight = ft.FontWeight.BOLD if strong else ft.FontWeight.NORMAL
    return ft.Row(
        [
            ft.Text(label, expand=True, weight=weight, size=size),
            ft.Text(amount, weight=weight, size=size),
        ]
    )
