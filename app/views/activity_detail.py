"""One appointment: status, when, where, technician, follow-up timeline, actions.

Portal actions come from ``app.booking_rules.usable_actions`` (via the
state): configured, available now by the server's own rule, within the
booking guardrails, and with a screen in this app — no dead button. Taps go
to ``on_action`` (the booking flows, wired by ``app.main``); a booked visit
also offers its .ics file (``on_calendar``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import flet as ft

from app.activities import ActionItem, ActivityDetail, ReportView
from app.booking_rules import FORM_KINDS
from app.state import AppState
from app.submission_status import SubmissionLine
from app.views.documents import DocumentOpener, document_tile, update_if_shown
from app.views.theme import section_title, status_chip

ActionHandler = Callable[[ft.Page, str, ActionItem], Awaitable[None]]
CalendarHandler = Callable[[ft.Page, str], Awaitable[None]]
# (activity id, refused line): reopen it to fix, or discard it.
SubmissionHandler = Callable[[str, SubmissionLine], Awaitable[None]]


class ActivityDetailView:
    """Filled by ``show(detail)``; the back button returns to the list."""

    def __init__(
        self,
        state: AppState,
        go_back: Callable[[], Awaitable[None]],
        on_action: ActionHandler | None = None,
        on_calendar: CalendarHandler | None = None,
    ) -> None:
        """``go_back()`` returns to the list; ``on_action(page, activity_id, action)``
        runs a portal action; ``on_calendar(page, activity_id)`` offers the .ics."""
        self.state = state
        self._go_back = go_back
        self._on_action = on_action
        self._on_calendar = on_calendar
        self.detail: ActivityDetail | None = None
        # Wired by ``app.main``: a refused submission's two ways out.
        self.on_fix: SubmissionHandler | None = None
        self.on_discard: SubmissionHandler | None = None
        self.back = ft.TextButton(icon=ft.Icons.ARROW_BACK, on_click=self._back)
        self.body = ft.Column(spacing=12)
        # A stable frame; each ``show`` puts a brand-new subtree in it. Refilling
        # the same Column while it was off screen (the list shown meanwhile) let
        # Flet send list patches computed against a state the browser no longer
        # had: an IndexError in the page, a blank screen (issue 8, item 1) and
        # a timeline shown twice (item 2).
        self.control = ft.Container(expand=True)
        # Opening a document marks it kept: show the mark.
        self.opener = DocumentOpener(state, after=self._reshow)

    def show(self, detail: ActivityDetail | None) -> None:
        """Render ``detail`` (None: the activity disappeared)."""
        self.detail = detail
        tr = self.state.tr
        self.back = ft.TextButton(
            tr.t("detail.back"), icon=ft.Icons.ARROW_BACK, on_click=self._back
        )
        self.body = ft.Column(spacing=12)
        # Flet ignores assigning a control equal by value to the current one
        # (the same appointment shown again): clear first so this one is used.
        self.control.content = None
        self.control.content = ft.Column(
            [self.back, self.body], spacing=8, scroll=ft.ScrollMode.AUTO, expand=True
        )
        if detail is None:
            self.body.controls = [ft.Text(tr.t("detail.not_found"))]
            return
        item = detail.item
        parts: list[ft.Control] = [
            ft.Row(
                [
                    ft.Text(item.title, size=22, weight=ft.FontWeight.BOLD, expand=True),
                    status_chip(item.status_label, item.status),
                ],
                vertical_alignment=ft.CrossAxisAlignment.START,
            ),
            _labelled(
                tr.t("detail.when"),
                [item.date_text] + ([item.window_text] if item.window_text else []),
            ),
        ]
        where = _labelled(tr.t("detail.where"), detail.address_lines)
        if detail.maps_url:
            where.controls.append(
                ft.TextButton(tr.t("detail.open_map"), icon=ft.Icons.MAP, url=detail.maps_url)
            )
        parts.append(where)
        parts.append(
            _labelled(
                tr.t("detail.technician"), [detail.technician_name or tr.t("detail.no_technician")]
            )
        )
        if detail.description:
            parts.append(_labelled(tr.t("detail.description"), [detail.description]))
        if detail.closure_report:
            parts.append(self._report(detail.closure_report))
        if detail.documents:
            parts.append(section_title(tr.t("documents.section")))
            parts += [
                document_tile(self.state, row, self.opener, with_activity=False)
                for row in detail.documents
            ]
        if detail.cancel_reason:
            parts.append(_labelled(tr.t("detail.cancel_reason"), [detail.cancel_reason]))
        parts.append(section_title(tr.t("detail.actions")))
        buttons = [self._action_button(item.id, a) for a in detail.actions]
        if detail.can_add_to_calendar and self._on_calendar is not None:
            buttons.append(self._calendar_button(item.id))
        if buttons:
            parts.append(ft.Row(buttons, wrap=True, spacing=8, run_spacing=8))
        else:
            parts.append(ft.Text(tr.t("detail.no_actions"), italic=True))
        if detail.change_note:
            parts.append(ft.Text(detail.change_note, size=13))
        if self.state.offline and any(a.kind not in FORM_KINDS for a in detail.actions):
            # The buttons stay: the next screen explains and offers to retry.
            parts.append(ft.Text(tr.t("booking.needs_connection"), size=13, italic=True))
        for line in detail.submissions:
            parts.append(self._submission(item.id, line))
        parts.append(section_title(tr.t("detail.timeline")))
        for entry in detail.timeline:
            lines = [
                ft.Text(entry.label, weight=ft.FontWeight.W_600),
                ft.Text(entry.when_text, size=12),
            ]
            if entry.note:
                lines.append(ft.Text(entry.note, size=13))
            parts.append(
                ft.Row(
                    [
                        ft.Icon(ft.Icons.CIRCLE, size=12, color=ft.Colors.PRIMARY),
                        ft.Column(lines, spacing=0, expand=True),
                    ],
                    vertical_alignment=ft.CrossAxisAlignment.START,
                )
            )
        self.body.controls = parts

    def _action_button(self, activity_id: str, action: ActionItem) -> ft.Control:
        async def click(e: ft.Event[ft.Control]) -> None:
            if self._on_action is not None:
                await self._on_action(e.page, activity_id, action)

        icon = {
            "book": ft.Icons.EVENT_AVAILABLE,
            "reschedule": ft.Icons.EDIT_CALENDAR,
            "cancel": ft.Icons.EVENT_BUSY,
            "fill_form": ft.Icons.EDIT_NOTE,
            "validate_document": ft.Icons.DRAW,
            "survey": ft.Icons.STAR_OUTLINE,
        }.get(action.kind)
        return ft.FilledTonalButton(action.label, icon=icon, on_click=click)

    def _submission(self, activity_id: str, line: SubmissionLine) -> ft.Control:
        """One form's state: waiting, sent, signed — or refused, with its way out."""
        tr = self.state.tr
        icon, color = {
            "pending": (ft.Icons.SCHEDULE_SEND, ft.Colors.ON_SURFACE_VARIANT),
            "rejected": (ft.Icons.ERROR_OUTLINE, ft.Colors.ERROR),
            "refused": (ft.Icons.DO_NOT_DISTURB_ON, ft.Colors.ON_SURFACE_VARIANT),
        }.get(line.state, (ft.Icons.CHECK_CIRCLE_OUTLINE, ft.Colors.PRIMARY))
        rows: list[ft.Control] = [
            ft.Row(
                [
                    ft.Icon(icon, size=18, color=color),
                    ft.Column(
                        [
                            ft.Text(line.label, weight=ft.FontWeight.W_600),
                            ft.Text(line.text, size=13),
                        ],
                        spacing=0,
                        expand=True,
                    ),
                ],
                vertical_alignment=ft.CrossAxisAlignment.START,
            )
        ]
        if line.state == "rejected":

            async def fix(_e: ft.Event[ft.Control]) -> None:
                if self.on_fix is not None:
                    await self.on_fix(activity_id, line)

            async def discard(_e: ft.Event[ft.Control]) -> None:
                if self.on_discard is not None:
                    await self.on_discard(activity_id, line)

            rows.append(
                ft.Row(
                    [
                        ft.FilledTonalButton(
                            tr.t("submission.fix"), icon=ft.Icons.EDIT, on_click=fix
                        ),
                        ft.TextButton(tr.t("submission.discard"), on_click=discard),
                    ],
                    wrap=True,
                )
            )
        return ft.Column(rows, spacing=4)

    def _calendar_button(self, activity_id: str) -> ft.Control:
        async def click(e: ft.Event[ft.Control]) -> None:
            if self._on_calendar is not None:
                await self._on_calendar(e.page, activity_id)

        return ft.OutlinedButton(
            self.state.tr.t("booking.add_to_calendar"), icon=ft.Icons.CALENDAR_MONTH, on_click=click
        )

    def _report(self, report: ReportView) -> ft.Control:
        """The intervention report: a titled summary, then the work done as a list."""
        tr = self.state.tr
        lines: list[ft.Control] = [section_title(tr.t("detail.report"))]
        if report.summary:
            lines.append(_labelled(tr.t("detail.report_summary"), [report.summary]))
        if report.work_done:
            lines.append(
                ft.Text(
                    tr.t("detail.report_work_done"), size=12, color=ft.Colors.ON_SURFACE_VARIANT
                )
            )
            lines += [
                ft.Row(
                    [ft.Text("•"), ft.Text(work, expand=True)],
                    vertical_alignment=ft.CrossAxisAlignment.START,
                )
                for work in report.work_done
            ]
        if report.pdf_url:
            lines.append(
                ft.TextButton(
                    tr.t("detail.report_pdf"), icon=ft.Icons.PICTURE_AS_PDF, url=report.pdf_url
                )
            )
        return ft.Column(lines, spacing=4)

    async def _reshow(self) -> None:
        if self.detail is None:
            return
        self.show(await self.state.activities.activity_detail(self.detail.item.id))
        update_if_shown(self.control)

    async def _back(self, _e: ft.Event[ft.Control]) -> None:
        await self._go_back()


def _labelled(label: str, lines: list[str]) -> ft.Column:
    return ft.Column(
        [ft.Text(label, size=12, color=ft.Colors.ON_SURFACE_VARIANT)]
        + [ft.Text(line) for line in lines],
        spacing=2,
    )
