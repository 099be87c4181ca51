"""Documents: every report, quote and signed copy of the client, and one activity's.

A tap opens the document: from the device when it was opened before (also
offline), else downloaded and kept (``app.documents``). "Opening" hands the
file to the platform: a download in a browser, a save dialog on desktop,
the share sheet on phones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import flet as ft

from app.documents import DocumentRow
from app.messages import Message
from app.state import AppState
from app.views.theme import section_title

_ICONS = {
    "report": ft.Icons.ASSIGNMENT_OUTLINED,
    "quote": ft.Icons.REQUEST_QUOTE_OUTLINED,
    "signed_quote": ft.Icons.VERIFIED_OUTLINED,
    "form": ft.Icons.FACT_CHECK_OUTLINED,
}

Notify = Callable[[ft.Page, str], None]


class DocumentOpener:
    """Opens a document row: the file from the device or the server, then the
    platform's save/share; a sentence when it cannot."""

    def __init__(self, state: AppState, after: Callable[[], Awaitable[None]] | None = None) -> None:
        """``after()`` runs once a file was opened (the lists refresh "kept" marks)."""
        self.state = state
        self._after = after
        # Kept referenced: Flet drops services nobody holds.
        self._saver: ft.FilePicker | None = None
        self.busy = False

    async def open(self, page: ft.Page, row: DocumentRow) -> None:
        """Open ``row``'s document (see the class docstring)."""
        if self.busy:
            return
        self.busy = True
        try:
            got = await self.state.documents.open(row.ref)
        finally:
            self.busy = False
        if isinstance(got, Message):
            page.show_dialog(ft.SnackBar(ft.Text(got.text(self.state.tr)), duration=6000))
            return
        name, data = got
        if self._saver is None:
            self._saver = ft.FilePicker()
        extension = name.rsplit(".", 1)[-1] if "." in name else "pdf"
        await self._saver.save_file(
            file_name=name,
            src_bytes=data,
            file_type=ft.FilePickerFileType.CUSTOM,
            allowed_extensions=[extension],
        )
        if self._after is not None:
            await self._after()


def update_if_shown(control: ft.Control) -> None:
    """Send ``control``'s changes when it is on the page (else it goes whole when shown)."""
    try:
        shown = control.page is not None
    except RuntimeError:  # never added to the page
        shown = False
    if shown:
        control.update()


def document_tile(
    state: AppState, row: DocumentRow, opener: DocumentOpener, *, with_activity: bool
) -> ft.Control:
    """One document: icon, title, "PDF · 245 kB · 3 Dec 2026", kept-on-device mark."""
    tr = state.tr
    lines: list[ft.Control] = []
    if with_activity and row.activity_title:
        lines.append(ft.Text(row.activity_title, size=13, color=ft.Colors.ON_SURFACE_VARIANT))
    lines.append(ft.Text(row.detail, size=13, color=ft.Colors.ON_SURFACE_VARIANT))
    mark = tr.t("documents.kept") if row.offline else tr.t("documents.not_kept")
    lines.append(
        ft.Row(
            [
                ft.Icon(
                    ft.Icons.OFFLINE_PIN if row.offline else ft.Icons.CLOUD_DOWNLOAD_OUTLINED,
                    size=16,
                    color=ft.Colors.PRIMARY if row.offline else ft.Colors.ON_SURFACE_VARIANT,
                ),
                ft.Text(mark, size=12, color=ft.Colors.ON_SURFACE_VARIANT),
            ],
            spacing=4,
        )
    )

    async def click(e: ft.Event[ft.Control]) -> None:
        await opener.open(e.page, row)

    return ft.Card(
        content=ft.Container(
            content=ft.Row(
                [
                    ft.Icon(_ICONS.get(row.ref.kind, ft.Icons.DESCRIPTION_OUTLINED), size=28),
                    ft.Column(
                        [ft.Text(row.title, size=16, weight=ft.FontWeight.W_600), *lines],
                        spacing=2,
                        expand=True,
                    ),
                    ft.Icon(ft.Icons.DOWNLOAD, semantics_label=tr.t("documents.open")),
                ],
                vertical_alignment=ft.CrossAxisAlignment.CENTER,
                spacing=12,
            ),
            padding=ft.Padding.symmetric(vertical=10, horizontal=14),
            on_click=click,
            tooltip=tr.t("documents.open"),
        ),
        key=f"doc-{row.ref.activity_id}-{row.ref.key}",
    )


class DocumentsView:
    """The "Documents" tab: every document, newest first."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.opener = DocumentOpener(state, after=self.reload)
        self.title = section_title("")
        self.empty = ft.Text(visible=False, color=ft.Colors.ON_SURFACE_VARIANT)
        self.list = ft.Column(spacing=8)
        self.control = ft.Column(
            [self.title, self.empty, self.list], spacing=12, scroll=ft.ScrollMode.AUTO, expand=True
        )
        self.rows: list[DocumentRow] = []

    async def reload(self) -> None:
        """Read the documents again and redraw when the screen is on a page."""
        self.rows = await self.state.documents.all_rows()
        self.refresh()
        update_if_shown(self.control)

    def refresh(self) -> None:
        """Redraw from ``rows`` in the current language."""
        tr = self.state.tr
        self.title.value = tr.t("documents.title")
        self.empty.value = tr.t("documents.empty")
        self.empty.visible = not self.rows
        self.list.controls = [
            document_tile(self.state, row, self.opener, with_activity=True) for row in self.rows
        ]
