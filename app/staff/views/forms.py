"""Forms: the list and the form builder, with a live preview drawn by the client
app's own field renderers (``app.forms.renderers``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import flet as ft

from app.forms.renderers import FieldContext, render_field
from app.staff.form_builder import FIELD_TYPES, RANGE_TYPES, FormBuilderModel
from app.staff.views.common import Screen, heading, reorder_row

if TYPE_CHECKING:
    from app.staff.main import ConsoleApp


async def _ignore(_key: str, _value: Any) -> None:
    return None


class FormsScreen(Screen):
    """``/forms``: every form, and the builder of the open one."""

    def __init__(self, console: ConsoleApp) -> None:
        """The name field and the preview column are built once."""
        super().__init__(console)
        self.model = FormBuilderModel(console.state)
        self.name = ft.TextField(on_change=self._named, expand=True)
        self.name_row = ft.Row([self.name])  # full width (300 px in a Column)
        self.preview = ft.Column(spacing=14)
        self.new_type = ft.Dropdown(options=[], value=FIELD_TYPES[0], width=240)

    async def load(self) -> None:
        """The business unit's forms."""
        self.model.close()

        async def work() -> None:
            await self.model.load()
            self.show_result(self.model.action)

        await self.busy(work)

    def render(self) -> None:
        """The list, or the builder beside its preview."""
        tr, m = self.tr, self.model
        if not m.is_open:
            self.title.value = tr.t("console.forms.title")
            rows: list[ft.Control] = [
                ft.ListTile(
                    title=ft.Text(str(f.get("name"))),
                    subtitle=ft.Text(
                        tr.t("console.forms.count", count=len(f.get("fields") or []))
                        if "fields" in f
                        else ""
                    ),
                    on_click=self._open_handler(int(f["id"])),
                )
                for f in m.forms
            ]
            if m.editable:
                rows.insert(
                    0,
                    ft.FilledButton(
                        tr.t("console.forms.new"), icon=ft.Icons.ADD, on_click=self._new
                    ),
                )
            self.body.controls = rows or [ft.Text(tr.t("console.forms.none"))]
            return
        self.title.value = m.name or tr.t("console.forms.title")
        self._fill_preview()
        self.body.controls = [
            ft.TextButton(
                tr.t("console.forms.back"), icon=ft.Icons.ARROW_BACK, on_click=self._back
            ),
            ft.ResponsiveRow(
                [
                    ft.Column(self._builder(), spacing=12, col={"xs": 12, "md": 7}),
                    ft.Column(
                        [heading(tr.t("console.forms.preview")), self.preview],
                        col={"xs": 12, "md": 5},
                    ),
                ],
                spacing=24,
                run_spacing=24,
            ),
        ]

    def _builder(self) -> list[ft.Control]:
        tr, m = self.tr, self.model
        editable = m.editable
        self.name.label = tr.t("console.forms.name")
        self.name.value = m.name
        self.name.read_only = not editable
        parts: list[ft.Control] = [self.name_row]
        for index, field in enumerate(m.fields):
            parts.append(self._field_card(index, field, editable))
        if editable:
            self.new_type.label = tr.t("console.forms.type")
            self.new_type.options = [
                ft.DropdownOption(key=k, text=tr.t(f"console.field.{k}")) for k in FIELD_TYPES
            ]
            parts.append(
                ft.Row(
                    [
                        self.new_type,
                        ft.OutlinedButton(
                            tr.t("console.forms.add"), icon=ft.Icons.ADD, on_click=self._add
                        ),
                    ],
                    wrap=True,
                )
            )
            if m.errors:
                parts.append(ft.Text("\n".join(m.errors), color=ft.Colors.ERROR))
            if m.notice:
                parts.append(ft.Text(m.notice, color=ft.Colors.GREEN_800))
            parts.append(
                ft.FilledButton(tr.t("console.save"), icon=ft.Icons.SAVE, on_click=self._save)
            )
        return parts

    def _field_card(self, index: int, field: dict[str, Any], editable: bool) -> ft.Control:
        tr = self.tr
        kind = str(field.get("type"))
        rows: list[ft.Control] = [
            ft.Text(tr.t(f"console.field.{kind}"), weight=ft.FontWeight.W_600),
            ft.TextField(
                label=tr.t("console.forms.label"),
                value=str(field.get("label") or ""),
                read_only=not editable,
                on_change=self._field_handler(index, "label"),
                multiline=kind == "display_text",
            ),
        ]
        if kind != "display_text":
            rows.append(
                ft.TextField(
                    label=tr.t("console.forms.help"),
                    value=str(field.get("help") or ""),
                    read_only=not editable,
                    on_change=self._field_handler(index, "help"),
                )
            )
            rows.append(
                ft.Checkbox(
                    label=tr.t("console.forms.required"),
                    value=bool(field.get("required")),
                    disabled=not editable,
                    on_change=self._field_handler(index, "required"),
                )
            )
        if kind == "choice":
            rows.append(
                ft.TextField(
                    label=tr.t("console.forms.choices"),
                    value="\n".join(field.get("choices") or []),
                    multiline=True,
                    min_lines=2,
                    read_only=not editable,
                    on_change=self._field_handler(index, "choices"),
                )
            )
            rows.append(
                ft.Checkbox(
                    label=tr.t("console.forms.multiple"),
                    value=bool(field.get("multiple")),
                    disabled=not editable,
                    on_change=self._field_handler(index, "multiple"),
                )
            )
        if kind in RANGE_TYPES:
            rows.append(
                ft.Row(
                    [
                        ft.TextField(
                            label=tr.t(f"console.forms.{bound}"),
                            value="" if field.get(bound) is None else f"{field[bound]:g}",
                            read_only=not editable,
                            keyboard_type=ft.KeyboardType.NUMBER,
                            on_change=self._field_handler(index, bound),
                            width=140,
                        )
                        for bound in ("min", "max")
                    ]
                )
            )
        if editable:
            rows.append(
                reorder_row(
                    tr,
                    up=self._move_handler(index, -1),
                    down=self._move_handler(index, 1),
                    remove=self._remove_handler(index),
                )
            )
        return ft.Card(content=ft.Container(content=ft.Column(rows, spacing=8), padding=12))

    def _fill_preview(self) -> None:
        context = FieldContext(tr=self.tr)
        controls: list[ft.Control] = []
        for spec in self.model.preview_specs():
            try:
                controls.append(render_field(spec, None, _ignore, context).control)
            except Exception:  # noqa: BLE001 - a half-typed field must not break the screen
                controls.append(ft.Text(spec.label))
        self.preview.controls = controls or [ft.Text(self.tr.t("console.forms.no_fields"))]

    def _refresh_preview(self) -> None:
        self._fill_preview()
        try:
            if self.preview.page is not None:
                self.preview.update()
        except RuntimeError:
            pass

    # -- handlers ------------------------------------------------------------------------

    def _open_handler(self, form_id: int):
        async def clicked(_e: ft.Event[ft.Control]) -> None:
            async def work() -> None:
                await self.model.open(form_id)
                self.show_result(self.model.action)

            await self.busy(work)

        return clicked

    async def _new(self, _e: ft.Event[ft.Control]) -> None:
        self.model.new()
        self.render()
        self._update()

    async def _back(self, _e: ft.Event[ft.Control]) -> None:
        await self.load()

    async def _named(self, e: ft.Event[ft.TextField]) -> None:
        self.model.name = e.control.value or ""

    def _field_handler(self, index: int, name: str):
        async def changed(e: ft.Event[Any]) -> None:
            value: Any = e.control.value
            if name in ("required", "multiple"):
                self.model.update(index, **{name: bool(value)})
            elif name == "choices":
                self.model.set_choices_text(index, str(value or ""))
            elif name in ("min", "max"):
                text = str(value or "").strip().replace(",", ".")
                try:
                    self.model.update(index, **{name: float(text) if text else None})
                except ValueError:
                    return
            else:
                self.model.update(index, **{name: str(value or "")})
            self._refresh_preview()

        return changed

    def _move_handler(self, index: int, delta: int):
        async def clicked(_e: ft.Event[ft.Control]) -> None:
            self.model.move(index, delta)
            self.render()
            self._update()

        return clicked

    def _remove_handler(self, index: int):
        async def clicked(_e: ft.Event[ft.Control]) -> None:
            self.model.remove(index)
            self.render()
            self._update()

        return clicked

    async def _add(self, _e: ft.Event[ft.Control]) -> None:
        self.model.add(self.new_type.value or FIELD_TYPES[0])
        self.render()
        self._update()

    async def _save(self, _e: ft.Event[ft.Control]) -> None:
        async def work() -> None:
            await self.model.save()
            self.show_result(self.model.action)

        await self.busy(work)
