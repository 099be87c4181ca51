"""The slots screen (book and reschedule), the cancel dialog and "Add to calendar".

No I/O here: ``app.booking.BookingModel`` fetches, books and cancels; this
module only shows its ``SlotScreen`` and forwards taps. Controls are built once
and refilled; the proposal rows are rebuilt only when the proposals change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import flet as ft

from app.booking import BookingModel, Phase, SlotItem, SlotScreen
from app.views.theme import section_title

GoBack = Callable[[bool], Awaitable[None]]


class BookingView:
    """The slots screen; ``go_back(booked)`` returns to the appointment."""

    def __init__(self, model: BookingModel, go_back: GoBack) -> None:
        """Build the screen's frame; ``reset`` fills it."""
        self.model = model
        self._go_back = go_back
        # A stable frame holding a fresh subtree per appointment (``reset``):
        # refilling lists while the screen is off the page lets Flet send
        # patches against a state the browser no longer has (a blank screen,
        # see ActivityDetailView).
        self.control = ft.Container(expand=True)
        self.reset()

    def reset(self) -> None:
        """A brand-new, empty subtree (call before showing another appointment)."""
        self.back = ft.TextButton(icon=ft.Icons.ARROW_BACK, on_click=self._back)
        self.heading = ft.Text(size=22, weight=ft.FontWeight.BOLD)
        self.subtitle = ft.Text(size=15, color=ft.Colors.ON_SURFACE_VARIANT)
        self.current = ft.Text(weight=ft.FontWeight.W_600, visible=False)
        self.rules_title = ft.Text(weight=ft.FontWeight.W_600)
        self.rules_lines = ft.Column(spacing=4)
        self.rules = ft.Container(
            # The Row takes the full width, like the notice below.
            content=ft.Column([ft.Row([self.rules_title]), self.rules_lines], spacing=6),
            bgcolor=ft.Colors.SECONDARY_CONTAINER,
            border_radius=ft.BorderRadius.all(12),
            padding=12,
            visible=False,
        )
        self.notice_text = ft.Text(expand=True)
        self.retry = ft.FilledButton(icon=ft.Icons.REFRESH, on_click=self._retry, visible=False)
        self.notice = ft.Container(
            content=ft.Column(
                [
                    ft.Row(
                        [ft.Icon(ft.Icons.INFO_OUTLINE), self.notice_text],
                        vertical_alignment=ft.CrossAxisAlignment.START,
                    ),
                    self.retry,
                ],
                spacing=8,
            ),
            bgcolor=ft.Colors.TERTIARY_CONTAINER,
            border_radius=ft.BorderRadius.all(12),
            padding=12,
            visible=False,
        )
        self.progress_text = ft.Text()
        self.progress = ft.Row(
            [ft.ProgressRing(width=20, height=20, stroke_width=3), self.progress_text],
            spacing=12,
            visible=False,
        )
        self.days = ft.Column(spacing=8)
        self._shown_days: object = None
        # Flet skips assigning a control equal by value to the current one
        # (two empty subtrees are): clear first so the new one is really used.
        self.control.content = None
        self.control.content = ft.Column(
            [
                self.back,
                self.heading,
                self.subtitle,
                self.current,
                self.rules,
                self.notice,
                self.progress,
                self.days,
            ],
            spacing=12,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
        )

    # -- filling ---------------------------------------------------------------

    def show(self) -> None:
        """Refill from the model's screen (no ``update`` here)."""
        screen = self.model.screen
        tr = self.model.tr
        self.back.content = tr.t("booking.back")
        if screen is None:
            return
        self.heading.value = tr.t(
            "booking.title_book" if screen.kind == "book" else "booking.title_move"
        )
        self.subtitle.value = screen.title
        self.current.value = screen.current_text or ""
        self.current.visible = bool(screen.current_text)
        self.rules_title.value = tr.t("booking.rules_title")
        self.rules_lines.controls = [ft.Text(line) for line in screen.rules]
        self.rules.visible = bool(screen.rules)
        self.notice.visible = screen.notice is not None
        self.notice_text.value = screen.notice.text(tr) if screen.notice else ""
        self.retry.content = tr.t("booking.retry")
        self.retry.visible = screen.phase == Phase.OFFLINE
        busy = screen.phase in (Phase.LOADING, Phase.SENDING)
        self.progress.visible = busy
        self.progress_text.value = tr.t(
            "booking.loading" if screen.phase == Phase.LOADING else "booking.sending"
        )
        self._fill_days(screen, disabled=busy or screen.phase == Phase.DONE)

    def _fill_days(self, screen: SlotScreen, disabled: bool) -> None:
        # Rebuild rows only for a new list of proposals (not on every redraw).
        shown = screen.days if screen.phase in (Phase.READY, Phase.SENDING) else []
        if shown is not self._shown_days:
            self._shown_days = shown
            controls: list[ft.Control] = []
            for day in shown:
                controls.append(section_title(day.label))
                controls.extend(self._slot_row(slot) for slot in day.slots)
            self.days.controls = controls
        self.days.disabled = disabled

    def _slot_row(self, slot: SlotItem) -> ft.Control:
        lines: list[ft.Control] = [
            ft.Text(slot.window_text, weight=ft.FontWeight.W_600, size=16),
        ]
        if slot.reason:
            lines.append(ft.Text(slot.reason, size=13))
        if slot.technician_text:
            lines.append(ft.Text(slot.technician_text, size=13, color=ft.Colors.ON_SURFACE_VARIANT))

        async def pick(e: ft.Event[ft.Control]) -> None:
            await self._pick(e.page, slot.key)

        return ft.Card(
            content=ft.Container(
                content=ft.Row(
                    [ft.Column(lines, spacing=2, expand=True), ft.Icon(ft.Icons.CHEVRON_RIGHT)],
                    vertical_alignment=ft.CrossAxisAlignment.CENTER,
                ),
                padding=14,
                on_click=pick,
            ),
        )

    # -- actions ---------------------------------------------------------------

    async def _pick(self, page: ft.Page, slot_key: str) -> None:
        question = self.model.choose(slot_key)
        if question is None:
            return
        tr = self.model.tr
        screen = self.model.screen
        dialog = ft.AlertDialog(
            modal=True,
            title=ft.Text(
                tr.t(
                    "booking.confirm_title_book"
                    if screen and screen.kind == "book"
                    else "booking.confirm_title_move"
                )
            ),
            content=ft.Text(question.text(tr)),
        )

        async def no(_e: ft.Event[ft.Control]) -> None:
            self.model.unchoose()
            page.pop_dialog()

        async def yes(_e: ft.Event[ft.Control]) -> None:
            page.pop_dialog()
            await self._confirm()

        dialog.actions = [
            ft.TextButton(tr.t("booking.keep"), on_click=no),
            ft.FilledButton(tr.t("booking.confirm"), on_click=yes),
        ]
        page.show_dialog(dialog)

    async def _confirm(self) -> None:
        if await self.model.confirm():
            await self._go_back(True)

    async def _retry(self, _e: ft.Event[ft.Control]) -> None:
        if await self.model.retry():
            await self._go_back(True)

    async def _back(self, _e: ft.Event[ft.Control]) -> None:
        self.model.close()
        await self._go_back(False)


class CancelDialog:
    """Asks why, then cancels; ``done()`` runs once the appointment is cancelled."""

    def __init__(
        self, model: BookingModel, activity_id: str, done: Callable[[], Awaitable[None]]
    ) -> None:
        """Build the dialog for ``activity_id``."""
        self.model = model
        self.activity_id = activity_id
        self._done = done
        tr = model.tr
        self.reasons = ft.RadioGroup(
            content=ft.Column(
                [ft.Radio(value=code, label=label) for code, label in model.cancel_reasons()],
                spacing=0,
            ),
        )
        self.details = ft.TextField(
            label=tr.t("cancel.details"),
            multiline=True,
            min_lines=2,
            max_lines=4,
            max_length=400,
        )
        self.error = ft.Text(color=ft.Colors.ERROR, visible=False)
        self.busy = ft.ProgressBar(visible=False)
        self.confirm = ft.FilledButton(
            tr.t("cancel.confirm"),
            on_click=self._confirm,
            style=ft.ButtonStyle(bgcolor=ft.Colors.ERROR, color=ft.Colors.ON_ERROR),
        )
        self.keep = ft.TextButton(tr.t("cancel.keep"), on_click=self._keep)
        self.dialog = ft.AlertDialog(
            modal=True,
            title=ft.Text(tr.t("cancel.title")),
            content=ft.Column(
                [ft.Text(tr.t("cancel.intro")), self.reasons, self.details, self.error, self.busy],
                tight=True,
                spacing=8,
                width=420,
            ),
            actions=[self.keep, self.confirm],
        )

    def open(self, page: ft.Page) -> None:
        """Show the dialog."""
        page.show_dialog(self.dialog)

    async def _keep(self, e: ft.Event[ft.Control]) -> None:
        e.page.pop_dialog()

    async def _confirm(self, e: ft.Event[ft.Control]) -> None:
        page = e.page
        self.busy.visible = True
        self.confirm.disabled = True
        self.error.visible = False
        self.dialog.update()
        problem = await self.model.cancel(
            self.activity_id, self.reasons.value, self.details.value or ""
        )
        self.busy.visible = False
        self.confirm.disabled = False
        if problem is not None:
            self.error.value = problem.text(self.model.tr)
            self.error.visible = True
            self.dialog.update()
            return
        page.pop_dialog()
        await self._done()


class CalendarSaver:
    """Hands the .ics file to the platform: a download in a browser, a save
    dialog on desktop, the share/save sheet on phones (Flet's FilePicker)."""

    def __init__(self, model: BookingModel) -> None:
        """The picker is created on first use, inside a handler (it needs the page)."""
        self.model = model
        self._picker: ft.FilePicker | None = None

    async def save(self, activity_id: str) -> bool:
        """Offer the visit's .ics file; False when there is none."""
        built = await self.model.calendar_file(activity_id)
        if built is None:
            return False
        name, data = built
        if self._picker is None:
            # Kept referenced: Flet drops services nobody holds.
            self._picker = ft.FilePicker()
        await self._picker.save_file(
            dialog_title=self.model.tr.t("booking.add_to_calendar"),
            file_name=name,
            src_bytes=data,
            file_type=ft.FilePickerFileType.CUSTOM,
            allowed_extensions=["ics"],
        )
        return True
