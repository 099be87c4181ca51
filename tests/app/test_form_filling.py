"""The form screen's view-model (app.form_filling) against the real backend in-process.

Fill, validate beside each field, keep drafts, queue offline, push once,
sign a document on what was shown, refuse it with a reason, answer a survey,
fix a refused item and send it again — without Flet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app import booking_rules
from app.activities import ACTIVITIES
from app.form_filling import FormModel
from app.forms.drafts import Drafts
from app.state import AppState
from app.submission_status import submission_lines
from app.sync.api import PortalApi
from app.sync.engine import open_store
from app.sync.outbox import PENDING, REJECTED, Outbox
from app.sync.store import Store
from app.sync.tokens import MemoryTokenStore
from backend.core.config import Settings
from backend.models import AuthSession, FormSubmission, ValidationEvent
from tests.app.conftest import no_sleep, sign_in
from tests.backend.test_mutations import SIGNATURE, World, build_world
from tests.backend.test_quotes_api import quote_body
from tests.conftest import Clock


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


class Switch(httpx.AsyncBaseTransport):
    """A transport that fails like a lost connection while ``offline`` is set."""

    def __init__(self, api: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app=api)
        self.offline = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.offline:
            raise httpx.ConnectError("no network", request=request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
def network(api: FastAPI) -> Switch:
    return Switch(api)


async def signed_in(network: Switch, store: Store, clock: Clock, token: str) -> AppState:
    client = httpx.AsyncClient(transport=network, base_url="http://portal.test")
    tokens = MemoryTokenStore()
    tokens.set(token)
    state = AppState(PortalApi(client), store, tokens, clock=clock, sleep=no_sleep)
    await state.start()
    assert await state.refresh() is not None
    return state


@pytest.fixture
async def state(
    network: Switch, store: Store, clock: Clock, world: World
) -> AsyncIterator[AppState]:
    s = await signed_in(network, store, clock, world.alice_token)
    yield s
    await s.api.aclose()


def submissions(db: Session, activity_id: int) -> int:
    db.rollback()  # a fresh snapshot: the server committed in another session
    return int(
        db.scalar(
            select(func.count())
            .select_from(FormSubmission)
            .where(FormSubmission.activity_id == activity_id)
        )
        or 0
    )


async def settle(state: AppState) -> None:
    """Wait for the background push the form started."""
    task = state._push_task  # noqa: SLF001 - the test waits for the screen's push
    if task is not None:
        await task


async def test_errors_are_shown_beside_their_fields_before_anything_is_queued(
    state: AppState, world: World
) -> None:
    model = FormModel(state)
    screen = await model.open(str(world.scheduled.id), "access")
    assert screen.phase == "editing" and screen.kind == "fill_form"
    assert [f.type for f in screen.fields] == [
        "display_text",
        "text",
        "number",
        "yes_no",
        "photo",
        "signature",
    ]
    await model.set_answer("floor", 99)
    assert not await model.submit()
    tr = state.tr
    # In the client's language (French here).
    assert screen.errors["door_code"].text(tr) == "Ce champ est obligatoire."
    assert screen.errors["floor"].text(tr) == "La valeur doit être au plus 40."
    assert screen.errors["signature"].text(tr) == "Ce champ est obligatoire."
    assert screen.notice is not None and "3" in screen.notice.text(tr)
    assert await __import__("asyncio").to_thread(Outbox(state.store).pending_count) == 0
    # Answering a field clears its error.
    await model.set_answer("door_code", "B12")
    assert "door_code" not in screen.errors


async def test_a_draft_survives_closing_the_app(
    state: AppState, world: World, tmp_path: Path, network: Switch, clock: Clock
) -> None:
    model = FormModel(state)
    await model.open(str(world.scheduled.id), "access")
    await model.set_answer("door_code", "B12")
    await model.set_answer("pets", True)
    state.store.close()
    # The app starts again on the same file.
    store = open_store(state.store.path)
    again = await signed_in(network, store, clock, world.alice_token)
    try:
        screen = await FormModel(again).open(str(world.scheduled.id), "access")
        assert screen.answers == {"door_code": "B12", "pets": True}
        assert screen.draft_restored
    finally:
        await again.api.aclose()
        store.close()


async def test_filled_offline_then_sent_exactly_once_when_back(
    state: AppState, world: World, network: Switch, db: Session
) -> None:
    aid = str(world.scheduled.id)
    network.offline = True
    model = FormModel(state)
    await model.open(aid, "access")
    for key, value in (("door_code", "B12"), ("floor", 3), ("signature", SIGNATURE)):
        await model.set_answer(key, value)
    assert await model.submit()
    await settle(state)
    screen = model.screen
    assert screen is not None and screen.phase == "queued"
    assert screen.notice is not None and screen.notice.key == "form.queued"
    # The draft went with the queuing; the item waits and the screen says so.
    assert Drafts(state.store).load(aid, "access") is None
    items = Outbox(state.store).for_activity(int(aid))
    assert [i.status for i in items] == [PENDING]
    doc = state.store.get(ACTIVITIES, aid)
    lines = submission_lines(doc, items, state.tr)
    assert [(ln.state, ln.text) for ln in lines] == [("pending", "En attente d’envoi")]
    assert submissions(db, int(aid)) == 0
    network.offline = False
    result = await state.refresh()
    assert result is not None and result.sent == 1
    await state.refresh()  # a second sync sends nothing again
    assert submissions(db, int(aid)) == 1
    await model.refresh_sent()
    assert screen.notice is not None and screen.notice.key == "form.sent"
    doc = state.store.get(ACTIVITIES, aid)
    lines = submission_lines(doc, Outbox(state.store).for_activity(int(aid)), state.tr)
    assert lines[-1].state == "sent" and lines[-1].text.startswith("Envoyé le ")


async def test_a_document_is_signed_on_what_was_shown_and_then_offered_no_more(
    state: AppState, world: World, db: Session
) -> None:
    aid = str(world.scheduled.id)
    model = FormModel(state)
    screen = await model.open(aid, "sign_quote")
    assert screen.is_document and screen.document_sha256 and len(screen.document_sha256) == 64
    await model.set_answer("accept", True)
    await model.set_answer("signature", SIGNATURE)
    assert await model.submit()
    await settle(state)
    db.rollback()  # a fresh snapshot: the server committed in another session
    event = db.scalars(select(ValidationEvent)).one()
    assert event.decision == "accepted" and event.document_sha256 == screen.document_sha256
    assert model.screen is not None and model.screen.notice is not None
    assert model.screen.notice.key == "form.sent.document"
    await state.refresh()
    doc = state.store.get(ACTIVITIES, aid)
    # Signed once: the button is gone and the form says when it was signed.
    assert "sign_quote" not in [a["key"] for a in booking_rules.usable_actions(doc, state.clock())]
    again = await FormModel(state).open(aid, "sign_quote")
    assert again.phase == "unavailable" and again.notice is not None
    assert again.notice.key == "form.done.signed"


async def test_refusing_a_document_needs_a_reason_and_no_signature(
    state: AppState, world: World, db: Session
) -> None:
    model = FormModel(state)
    await model.open(str(world.scheduled.id), "sign_quote")
    assert not await model.refuse("   ")
    assert model.screen is not None and "reason" in model.screen.errors
    assert await model.refuse("Too expensive")
    await settle(state)
    db.rollback()  # a fresh snapshot: the server committed in another session
    event = db.scalars(select(ValidationEvent)).one()
    assert (event.decision, event.reason) == ("refused", "Too expensive")


async def test_a_refused_item_is_shown_fixed_and_sent_again(
    state: AppState, world: World, db: Session
) -> None:
    """The server refuses what the app could not know (the document changed):
    the item is kept with its reason, reopens with what was sent, and goes again."""
    aid = str(world.scheduled.id)
    model = FormModel(state)
    screen = await model.open(aid, "sign_quote")
    await model.set_answer("accept", True)
    await model.set_answer("signature", SIGNATURE)
    screen.document_sha256 = "0" * 64  # what was shown is not what the server holds
    assert await model.submit()
    await settle(state)
    items = Outbox(state.store).for_activity(int(aid))
    assert [i.status for i in items] == [REJECTED]
    assert model.screen is not None and model.screen.notice is not None
    assert model.screen.notice.key == "form.refused_by_server"
    lines = submission_lines(state.store.get(ACTIVITIES, aid), items, state.tr)
    assert lines[0].state == "rejected" and lines[0].mutation_id == items[0].mutation_id
    assert lines[0].text.startswith("Non accepté : ")
    fixing = await FormModel(state).open(aid, "sign_quote", fixing=items[0].mutation_id)
    assert fixing.fixing == items[0].mutation_id
    assert fixing.answers["accept"] is True  # what was sent comes back
    fixer = FormModel(state)
    await fixer.open(aid, "sign_quote", fixing=items[0].mutation_id)
    assert await fixer.submit()
    await settle(state)
    db.rollback()  # a fresh snapshot: the server committed in another session
    assert db.scalars(select(ValidationEvent)).one().decision == "accepted"
    statuses = [i.status for i in Outbox(state.store).for_activity(int(aid))]
    assert REJECTED not in statuses


async def test_a_survey_is_answered_once(state: AppState, world: World, db: Session) -> None:
    aid = str(world.done.id)
    model = FormModel(state)
    screen = await model.open(aid, "survey")
    assert screen.kind == "survey"
    await model.set_answer("overall", 5)
    await model.set_answer("comment", "Très bien")
    assert await model.submit()
    await settle(state)
    assert submissions(db, int(aid)) == 1
    await state.refresh()
    again = await FormModel(state).open(aid, "survey")
    assert again.phase == "unavailable" and again.notice is not None
    assert again.notice.key == "form.done.answered"


async def test_an_action_not_available_now_opens_no_form(state: AppState, world: World) -> None:
    screen = await FormModel(state).open(str(world.done.id), "sign_quote")
    assert screen.phase == "unavailable" and screen.notice is not None
    screen = await FormModel(state).open(str(world.bobs.id), "access")  # Bob's
    assert screen.phase == "unavailable" and screen.notice is not None
    assert screen.notice.key == "form.unavailable.gone"


async def test_an_expired_session_keeps_what_was_not_sent_for_the_same_client(
    state: AppState, world: World, network: Switch, db: Session, api: FastAPI
) -> None:
    aid = str(world.scheduled.id)
    network.offline = True
    model = FormModel(state)
    await model.open(aid, "access")
    await model.set_answer("door_code", "B12")
    await model.set_answer("signature", SIGNATURE)
    assert await model.submit()
    await settle(state)
    await FormModel(state).open(aid, "sign_quote")
    draft_model = FormModel(state)
    await draft_model.open(aid, "sign_quote")
    await draft_model.set_answer("accept", True)
    # The server ends every session of this client (expired, revoked…).
    db.execute(delete(AuthSession))
    db.commit()
    network.offline = False
    assert await state.refresh() is None
    assert not state.signed_in
    assert state.store.get(ACTIVITIES, aid) is None  # the cache is gone…
    assert Outbox(state.store).pending_count() == 1  # …not what waits to be sent
    assert Drafts(state.store).load(aid, "sign_quote") is not None
    assert submissions(db, int(aid)) == 0
    await sign_in(state, api, "alice@example.com")
    await state.refresh()
    assert submissions(db, int(aid)) == 1
    assert Drafts(state.store).load(aid, "sign_quote") is not None


async def test_another_client_signing_in_wipes_what_the_previous_one_left(
    state: AppState, world: World, network: Switch, db: Session, api: FastAPI
) -> None:
    network.offline = True
    model = FormModel(state)
    await model.open(str(world.scheduled.id), "access")
    await model.set_answer("door_code", "B12")
    await model.set_answer("signature", SIGNATURE)
    assert await model.submit()
    await settle(state)
    db.execute(delete(AuthSession))
    db.commit()
    network.offline = False
    assert await state.refresh() is None
    await sign_in(state, api, "bob@example.com")
    assert Outbox(state.store).pending_count() == 0
    assert Drafts(state.store).keys() == set()


async def test_a_quote_refused_then_revised_can_be_signed(
    state: AppState, world: World, db: Session, api: FastAPI
) -> None:
    """The client refuses a quote; the company revises it; the new one shows its
    lines, is offered again, and is signed on its own hash."""
    aid = str(world.scheduled.id)
    staff = httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://staff")
    headers = {"X-Staff-Token": "test-staff-token"}
    put = await staff.put(
        f"/staff/activities/{aid}/quote", json=quote_body("80.00"), headers=headers
    )
    assert put.status_code == 200, put.text
    await state.refresh()
    model = FormModel(state)
    screen = await model.open(aid, "sign_quote")
    assert screen.quote is not None and screen.quote.readable
    assert await model.refuse("Trop cher")
    await settle(state)
    await state.refresh()
    detail = await state.activities.activity_detail(aid)
    assert detail is not None and "sign_quote" not in [a.key for a in detail.actions]
    assert [ln.state for ln in detail.submissions] == ["refused"]
    # The company lowers its price: a new document to answer.
    put = await staff.put(
        f"/staff/activities/{aid}/quote", json=quote_body("55.00"), headers=headers
    )
    assert put.status_code == 200, put.text
    await staff.aclose()
    await state.refresh()
    detail = await state.activities.activity_detail(aid)
    assert detail is not None and "sign_quote" in [a.key for a in detail.actions]
    model = FormModel(state)
    screen = await model.open(aid, "sign_quote")
    assert screen.phase == "editing"
    await model.set_answer("accept", True)
    await model.set_answer("signature", SIGNATURE)
    assert await model.submit()
    await settle(state)
    db.rollback()
    decisions = [
        e.decision for e in db.scalars(select(ValidationEvent).order_by(ValidationEvent.id))
    ]
    assert decisions == ["refused", "accepted"]
