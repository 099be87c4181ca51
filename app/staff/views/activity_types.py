"""Activity types: the list, and one type's portal configuration editor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import flet as ft

from app.staff.activity_types import (
    ACTION_KINDS,
    FORM_KINDS,
    STATUSES,
    TIMINGS,
    ActivityTypesModel,
)
from app.staff.views.common import Screen, chip, heading, reorder_row

if TYPE_CHECKING:
    from app.staff.main import ConsoleApp


class ActivityTypesScreen(Screen):
    """``/types``: shown or not, title template (checked as typed), portal actions."""

    def __init__(self, console: ConsoleApp) -> None:
        """The template field and its preview lines are built once (typing keeps focus)."""
        super().__init__(console)
        self.model = ActivityTypesModel(console.state)
        self.template = ft.TextField(
            on_change=self._template_typed, expand=True, helper_max_lines=3
        )
        self.template_row = ft.Row([self.template])  # full width (300 px in a Column)
        self.template_errors = ft.Text(color=ft.Colors.ERROR, visible=False)
        self.preview_fr = ft.Text()
        self.preview_en = ft.Text()
        self.new_kind = ft.Dropdown(options=[], value=ACTION_KINDS[0], width=240)

    async def load(self) -> None:
        """The types and forms of the business unit."""
        self.model.close()

        async def work() -> None:
            await self.model.load()
            self.show_result(self.model.action)

        await self.busy(work)

    def render(self) -> None:
        """The list, or the open type's editor."""
        tr, m = self.tr, self.model
        current = m.current
        if current is None:
            self.title.value = tr.t("console.types.title")
            self.body.controls = [self._list_row(t) for t in m.types] or [
                ft.Text(tr.t("console.types.none"))
            ]
            return
        self.title.value = str(current.get("name"))
        self.body.controls = self._editor()

    def _list_row(self, item: dict[str, Any]) -> ft.Control:
        tr = self.tr
        shown = bool(item.get("portal_shown"))
        actions = ", ".join(str(a.get("label")) for a in item.get("portal_actions") or [])
        return ft.ListTile(
            title=ft.Text(str(item.get("name"))),
            subtitle=ft.Text(f"{item.get('title_template')}\n{actions}".strip()),
            trailing=chip(tr.t("console.types.shown" if shown else "console.types.hidden"), shown),
            on_click=self._open_handler(int(item["id"])),
        )

    def _editor(self) -> list[ft.Control]:
        tr, m = self.tr, self.model
        editable = m.editable
        shown = ft.Switch(
            label=tr.t("console.types.portal_shown"),
            value=bool(m.draft.get("portal_shown")),
            disabled=not editable,
            on_change=self._shown,
        )
        self.template.label = tr.t("console.types.template")
        self.template.value = str(m.draft.get("title_template") or "")
        self.template.read_only = not editable
        self.template.helper = tr.t("console.types.template_help")
        self._fill_preview()
        parts: list[ft.Control] = [
            ft.TextButton(
                tr.t("console.types.back"), icon=ft.Icons.ARROW_BACK, on_click=self._back
            ),
            shown,
            self.template_row,
            self.template_errors,
            ft.Column([self.preview_fr, self.preview_en], spacing=2),
            heading(tr.t("console.types.actions")),
        ]
        for index, action in enumerate(m.actions):
            parts.append(self._action_card(index, action, editable))
        if not m.actions:
            parts.append(ft.Text(tr.t("console.types.no_actions")))
        if editable:
            self.new_kind.label = tr.t("console.types.kind")
            self.new_kind.options = [
                ft.DropdownOption(key=k, text=tr.t(f"console.kind.{k}")) for k in ACTION_KINDS
            ]
            parts.append(
                ft.Row(
                    [
                        self.new_kind,
                        ft.OutlinedButton(
                            tr.t("console.types.add_action"), icon=ft.Icons.ADD, on_click=self._add
                        ),
                    ],
                    wrap=True,
                )
            )
            if m.errors:
                parts.append(ft.Text("\n".join(m.errors), color=ft.Colors.ERROR))
            parts.append(
                ft.FilledButton(tr.t("console.save"), icon=ft.Icons.SAVE, on_click=self._save)
            )
        return parts

    def _action_card(self, index: int, action: dict[str, Any], editable: bool) -> ft.Control:
        tr, m = self.tr, self.model
        conditions = action.get("conditions") or {}
        kind = ft.Dropdown(
            label=tr.t("console.types.kind"),
            value=action.get("kind"),
            options=[
                ft.DropdownOption(key=k, text=tr.t(f"console.kind.{k}")) for k in ACTION_KINDS
            ],
            disabled=not editable,
            on_select=self._action_handler(index, "kind"),
            width=220,
        )
        label = ft.TextField(
            label=tr.t("console.types.label"),
            value=str(action.get("label") or ""),
            read_only=not editable,
            on_change=self._action_handler(index, "label"),
            width=320,
        )
        rows: list[ft.Control] = [ft.Row([kind, label], wrap=True)]
        if action.get("kind") in FORM_KINDS:
            rows.append(
                ft.Dropdown(
                    label=tr.t("console.types.form"),
                    value=str(action.get("form_id") or ""),
                    options=[
                        ft.DropdownOption(key=str(f["id"]), text=str(f.get("name")))
                        for f in m.forms
                    ],
                    disabled=not editable,
                    on_select=self._action_handler(index, "form_id"),
                    width=320,
                )
            )
        rows.append(
            ft.Checkbox(
                label=tr.t("console.types.notify"),
                value=bool(action.get("notify_planning")),
                disabled=not editable,
                on_change=self._action_handler(index, "notify_planning"),
            )
        )
        rows.append(ft.Text(tr.t("console.types.when"), weight=ft.FontWeight.W_600))
        rows.append(
            ft.Row(
                [
                    ft.Checkbox(
                        label=tr.status(status),
                        value=status in (conditions.get("statuses") or []),
                        disabled=not editable,
                        on_change=self._status_handler(index, status),
                    )
                    for status in STATUSES
                ],
                wrap=True,
            )
        )
        rows.append(
            ft.Row(
                [
                    ft.Dropdown(
                        label=tr.t("console.types.timing"),
                        value=str(conditions.get("timing") or "any"),
                        options=[
                            ft.DropdownOption(key=k, text=tr.t(f"console.timing.{k}"))
                            for k in TIMINGS
                        ],
                        disabled=not editable,
                        on_select=self._condition_handler(index, "timing"),
                        width=240,
                    ),
                    ft.TextField(
                        label=tr.t("console.types.hours_before"),
                        value=f"{float(conditions.get('min_hours_before') or 0):g}",
                        read_only=not editable,
                        keyboard_type=ft.KeyboardType.NUMBER,
                        on_change=self._condition_handler(index, "min_hours_before"),
                        width=180,
                    ),
                ],
                wrap=True,
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
        tr, preview = self.tr, self.model.preview
        self.template_errors.value = "\n".join(preview.errors)
        self.template_errors.visible = bool(preview.errors)
        ok = not preview.errors and (preview.fr or preview.en)
        self.preview_fr.value = tr.t("console.types.preview_fr", title=preview.fr) if ok else ""
        self.preview_en.value = tr.t("console.types.preview_en", title=preview.en) if ok else ""
        self.preview_fr.visible = self.preview_en.visible = bool(ok)

    # -- handlers ------------------------------------------------------------------------

    def _open_handler(self, type_id: int):
        async def clicked(_e: ft.Event[ft.Control]) -> None:
            self.model.open(type_id)
            self.show_result(self.model.action)
            self.render()
            self._update()
            await self.model.set_template(self.model.draft["title_template"])
            self._fill_preview()
            self._update()

        return clicked

    async def _back(self, _e: ft.Event[ft.Control]) -> None:
        self.model.close()
        self.notice.visible = False  # "Saved." was about the type just left
        self.render()
        self._update()

    async def _shown(self, e: ft.Event[ft.Switch]) -> None:
        self.model.draft["portal_shown"] = bool(e.control.value)

    async def _template_typed(self, e: ft.Event[ft.TextField]) -> None:
        if await self.model.set_template_soon(e.control.value or "") is not None:
            self._fill_preview()
            self._update()

    def _action_handler(self, index: int, name: str):
        async def changed(e: ft.Event[Any]) -> None:
            value: Any = e.control.value
            if name == "form_id":
                value = int(value) if value else None
            elif name == "notify_planning":
                value = bool(value)
            self.model.update_action(index, **{name: value})
            if name in ("kind",):
                self.render()
                self._update()

        return changed

    def _condition_handler(self, index: int, name: str):
        async def changed(e: ft.Event[Any]) -> None:
            value: Any = e.control.value
            if name == "min_hours_before":
                try:
                    value = float(str(value or "0").replace(",", "."))
                except ValueError:
                    return
            self.model.set_condition(index, **{name: value})

        return changed

    def _status_handler(self, index: int, status: str):
        async def changed(e: ft.Event[ft.Checkbox]) -> None:
            self.model.toggle_status(index, status, bool(e.control.value))

        return changed

    def _move_handler(self, index: int, delta: int):
        async def clicked(_e: ft.Event[ft.Control]) -> None:
            self.model.move_action(index, delta)
            self.render()
            self._update()

        return clicked

    def _remove_handler(self, index: int):
        async def clicked(_e: ft.Event[ft.Control]) -> None:
            self.model.remove_action(index)
            self.render()
            self._update()

        return clicked

    async def _add(self, _e: ft.Event[ft.Control]) -> None:
        self.model.add_action(self.new_kind.value or ACTION_KINDS[0])
        self.render()
        self._update()

    async def _save(self, _e: ft.Event[ft.Control]) -> None:
        async def work() -> None:
            ok = await self.model.save()
            self.show_result(self.model.action, self.tr.t("console.saved") if ok else None)

        await self.busy(work)
