"""Business unit → Client portal: the settings form beside a live preview of the
client's home, drawn by the client app's own ``HomeView``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import flet as ft

from app.company import CompanyModel
from app.i18n import Translator
from app.staff.portal_settings import SWITCHES, TEXTS, PortalSettingsModel
from app.staff.views.common import Screen, chip, heading
from app.views.home import HomeView
from app.views.theme import seed_color

if TYPE_CHECKING:
    from app.staff.main import ConsoleApp


@dataclass
class _NoActivities:
    next_appointment: None = None


class _PreviewState:
    """What ``HomeView`` reads from the client app's state, filled from the draft."""

    def __init__(self, tr: Translator) -> None:
        self.tr = tr
        self.signed_in = True
        self.client_name = ""
        self.activities = _NoActivities()
        self.company = CompanyModel(self)  # type: ignore[arg-type]


class BrandingPreview:
    """The client's home as it will look: the header (logo, name) and ``HomeView``."""

    def __init__(self, tr: Translator) -> None:
        """A phone-sized frame; ``show`` fills it."""
        self.preview_state = _PreviewState(tr)
        self.home = HomeView(self.preview_state, _nothing, _nothing_all)  # type: ignore[arg-type]
        self.logo = ft.Container()
        self.name = ft.Text(size=18, weight=ft.FontWeight.W_600, expand=True, max_lines=1)
        self.caption = ft.Text(size=12, color=ft.Colors.ON_SURFACE_VARIANT)
        self.bar = ft.Container(height=4)
        self.control = ft.Column(
            [
                self.caption,
                ft.Container(
                    content=ft.Column(
                        [
                            self.bar,
                            ft.Row([self.logo, self.name]),
                            ft.Container(content=self.home.control, height=480),
                        ],
                        spacing=10,
                    ),
                    border=ft.Border.all(1, ft.Colors.OUTLINE_VARIANT),
                    border_radius=16,
                    padding=16,
                    width=360,
                ),
            ],
            spacing=6,
        )

    def show(self, doc: dict[str, Any], logo: bytes | None, client_name: str) -> None:
        """Draw the home from a branding document (no ``update`` here)."""
        tr = self.preview_state.tr
        self.preview_state.company.branding_doc = doc
        self.preview_state.client_name = client_name
        self.caption.value = tr.t("console.portal.preview")
        self.name.value = doc.get("name") or tr.t("app.title")
        self.logo.content = ft.Image(src=logo, height=32) if logo else None
        self.bar.bgcolor = seed_color(doc.get("primary_color"))
        self.home.refresh()


async def _nothing(_id: str) -> None:
    return None


async def _nothing_all() -> None:
    return None


class PortalScreen(Screen):
    """Settings, branding, logo upload and bulk access of the current business unit."""

    def __init__(self, console: ConsoleApp) -> None:
        """Controls are built once; typing updates only the preview."""
        super().__init__(console)
        self.model = PortalSettingsModel(console.state)
        self.preview = BrandingPreview(console.state.tr)
        self.switches = {name: ft.Switch(on_change=self._switch_handler(name)) for name in SWITCHES}
        self.texts = {
            name: ft.TextField(
                on_change=self._text_handler(name),
                multiline=name in ("description", "address"),
                expand=True,  # the width of the form column, inside its own Row
                min_lines=3 if name == "description" else 1,
                max_lines=6 if name == "description" else 2,
            )
            for name in TEXTS
        }
        # A Column gives a text field its default 300 px; a Row lets it expand.
        self.text_rows = [ft.Row([field]) for field in self.texts.values()]
        self._picker: ft.FilePicker | None = None

    async def load(self) -> None:
        """Read the business unit and its logo."""
        await self.busy(self._load)

    async def _load(self) -> None:
        if await self.model.load():
            self.model.logo = await self.console.fetch_logo(self.model.saved.get("logo_url"))
        self.show_result(self.model.action)

    def render(self) -> None:
        """The form (admins) or the read-only values, beside the preview."""
        tr, m = self.tr, self.model
        self.title.value = tr.t("console.portal.title", bu=self.state.bu_name)
        editable = m.editable
        for name, switch in self.switches.items():
            switch.label = tr.t(f"console.portal.{name}")
            switch.value = bool(m.draft.get(name))
            switch.disabled = not editable
        for name, field in self.texts.items():
            field.label = tr.t(f"console.portal.{name}")
            field.value = str(m.draft.get(name) or "")
            field.read_only = not editable
        sms = ft.Text(
            tr.t("console.portal.sms_info", price=f"{m.sms_price:g}", credits=f"{m.sms_credits:g}")
        )
        settings: list[ft.Control] = list(self.switches.values())
        if not editable:
            # A disabled switch looks off whatever its value: say it in words.
            settings = [
                ft.Row(
                    [
                        ft.Text(tr.t(f"console.portal.{name}")),
                        chip(
                            tr.t("console.on" if m.draft.get(name) else "console.off"),
                            bool(m.draft.get(name)),
                        ),
                    ],
                    spacing=12,
                )
                for name in self.switches
            ]
        form: list[ft.Control] = [
            heading(tr.t("console.portal.settings")),
            *settings,
            sms,
            heading(tr.t("console.portal.branding")),
            *self.text_rows,
        ]
        if editable:
            form += [
                ft.Row(
                    [
                        ft.OutlinedButton(
                            tr.t("console.portal.logo"), icon=ft.Icons.UPLOAD, on_click=self._pick
                        ),
                        ft.Text(tr.t("console.portal.logo_hint"), size=12),
                    ],
                    wrap=True,
                ),
                ft.FilledButton(tr.t("console.save"), icon=ft.Icons.SAVE, on_click=self._save),
                heading(tr.t("console.portal.bulk")),
                *self._bulk_controls(),
            ]
        else:
            form.append(ft.Text(tr.t("console.read_only"), italic=True))
        self.preview.show(m.preview_branding(), m.logo, tr.t("console.portal.sample_client"))
        self.body.controls = [
            ft.ResponsiveRow(
                [
                    ft.Column(form, spacing=12, col={"xs": 12, "md": 7}),
                    ft.Column([self.preview.control], col={"xs": 12, "md": 5}),
                ],
                spacing=24,
                run_spacing=24,
            )
        ]

    def _bulk_controls(self) -> list[ft.Control]:
        tr, m = self.tr, self.model
        if m.bulk is not None:
            key = (
                "console.portal.bulk_enable_count"
                if m.bulk.enable
                else "console.portal.bulk_disable_count"
            )
            return [
                ft.Text(tr.t(key, count=m.bulk.affected), weight=ft.FontWeight.W_600),
                ft.Row(
                    [
                        ft.FilledButton(tr.t("console.confirm"), on_click=self._bulk_confirm),
                        ft.TextButton(tr.t("console.cancel"), on_click=self._bulk_cancel),
                    ]
                ),
            ]
        parts: list[ft.Control] = [
            ft.Row(
                [
                    ft.OutlinedButton(
                        tr.t("console.portal.bulk_enable"), on_click=self._bulk_handler(True)
                    ),
                    ft.OutlinedButton(
                        tr.t("console.portal.bulk_disable"), on_click=self._bulk_handler(False)
                    ),
                ],
                wrap=True,
            )
        ]
        if m.bulk_done is not None:
            parts.append(ft.Text(tr.t("console.portal.bulk_done", count=m.bulk_done)))
        return parts

    # -- handlers ------------------------------------------------------------------

    def _switch_handler(self, name: str):
        async def changed(e: ft.Event[ft.Switch]) -> None:
            self.model.set(name, bool(e.control.value))

        return changed

    def _text_handler(self, name: str):
        async def changed(e: ft.Event[ft.TextField]) -> None:
            self.model.set(name, e.control.value or "")
            tr = self.tr
            self.preview.show(
                self.model.preview_branding(), self.model.logo, tr.t("console.portal.sample_client")
            )
            self.preview.control.update()

        return changed

    async def _save(self, _e: ft.Event[ft.Control]) -> None:
        async def work() -> None:
            ok = await self.model.save()
            self.show_result(self.model.action, self.tr.t("console.saved") if ok else None)
            if ok:
                self.console.shell.refresh()  # the unit menu shows a new name at once
                self.console.shell.update()

        await self.busy(work)

    async def _pick(self, _e: ft.Event[ft.Control]) -> None:
        if self._picker is None:
            self._picker = ft.FilePicker()  # kept referenced: Flet drops unheld services
        files = await self._picker.pick_files(
            dialog_title=self.tr.t("console.portal.logo"),
            file_type=ft.FilePickerFileType.IMAGE,
            with_data=True,
        )
        if not files or files[0].bytes is None:
            return
        picked = files[0]

        async def work() -> None:
            ok = await self.model.upload_logo(picked.bytes or b"", picked.name)
            self.show_result(
                self.model.action, self.tr.t("console.portal.logo_done") if ok else None
            )

        await self.busy(work)

    def _bulk_handler(self, enable: bool):
        async def clicked(_e: ft.Event[ft.Control]) -> None:
            async def work() -> None:
                await self.model.count_bulk(enable)
                self.show_result(self.model.action)

            await self.busy(work)

        return clicked

    async def _bulk_confirm(self, _e: ft.Event[ft.Control]) -> None:
        async def work() -> None:
            await self.model.confirm_bulk()
            self.show_result(self.model.action)

        await self.busy(work)

    async def _bulk_cancel(self, _e: ft.Event[ft.Control]) -> None:
        self.model.cancel_bulk()
        self.render()
        self._update()
