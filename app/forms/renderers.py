"""One renderer per field type: a Flet control built from the form definition alone.

Each renderer shows its label (``*`` when required), the input, and the
error beside it; it reports every change through ``on_change(key, value)``
with the answer in the wire shape (``backend.forms``: ISO dates, ``HH:MM``,
numbers, choices…). Renderers hold no I/O: the form's view-model
(``app.form_filling``) keeps drafts and validates; the photo picker is
handed in (``pick_photo``) so that this module never touches a file.

``FieldRenderer.set_error`` changes only the error line, so typing in one
field never redraws the form.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import flet as ft

from app.forms import fields as f
from app.forms.fields import FieldSpec
from app.forms.photo import thumbnail_src
from app.forms.signature_pad import SignaturePad
from app.i18n import Translator
from backend.forms import TEXT_MAX_LENGTH, TEXTAREA_MAX_LENGTH

OnChange = Callable[[str, Any], Awaitable[None]]
# Opens the platform's picker: the photo answer, a sentence saying why the
# file cannot be used, or None when the client cancelled.
PickPhoto = Callable[[], Awaitable[dict[str, Any] | str | None]]


@dataclass(frozen=True)
class FieldContext:
    """What renderers need besides their field: the language, the form's
    replacement values, the signature line and the photo picker."""

    tr: Translator
    values: dict[str, str] = dc_field(default_factory=dict)
    signed_line: str = ""
    pick_photo: PickPhoto | None = None


class FieldRenderer:
    """A field's label, input and error line; subclasses build the input."""

    def __init__(
        self, spec: FieldSpec, value: Any, on_change: OnChange, context: FieldContext
    ) -> None:
        """Build the controls for ``spec`` showing ``value``."""
        self.spec = spec
        self.context = context
        self.tr = context.tr
        self._on_change = on_change
        self.error = ft.Text(color=ft.Colors.ERROR, size=13, visible=False)
        self.label_text = spec.label + (" *" if spec.required else "")
        self.label = ft.Text(self.label_text, weight=ft.FontWeight.W_600)
        parts: list[ft.Control] = [self.label]
        if spec.help:
            parts.append(ft.Text(spec.help, size=13, color=ft.Colors.ON_SURFACE_VARIANT))
        parts.append(self.build(value))
        parts.append(self.error)
        self.control = ft.Column(parts, spacing=6)

    def build(self, value: Any) -> ft.Control:
        """The input control (subclasses)."""
        raise NotImplementedError

    async def changed(self, value: Any) -> None:
        """Report a new answer (and hide the error: it was about the old one)."""
        if self.error.visible:
            self.set_error(None)
            self.error.update()
        await self._on_change(self.spec.key, value)

    def set_error(self, text: str | None) -> None:
        """Show ``text`` under the field (None hides it); no ``update`` here."""
        self.error.value = text or ""
        self.error.visible = bool(text)


class TextRenderer(FieldRenderer):
    """``text`` and ``textarea`` (with a counter)."""

    def build(self, value: Any) -> ft.Control:
        multiline = self.spec.type == "textarea"
        # The field carries its own label (read by screen readers too).
        self.label.visible = False
        self.field = ft.TextField(
            label=self.label_text,
            value=value if isinstance(value, str) else "",
            multiline=multiline,
            min_lines=3 if multiline else 1,
            max_lines=8 if multiline else 1,
            max_length=TEXTAREA_MAX_LENGTH if multiline else TEXT_MAX_LENGTH,
            on_change=self._typed,
        )
        return self.field

    async def _typed(self, e: ft.Event[ft.TextField]) -> None:
        await self.changed(e.control.value or "")


class NumberRenderer(FieldRenderer):
    """A number typed as text (``3,5`` or ``3.5``), with its range as a hint."""

    def build(self, value: Any) -> ft.Control:
        low, high = self.spec.min, self.spec.max
        hint = ""
        if low is not None and high is not None:
            hint = self.tr.t("form.number.between", min=_num(low), max=_num(high))
        elif low is not None:
            hint = self.tr.t("form.number.min", min=_num(low))
        elif high is not None:
            hint = self.tr.t("form.number.max", max=_num(high))
        # The field carries its own label (read by screen readers too).
        self.label.visible = False
        self.field = ft.TextField(
            label=self.label_text,
            value=f.number_text(value, self.tr.language),
            keyboard_type=ft.KeyboardType.NUMBER,
            helper=hint or None,
            on_change=self._typed,
            width=340,
        )
        return self.field

    async def _typed(self, e: ft.Event[ft.TextField]) -> None:
        number, ok = f.number_from_text(e.control.value or "")
        if not ok:
            # Kept as typed so the check names it ("Please enter a number").
            await self.changed(e.control.value)
            return
        await self.changed(number)


class DateRenderer(FieldRenderer):
    """A date typed in the client's format, or picked from a calendar."""

    def build(self, value: Any) -> ft.Control:
        language = self.tr.language
        # The field carries its own label (read by screen readers too).
        self.label.visible = False
        self.field = ft.TextField(
            label=self.label_text,
            value=f.date_text(value, language),
            hint_text=f.date_hint(language),
            keyboard_type=ft.KeyboardType.DATETIME,
            on_change=self._typed,
            width=200,
        )
        self.pick = ft.IconButton(
            icon=ft.Icons.CALENDAR_MONTH,
            tooltip=self.tr.t("form.date.pick"),
            on_click=self._open_picker,
        )
        return ft.Row(
            [self.field, self.pick],
            spacing=4,
            vertical_alignment=ft.CrossAxisAlignment.START,
        )

    async def _typed(self, e: ft.Event[ft.TextField]) -> None:
        day, ok = f.date_from_text(e.control.value or "", self.tr.language)
        await self.changed(day if ok else e.control.value)

    async def _open_picker(self, e: ft.Event[ft.IconButton]) -> None:
        picker = ft.DatePicker(
            value=None,
            locale=ft.Locale(self.tr.language),
            on_change=self._picked,
            help_text=self.spec.label,
        )
        e.page.show_dialog(picker)

    async def _picked(self, e: ft.Event[ft.DatePicker]) -> None:
        day = f.picked_date(e.control.value)
        if day is None:
            return
        self.field.value = f.date_text(day, self.tr.language)
        self.field.update()
        await self.changed(day)


class TimeRenderer(FieldRenderer):
    """A time typed as the client writes it (``14:30``, ``2:30 PM``), or picked."""

    def build(self, value: Any) -> ft.Control:
        # The field carries its own label (read by screen readers too).
        self.label.visible = False
        self.field = ft.TextField(
            label=self.label_text,
            value=f.time_text(value, self.tr.language),
            hint_text=self.tr.t("form.time.hint"),
            keyboard_type=ft.KeyboardType.DATETIME,
            on_change=self._typed,
            width=200,
        )
        self.pick = ft.IconButton(
            icon=ft.Icons.SCHEDULE,
            tooltip=self.tr.t("form.time.pick"),
            on_click=self._open_picker,
        )
        return ft.Row(
            [self.field, self.pick],
            spacing=4,
            vertical_alignment=ft.CrossAxisAlignment.START,
        )

    async def _typed(self, e: ft.Event[ft.TextField]) -> None:
        moment, ok = f.time_from_text(e.control.value or "", self.tr.language)
        await self.changed(moment if ok else e.control.value)

    async def _open_picker(self, e: ft.Event[ft.IconButton]) -> None:
        picker = ft.TimePicker(
            locale=ft.Locale(self.tr.language), on_change=self._picked, help_text=self.spec.label
        )
        e.page.show_dialog(picker)

    async def _picked(self, e: ft.Event[ft.TimePicker]) -> None:
        moment = e.control.value
        if moment is None:
            return
        answer = moment.strftime("%H:%M")
        self.field.value = f.time_text(answer, self.tr.language)
        self.field.update()
        await self.changed(answer)


class YesNoRenderer(FieldRenderer):
    """Yes / No as two radio buttons (no answer until one is picked)."""

    def build(self, value: Any) -> ft.Control:
        current = {True: "yes", False: "no"}.get(value) if isinstance(value, bool) else None
        self.group = ft.RadioGroup(
            value=current,
            on_change=self._picked,
            content=ft.Row(
                [
                    ft.Radio(value="yes", label=self.tr.t("form.yes")),
                    ft.Radio(value="no", label=self.tr.t("form.no")),
                ],
                spacing=16,
            ),
        )
        return self.group

    async def _picked(self, e: ft.Event[ft.RadioGroup]) -> None:
        await self.changed({"yes": True, "no": False}.get(e.control.value or ""))


class ChoiceRenderer(FieldRenderer):
    """One choice (radio buttons) or several (check boxes)."""

    def build(self, value: Any) -> ft.Control:
        choices = self.spec.choices
        if self.spec.multiple:
            chosen = set(value) if isinstance(value, list) else set()
            self.boxes = [
                ft.Checkbox(label=choice, value=choice in chosen, on_change=self._ticked)
                for choice in choices
            ]
            return ft.Column(self.boxes, spacing=0)
        self.group = ft.RadioGroup(
            value=value if isinstance(value, str) and value in choices else None,
            on_change=self._picked,
            content=ft.Column(
                [ft.Radio(value=choice, label=choice) for choice in choices], spacing=0
            ),
        )
        return self.group

    async def _picked(self, e: ft.Event[ft.RadioGroup]) -> None:
        await self.changed(e.control.value or None)

    async def _ticked(self, _e: ft.Event[ft.Checkbox]) -> None:
        chosen = [
            choice for choice, box in zip(self.spec.choices, self.boxes, strict=True) if box.value
        ]
        await self.changed(chosen)


class RatingRenderer(FieldRenderer):
    """Stars: tap the n-th star for n (tap it again to take the rating back)."""

    def build(self, value: Any) -> ft.Control:
        low, high = self.spec.rating_range
        self.value = value if isinstance(value, int) and not isinstance(value, bool) else None
        self.stars = [
            ft.IconButton(
                icon=ft.Icons.STAR_BORDER,
                icon_color=ft.Colors.AMBER_800,
                data=n,
                on_click=self._tapped,
            )
            for n in range(low, high + 1)
        ]
        # Named for screen readers ("4 out of 5"), and selected up to the rating.
        self.named = [
            ft.Semantics(
                content=star,
                button=True,
                label=self.tr.t("form.rating.star", value=star.data, max=high),
            )
            for star in self.stars
        ]
        self._paint_stars()
        return ft.Row(self.named, spacing=0, wrap=True)

    def _paint_stars(self) -> None:
        for star, named in zip(self.stars, self.named, strict=True):
            lit = self.value is not None and star.data <= self.value
            star.icon = ft.Icons.STAR if lit else ft.Icons.STAR_BORDER
            named.selected = lit

    async def _tapped(self, e: ft.Event[ft.IconButton]) -> None:
        n = int(e.control.data)
        self.value = None if self.value == n else n
        self._paint_stars()
        for named in self.named:
            named.update()
        await self.changed(self.value)


class PhotoRenderer(FieldRenderer):
    """Take or pick a photo; shown as a thumbnail, with "Remove"."""

    def build(self, value: Any) -> ft.Control:
        self.answer = value if isinstance(value, dict) else None
        self.thumb = ft.Image(
            src=thumbnail_src(self.answer) or "",
            width=200,
            height=120,
            fit=ft.BoxFit.COVER,
            border_radius=8,
            visible=self.answer is not None,
        )
        self.pick = ft.OutlinedButton(
            self.tr.t("form.photo.pick"), icon=ft.Icons.ADD_A_PHOTO, on_click=self._pick
        )
        self.remove = ft.TextButton(
            self.tr.t("form.photo.remove"),
            icon=ft.Icons.DELETE_OUTLINE,
            on_click=self._remove,
            visible=self.answer is not None,
        )
        self.busy = ft.ProgressRing(width=18, height=18, stroke_width=2, visible=False)
        return ft.Column(
            [self.thumb, ft.Row([self.pick, self.remove, self.busy], wrap=True)], spacing=6
        )

    def _show(self) -> None:
        self.thumb.src = thumbnail_src(self.answer) or ""
        self.thumb.visible = self.answer is not None
        self.remove.visible = self.answer is not None
        self.pick.content = self.tr.t(
            "form.photo.replace" if self.answer is not None else "form.photo.pick"
        )

    async def _pick(self, _e: ft.Event[ft.Control]) -> None:
        pick_photo = self.context.pick_photo
        if pick_photo is None:
            return
        self.busy.visible = True
        self.busy.update()
        try:
            answer = await pick_photo()
        finally:
            self.busy.visible = False
        if isinstance(answer, str):
            self.set_error(answer)
            self.control.update()
            return
        if answer is not None:
            self.answer = answer
        self._show()
        self.control.update()
        if answer is not None:
            await self.changed(answer)

    async def _remove(self, _e: ft.Event[ft.Control]) -> None:
        self.answer = None
        self._show()
        self.control.update()
        await self.changed(None)


class SignatureRenderer(FieldRenderer):
    """The signature pad (``app.forms.signature_pad``)."""

    def build(self, value: Any) -> ft.Control:
        self.pad = SignaturePad(
            value,
            self.changed,
            labels={
                "undo": self.tr.t("form.signature.undo"),
                "redo": self.tr.t("form.signature.redo"),
                "clear": self.tr.t("form.signature.clear"),
                "hint": self.tr.t("form.signature.hint"),
                "pad": self.tr.t("form.signature.pad", label=self.spec.label),
            },
            signed_line=self.context.signed_line,
        )
        return self.pad.control


class DisplayText(FieldRenderer):
    """Guiding text with its replacement codes filled in; takes no answer."""

    def build(self, value: Any) -> ft.Control:
        self.label.visible = False
        return ft.Container(
            content=ft.Text(f.display_text(self.spec.label, self.context.values)),
            bgcolor=ft.Colors.SECONDARY_CONTAINER,
            border_radius=8,
            padding=12,
        )


RENDERERS: dict[str, type[FieldRenderer]] = {
    "text": TextRenderer,
    "textarea": TextRenderer,
    "number": NumberRenderer,
    "date": DateRenderer,
    "time": TimeRenderer,
    "yes_no": YesNoRenderer,
    "choice": ChoiceRenderer,
    "rating": RatingRenderer,
    "photo": PhotoRenderer,
    "signature": SignatureRenderer,
    "display_text": DisplayText,
}


def render_field(
    spec: FieldSpec, value: Any, on_change: OnChange, context: FieldContext
) -> FieldRenderer:
    """The renderer of ``spec``'s type (unknown types were read as text)."""
    return RENDERERS.get(spec.type, TextRenderer)(spec, value, on_change, context)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
