"""The slots screen and the cancel dialog as controls (no browser): what they show
for each phase of ``BookingModel``, and that a redraw keeps the proposal rows."""

from __future__ import annotations

from app.booking import BookingModel, Phase
from app.state import AppState
from app.sync.api import PortalApi
from app.views.booking import BookingView, CancelDialog
from tests.app.control_texts import shown_texts
from tests.app.test_booking_flow import (  # noqa: F401  (fixtures)
    activity_id,
    keys,
    model,
    state,
    world,
)
from tests.backend.test_booking import Booking


async def no_back(_booked: bool) -> None:
    return None


async def test_slots_screen_shows_days_windows_reasons_and_keeps_rows(
    model: BookingModel,  # noqa: F811
    world: Booking,  # noqa: F811
) -> None:
    view = BookingView(model, no_back)
    await model.open(activity_id(world))
    view.show()
    shown = shown_texts(view.control)
    assert "Choisissez un créneau" in shown
    assert "Bon à savoir" in shown
    screen = model.screen
    assert screen is not None and screen.phase == Phase.READY
    for day in screen.days:
        assert day.label in shown
        for slot in day.slots:
            assert slot.window_text in shown and slot.reason in shown
    assert not view.retry.visible and not view.progress.visible
    rows = list(view.days.controls)
    view.show()  # a redraw with the same proposals does not rebuild them
    assert view.days.controls == rows and all(
        a is b for a, b in zip(view.days.controls, rows, strict=True)
    )


async def test_offline_shows_the_sentence_and_try_again(
    model: BookingModel,  # noqa: F811
    state: AppState,  # noqa: F811
    world: Booking,  # noqa: F811
) -> None:
    online = state.api
    state.api = PortalApi.remote("http://127.0.0.1:9", timeout=2)
    state.api.token = online.token
    try:
        view = BookingView(model, no_back)
        await model.open(activity_id(world))
        view.show()
        assert view.retry.visible and view.retry.content == "Réessayer"
        assert view.notice.visible and "hors ligne" in (view.notice_text.value or "")
        assert view.days.controls == []  # nothing pretends to be bookable
    finally:
        await state.api.aclose()
        state.api = online


async def test_a_new_appointment_gets_a_fresh_screen(
    model: BookingModel,  # noqa: F811
    world: Booking,  # noqa: F811
) -> None:
    view = BookingView(model, no_back)
    old = view.control.content
    view.reset()
    # Both subtrees are empty, so equal by value: still really replaced (Flet
    # skips assigning an equal control unless the frame is cleared first).
    assert view.control.content is not old
    assert view.control.content.controls[1] is view.heading
    await model.open(activity_id(world))
    view.show()
    assert view.heading.value in shown_texts(view.control)


def test_cancel_dialog_offers_the_reasons_and_a_text(
    model: BookingModel,  # noqa: F811
) -> None:
    async def done() -> None:
        return None

    dialog = CancelDialog(model, "1", done)
    radios = dialog.reasons.content.controls
    assert [r.label for r in radios] == [
        "Je n’en ai plus besoin",
        "Je ne serai pas disponible",
        "Le problème est résolu",
        "Une autre raison",
    ]
    assert dialog.details.label.startswith("Précisez")
    assert dialog.confirm.content == "Annuler le rendez-vous"
    assert dialog.keep.content == "Le garder"
    assert not dialog.error.visible
