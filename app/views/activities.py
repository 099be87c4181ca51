"""Appointments: upcoming then past, one row per activity, patched in place.

Rows are kept alive between syncs (DESIGN.md §6, flet#6270): an incremental
sync rewrites only the texts of the rows whose documents changed and sends
only those rows; the list itself is re-sent only when rows appear, disappear
or move.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import flet as ft

from app.state import ActivityItem, AppState
from app.views.theme import STATUS_COLORS, section_title


class ActivityRow:
    """One appointment row; ``set_item`` changes only the texts that differ."""

    def __init__(self, item: ActivityItem, on_open: Callable[[str], Awaitable[None]]) -> None:
        """Build the row's controls for ``item``."""
        self._on_open = on_open
        self.item = item
        self.title = ft.Text(item.title, size=16, weight=ft.FontWeight.W_600, expand=True)
        self.status = ft.Text(item.status_label, size=12, color=ft.Colors.WHITE,
                              weight=ft.FontWeight.W_600)
        self.chip = ft.Container(
            content=self.status,
            bgcolor=STATUS_COLORS.get(item.status, ft.Colors.GREY_600),
            border_radius=ft.BorderRadius.all(12),
            padding=ft.Padding.symmetric(vertical=2, horizontal=10),
        )
        self.date = ft.Text(item.date_text)
        self.window = ft.Text(item.window_text or "", size=13, visible=bool(item.window_text))
        self.technician = ft.Text(item.technician_text or "", size=13,
                                  visible=bool(item.technician_text))
        self.control = ft.Card(
            content=ft.Container(
                content=ft.Column(
                    [ft.Row([self.title, self.chip]), self.date, self.window, self.technician],
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
        return True

    async def _click(self, _e: ft.Event[ft.Control]) -> None:
        await self._on_open(self.item.id)


class ActivitiesView:
    """The two lists in one scrolling column, with empty states."""

    def __init__(self, state: AppState, open_activity: Callable[[str], Awaitable[None]]) -> None:
        """``open_activity(id)`` opens the detail screen."""
        self.state = state
        self._open = open_activity
        self.rows: dict[str, ActivityRow] = {}
        self.upcoming_title = section_title("")
        self.past_title = section_title("")
        self.empty_upcoming = ft.Text(italic=True)
        self.empty_past = ft.Text(italic=True)
        self.list = ft.ListView(expand=True, spacing=4, padding=ft.Padding.only(bottom=24))
        self.control = self.list
        # Rows updated by the last ``sync_rows`` (for tests and the benchmark).
        self.last_patched = 0

    def refresh(self) -> None:
        """Re-read everything (first show, language switch, reset)."""
        self.sync_rows(None)

    def sync_rows(self, changed: set[str] | None) -> list[ft.Control]:
        """Bring rows in line with the state; return the controls that need an update.

        ``changed`` are the activity ids a sync touched (None: all). The list
        control is in the returned list only when its children changed.
        """
        tr = self.state.tr
        dirty: list[ft.Control] = []
        wanted = self.state.upcoming_ids + self.state.past_ids
        for item_id in wanted:
            item = self.state.items[item_id]
            row = self.rows.get(item_id)
            if row is None:
                self.rows[item_id] = ActivityRow(item, self._open)
            elif (changed is None or item_id in changed) and row.set_item(item):
                dirty.append(row.control)
        for gone in set(self.rows) - set(wanted):
            del self.rows[gone]
        self.upcoming_title.value = tr.t("activities.upcoming")
        self.past_title.value = tr.t("activities.past")
        never = self.state.never_synced
        self.empty_upcoming.value = tr.t(
            "activities.empty_never_synced" if never else "activities.empty_upcoming"
        )
        self.empty_past.value = tr.t("activities.empty_past")
        controls: list[ft.Control] = [self.upcoming_title]
        controls += [self.rows[i].control for i in self.state.upcoming_ids] or [
            self.empty_upcoming
        ]
        controls.append(self.past_title)
        if not never or self.state.past_ids:
            controls += [self.rows[i].control for i in self.state.past_ids] or [self.empty_past]
        if changed is None:
            dirty = [self.list]  # titles and every row may have changed
        if [id(c) for c in controls] != [id(c) for c in self.list.controls]:
            self.list.controls = controls
            dirty = [self.list]
        self.last_patched = len(dirty)
        return dirty
