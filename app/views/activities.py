"""Appointments: upcoming then history (done and cancelled), one row per activity.

Rows are patched in place. Each card shows what tells identical titles apart:
the site, the reference and, while no date is set, when it was requested.
"New request" opens ``/requests/new``.

Long lists are paged (DESIGN.md §6, flet#6270): each section shows its first
``PAGE_SIZE`` rows and a "Show more" button that appends the next page, so
opening the screen sends a few dozen rows, not 2,000. Rows are built only
for what is shown and kept alive between syncs: an incremental sync rewrites
only the texts of the shown rows whose documents changed and sends only
those rows; the list itself is re-sent only when shown rows appear,
disappear or move. Rows not yet shown need nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import flet as ft

from app.activities import ActivityItem
from app.state import AppState
from app.views.theme import STATUS_COLORS, section_title

# Rows per section on the first show, and added by each "Show more".
PAGE_SIZE = 30


class ActivityRow:
    """One appointment row; ``set_item`` changes only the texts that differ."""

    def __init__(self, item: ActivityItem, on_open: Callable[[str], Awaitable[None]]) -> None:
        """Build the row's controls for ``item``."""
        self._on_open = on_open
        self.item = item
        self.title = ft.Text(item.title, size=16, weight=ft.FontWeight.W_600, expand=True)
        self.status = ft.Text(
            item.status_label, size=12, color=ft.Colors.WHITE, weight=ft.FontWeight.W_600
        )
        self.chip = ft.Container(
            content=self.status,
            bgcolor=STATUS_COLORS.get(item.status, ft.Colors.GREY_600),
            border_radius=ft.BorderRadius.all(12),
            padding=ft.Padding.symmetric(vertical=2, horizontal=10),
        )
        self.date = ft.Text(item.date_text)
        self.window = ft.Text(item.window_text or "", size=13, visible=bool(item.window_text))
        self.technician = ft.Text(
            item.technician_text or "", size=13, visible=bool(item.technician_text)
        )
        self.site = ft.Text(
            item.site_text or "",
            size=13,
            visible=bool(item.site_text),
            color=ft.Colors.ON_SURFACE_VARIANT,
        )
        self.reference = ft.Text(_reference_line(item), size=12, color=ft.Colors.ON_SURFACE_VARIANT)
        self.control = ft.Card(
            content=ft.Container(
                content=ft.Column(
                    [
                        ft.Row([self.title, self.chip]),
                        self.date,
                        self.window,
                        self.technician,
                        self.site,
                        self.reference,
                    ],
                    spacing=4,
                ),
                padding=ft.Padding.symmetric(vertical=12, horizontal=16),
                on_click=self._click,
            ),
            key=item.id,
        )

    def set_item(self, item: ActivityItem) -> bool:
        """Show ``item``; return True when anything visible changed."""
        if item == self.item:
            return False
        self.item = item
        self.title.value = item.title
        self.status.value = item.status_label
        self.chip.bgcolor = STATUS_COLORS.get(item.status, ft.Colors.GREY_600)
        self.date.value = item.date_text
        self.window.value = item.window_text or ""
        self.window.visible = bool(item.window_text)
        self.technician.value = item.technician_text or ""
        self.technician.visible = bool(item.technician_text)
        self.site.value = item.site_text or ""
        self.site.visible = bool(item.site_text)
        self.reference.value = _reference_line(item)
        return True

    async def _click(self, _e: ft.Event[ft.Control]) -> None:
        await self._on_open(self.item.id)


def _reference_line(item: ActivityItem) -> str:
    """The reference, and the request date while undated: "Ref. 12 · Requested on …"."""
    return " · ".join(p for p in (item.reference_text, item.requested_text) if p)


class ActivitiesView:
    """The two lists in one scrolling column, paged, with empty states."""

    def __init__(
        self,
        state: AppState,
        open_activity: Callable[[str], Awaitable[None]],
        page_size: int = PAGE_SIZE,
        new_request: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``open_activity(id)`` opens the detail screen; ``new_request()`` the request form."""
        self.state = state
        self._open = open_activity
        self._new_request = new_request
        self.new_request_button = ft.FilledTonalButton(
            icon=ft.Icons.ADD, on_click=self._new_request_clicked, visible=new_request is not None
        )
        self.page_size = page_size
        # How many rows each section shows (grows by ``page_size`` per "Show more").
        self.upcoming_limit = page_size
        self.past_limit = page_size
        self.rows: dict[str, ActivityRow] = {}
        self.upcoming_title = section_title("")
        # Its own row above the title: sharing a row would merge the title into
        # the button's semantics node, and screen readers would lose it.
        self.new_request_row = ft.Row(
            [self.new_request_button],
            alignment=ft.MainAxisAlignment.END,
            visible=new_request is not None,
        )
        self.past_title = section_title("")
        self.empty_upcoming = ft.Text(italic=True)
        self.empty_past = ft.Text(italic=True)
        self.more_upcoming = ft.TextButton(on_click=self._more_upcoming)
        self.more_past = ft.TextButton(on_click=self._more_past)
        self.list = ft.ListView(expand=True, spacing=4, padding=ft.Padding.only(bottom=24))
        self.control = self.list
        # Rows updated by the last ``sync_rows`` (for tests and the benchmark).
        self.last_patched = 0

    @property
    def shown_upcoming(self) -> list[str]:
        """Ids of the upcoming rows on screen."""
        return self.state.activities.upcoming_ids[: self.upcoming_limit]

    @property
    def shown_past(self) -> list[str]:
        """Ids of the past rows on screen (none before the first download)."""
        return self.state.activities.past_ids[: self.past_limit]

    def reset_pages(self) -> None:
        """Back to the first page of each section (new session)."""
        self.upcoming_limit = self.page_size
        self.past_limit = self.page_size

    def refresh(self) -> None:
        """Re-read everything (first show, language switch, reset)."""
        self.sync_rows(None)

    def show_more(self, upcoming: bool) -> list[ft.Control]:
        """Append the next page of a section; return the controls that need an update."""
        if upcoming:
            self.upcoming_limit += self.page_size
        else:
            self.past_limit += self.page_size
        return self.sync_rows(set())

    def sync_rows(self, changed: set[str] | None) -> list[ft.Control]:
        """Bring the shown rows in line with the state; return the controls to update.

        ``changed`` are the activity ids a sync touched (None: all). Only
        shown rows are built or patched. The list control is in the returned
        list only when its children changed.
        """
        tr = self.state.tr
        dirty: list[ft.Control] = []
        upcoming_ids, past_ids = self.shown_upcoming, self.shown_past
        wanted = upcoming_ids + past_ids
        for item_id in wanted:
            item = self.state.activities.items[item_id]
            row = self.rows.get(item_id)
            if row is None:
                self.rows[item_id] = ActivityRow(item, self._open)
            elif (changed is None or item_id in changed) and row.set_item(item):
                dirty.append(row.control)
        for gone in set(self.rows) - set(wanted):
            del self.rows[gone]
        self.upcoming_title.value = tr.t("activities.upcoming")
        self.past_title.value = tr.t("activities.history")
        if self.new_request_button.content != tr.t("activities.new_request"):
            self.new_request_button.content = tr.t("activities.new_request")
            dirty.append(self.new_request_button)
        never = self.state.never_synced
        self.empty_upcoming.value = tr.t(
            "activities.empty_never_synced" if never else "activities.empty_upcoming"
        )
        self.empty_past.value = tr.t("activities.empty_history")
        more_upcoming = len(self.state.activities.upcoming_ids) - len(upcoming_ids)
        more_past = len(self.state.activities.past_ids) - len(past_ids)
        for button, left in ((self.more_upcoming, more_upcoming), (self.more_past, more_past)):
            label = tr.t("activities.show_more", count=left)
            if button.content != label:
                button.content = label
                dirty.append(button)
        controls: list[ft.Control] = [self.new_request_row, self.upcoming_title]
        controls += [self.rows[i].control for i in upcoming_ids] or [self.empty_upcoming]
        if more_upcoming > 0:
            controls.append(self.more_upcoming)
        controls.append(self.past_title)
        if not never or past_ids:
            controls += [self.rows[i].control for i in past_ids] or [self.empty_past]
            if more_past > 0:
                controls.append(self.more_past)
        if changed is None:
            dirty = [self.list]  # titles and every row may have changed
        if [id(c) for c in controls] != [id(c) for c in self.list.controls]:
            self.list.controls = controls
            dirty = [self.list]
        self.last_patched = len(dirty)
        return dirty

    async def _more_upcoming(self, _e: ft.Event[ft.Control]) -> None:
        self.show_more(upcoming=True)
        self.list.update()  # the new rows, the button's count: all inside the list

    async def _new_request_clicked(self, _e: ft.Event[ft.Control]) -> None:
        if self._new_request is not None:
            await self._new_request()

    async def _more_past(self, _e: ft.Event[ft.Control]) -> None:
        self.show_more(upcoming=False)
        self.list.update()
