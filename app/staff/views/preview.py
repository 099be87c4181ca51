"""Client Portal Access in the console: the client app's own screens, read-only.

The client app's ``Shell`` (home, appointments, documents, account and the
appointment screen) is built on the preview's ``AppState``
(``app.staff.preview``) and shown under a banner "Preview of <client>'s
portal — nothing you do here is sent". Its actions keep their buttons (the
staff member sees what the client can do) but a tap only says that nothing
is sent from a preview. The client's brand colour themes the preview, as it
themes their app; "Phone" / "Computer" switches the layout the client gets
on each.

``ConsoleApp`` routes ``/clients/{id}/portal`` to :func:`preview_view`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import flet as ft

from app.activities import ActionItem
from app.i18n import Translator
from app.staff.api import ApiError, error_text
from app.staff.preview import ClientPreview, PreviewSession
from app.views.shell import Shell
from app.views.theme import color_scheme, seed_color

if TYPE_CHECKING:
    from app.staff.main import ConsoleApp

PHONE_WIDTH = 390
COMPUTER_WIDTH = 1024


class PreviewScreen:
    """The preview's controls; ``load()`` fills them, ``close()`` ends the preview."""

    def __init__(
        self,
        session: PreviewSession,
        http: Any,
        tr: Translator,
        go_back: Callable[[], Awaitable[None]],
    ) -> None:
        """``tr`` is the console's translator (the banner is in the staff member's language)."""
        self.preview = ClientPreview(session, http)
        self.tr = tr
        self._go_back = go_back
        state = self.preview.state
        self.shell = Shell(
            state,
            self._open_activity,
            self._refresh,
            on_action=self._action,
            on_calendar=self._calendar,
        )
        state.subscribe(self._on_event)
        self.phone = True
        self.frame = ft.Container(
            content=self.shell.control,
            width=PHONE_WIDTH,
            border=ft.Border.all(1, ft.Colors.OUTLINE_VARIANT),
            border_radius=12,
            clip_behavior=ft.ClipBehavior.HARD_EDGE,
            # Not expand: in the Row below that would win over the phone's width.
            expand=False,
        )
        self.problem = ft.Text(visible=False, color=ft.Colors.ERROR)
        self.access_note = ft.Text(visible=False, size=13, color=ft.Colors.ON_TERTIARY_CONTAINER)
        self.layout = ft.SegmentedButton(
            segments=[
                ft.Segment(value="phone", label=ft.Text(tr.t("console.preview.phone"))),
                ft.Segment(value="computer", label=ft.Text(tr.t("console.preview.computer"))),
            ],
            selected=["phone"],
            on_change=self._layout_changed,
        )
        self.banner = ft.Container(
            content=ft.Column(
                [
                    ft.Row(
                        [
                            ft.Icon(ft.Icons.VISIBILITY, color=ft.Colors.ON_TERTIARY_CONTAINER),
                            ft.Text(
                                tr.t("console.preview.banner", name=session.client_name),
                                weight=ft.FontWeight.W_600,
                                color=ft.Colors.ON_TERTIARY_CONTAINER,
                                expand=True,
                            ),
                        ],
                        vertical_alignment=ft.CrossAxisAlignment.CENTER,
                    ),
                    self.access_note,
                    ft.Row(
                        [
                            ft.OutlinedButton(
                                tr.t("console.preview.close"),
                                icon=ft.Icons.CLOSE,
                                on_click=self._close_clicked,
                            ),
                            self.layout,
                        ],
                        wrap=True,
                        spacing=8,
                        run_spacing=8,
                    ),
                ],
                spacing=6,
            ),
            bgcolor=ft.Colors.TERTIARY_CONTAINER,
            padding=12,
            border_radius=8,
        )
        self.control = ft.Column(
            [
                self.banner,
                self.problem,
                ft.Row(
                    [self.frame],
                    alignment=ft.MainAxisAlignment.CENTER,
                    vertical_alignment=ft.CrossAxisAlignment.STRETCH,
                    expand=True,
                ),
            ],
            spacing=8,
            expand=True,
        )

    async def load(self) -> None:
        """Sync the client's portal and show it (or say why it cannot be shown)."""
        session = self.preview.session
        if not session.portal_access:
            self.access_note.value = self.tr.t(
                "console.preview.no_access", name=session.client_name
            )
            self.access_note.visible = True
        loaded = await self.preview.open()
        if not loaded:
            self.problem.value = self.tr.t("console.preview.failed")
            self.problem.visible = True
        self._theme()
        self.shell.set_width(PHONE_WIDTH if self.phone else COMPUTER_WIDTH)
        self.shell.refresh_all()

    def _theme(self) -> None:
        # The client's colours, as their app applies them to the whole page.
        seed = seed_color(self.preview.state.company.color)
        self.frame.theme = ft.Theme(color_scheme_seed=seed, color_scheme=color_scheme(seed))
        self.frame.dark_theme = ft.Theme(color_scheme_seed=seed, color_scheme=color_scheme(seed))

    async def close(self) -> None:
        """End the preview (its temporary store is deleted)."""
        await self.preview.close()

    # -- the client app's callbacks, read-only ------------------------------------

    async def _open_activity(self, activity_id: str) -> None:
        state = self.preview.state
        self.shell.detail.show(await state.activities.activity_detail(activity_id))
        await self.shell.show_detail()

    async def _refresh(self) -> None:
        await self.preview.state.refresh(max_attempts=1)

    async def _action(self, page: ft.Page, _activity_id: str, action: ActionItem) -> None:
        self._say(page, self.tr.t("console.preview.action", action=action.label))

    async def _calendar(self, page: ft.Page, _activity_id: str) -> None:
        self._say(page, self.tr.t("console.preview.not_sent"))

    def _say(self, page: ft.Page, text: str) -> None:
        page.show_dialog(ft.SnackBar(ft.Text(text), duration=5000))

    async def _on_event(self, event: str, data: Any) -> None:
        if self.preview.closed:
            return
        if event == "session" and not data:
            # The preview token expired (or "sign out" was tapped): it is over.
            self.problem.value = self.tr.t("console.preview.ended")
            self.problem.visible = True
            self.frame.visible = False
            self._update(self.control)
        elif event in ("data", "status"):
            self._theme()
            self.shell.refresh_all()
            self._update(self.frame)

    def _update(self, control: ft.Control) -> None:
        try:
            if control.page is not None:
                control.update()
        except RuntimeError:
            pass  # not on a page (closed meanwhile)

    async def _layout_changed(self, e: ft.Event[ft.SegmentedButton]) -> None:
        self.phone = "phone" in (e.control.selected or [])
        self.frame.width = PHONE_WIDTH if self.phone else None
        self.frame.expand = not self.phone  # the computer layout takes the room there is
        self.shell.set_width(PHONE_WIDTH if self.phone else COMPUTER_WIDTH)
        self._update(self.control)

    async def _close_clicked(self, _e: ft.Event[ft.Control]) -> None:
        await self.close()
        await self._go_back()


async def open_client_preview(
    console: Any, client_id: int, go_back: Callable[[], Awaitable[None]]
) -> PreviewScreen | str:
    """Open Client Portal Access for ``client_id`` (``console.state`` holds the staff
    API and translator): the loaded screen, or the sentence to show."""
    state = console.state
    try:
        answer = await state.api.preview_session(client_id)
    except ApiError as exc:
        return error_text(exc, state.tr.t)
    screen = PreviewScreen(PreviewSession.from_json(answer), state.api.http, state.tr, go_back)
    await screen.load()
    return screen


# The open preview of each console session: closed (its temporary store
# deleted) when another opens or the route changes.
_OPEN: dict[int, PreviewScreen] = {}


async def close_previews(console: ConsoleApp) -> None:
    """Close the console session's open preview, if any."""
    screen = _OPEN.pop(id(console), None)
    if screen is not None:
        await screen.close()


def preview_view(console: ConsoleApp, client_id: int) -> ft.View:
    """The view of route ``/clients/{client_id}/portal``: a spinner, then the preview."""
    tr = console.state.tr
    body = ft.Column(
        [
            ft.Row(
                [ft.ProgressRing(width=20, height=20), ft.Text(tr.t("console.preview.loading"))],
                spacing=8,
            )
        ],
        expand=True,
    )
    view = ft.View(route=f"/clients/{client_id}/portal", controls=[body], padding=12)

    async def back() -> None:
        await close_previews(console)
        await console.navigate(f"/clients/{client_id}")

    async def load() -> None:
        await close_previews(console)
        got = await open_client_preview(console, client_id, back)
        if isinstance(got, str):
            body.controls = [
                ft.Text(got, color=ft.Colors.ERROR),
                ft.TextButton(
                    tr.t("console.preview.close"), icon=ft.Icons.ARROW_BACK, on_click=_go(back)
                ),
            ]
        else:
            _OPEN[id(console)] = got
            body.controls = [got.control]
        if body.page is not None:
            body.update()

    console.page.run_task(load)
    return view


def _go(action: Callable[[], Awaitable[None]]) -> Callable[[ft.Event[ft.Control]], Awaitable[None]]:
    async def click(_e: ft.Event[ft.Control]) -> None:
        await action()

    return click
