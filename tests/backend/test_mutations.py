"""POST /mutations: forms, document validations and surveys pushed from the outbox."""

from __future__ import annotations

import asyncio
import base64
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import forms
from backend.core.config import Settings
from backend.models import (
    Activity,
    AuthSession,
    Client,
    FeedEntry,
    FormDefinition,
    FormSubmission,
    Mutation,
    ValidationEvent,
)
from backend.services import feed, mutations, projection, submissions
from backend.services.sessions import create_session
from tests import factories
from tests.conftest import Clock

STAFF = {"X-Staff-Token": "test-staff-token"}
SIGNATURE = {"strokes": [[[0.1, 0.5], [0.4, 0.3], [0.9, 0.6]], [[0.2, 0.8], [0.7, 0.8]]]}
PHOTO = {
    "media_type": "image/png",
    "data": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode(),
}

ACCESS_FIELDS = [
    {"key": "intro", "type": "display_text", "label": "Help us get in."},
    {"key": "door_code", "type": "text", "label": "Door code", "required": True},
    {"key": "floor", "type": "number", "label": "Floor", "min": -2, "max": 40},
    {"key": "pets", "type": "yes_no", "label": "Any pets?"},
    {"key": "photo", "type": "photo", "label": "Photo"},
    {"key": "signature", "type": "signature", "label": "Signature", "required": True},
]
QUOTE_FIELDS = [
    {"key": "accept", "type": "yes_no", "label": "I accept the quote", "required": True},
    {"key": "signature", "type": "signature", "label": "Signature", "required": True},
]
SURVEY_FIELDS = [
    {"key": "overall", "type": "rating", "label": "Overall", "required": True},
    {"key": "comment", "type": "textarea", "label": "Comment"},
]


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class World:
    alice: Client
    bob: Client
    scheduled: Activity
    done: Activity
    bobs: Activity
    quote_form: FormDefinition
    alice_token: str
    bob_token: str
    bu_email: str

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.alice_token}"}


def _form(db: Session, bu_id: int, name: str, fields: list[dict[str, Any]]) -> FormDefinition:
    form = FormDefinition(business_unit_id=bu_id, name=name, fields=fields)
    db.add(form)
    db.flush()
    return form


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


def build_world(db: Session, settings: Settings, now: datetime) -> World:
    """Alice (a scheduled and a done activity) and Bob, with the three form actions."""
    bu = factories.business_unit(db)
    alice = factories.client(db, bu)
    bob = factories.client(db, bu, name="Bob", email="bob@example.com", phone="0700000001")
    access = _form(db, bu.id, "Access", ACCESS_FIELDS)
    quote = _form(db, bu.id, "Quote", QUOTE_FIELDS)
    survey = _form(db, bu.id, "Survey", SURVEY_FIELDS)
    kind = factories.activity_type(
        db,
        bu,
        portal_actions=[
            {
                "key": "access",
                "kind": "fill_form",
                "label": "Access details",
                "form_id": access.id,
                "notify_planning": True,
                "conditions": {"statuses": ["to_schedule", "scheduled"]},
            },
            {
                "key": "sign_quote",
                "kind": "validate_document",
                "label": "Sign the quote",
                "form_id": quote.id,
                "notify_planning": True,
                "conditions": {"statuses": ["scheduled"]},
            },
            {
                "key": "survey",
                "kind": "survey",
                "label": "Your opinion",
                "form_id": survey.id,
                "conditions": {"statuses": ["done"], "timing": "after_visit"},
            },
        ],
    )
    tech = factories.technician(db, bu)
    scheduled = factories.activity(db, alice, kind, now + timedelta(days=3), tech=tech)
    done = factories.activity(db, alice, kind, now - timedelta(days=3), status="done", tech=tech)
    bobs = factories.activity(db, bob, kind, now + timedelta(days=2), tech=tech)
    db.flush()
    for c in (alice, bob):
        feed.refresh_client(db, c.id)
    alice_token = create_session(db, settings, alice.id, "code", now)
    bob_token = create_session(db, settings, bob.id, "code", now)
    db.commit()
    return World(alice, bob, scheduled, done, bobs, quote, alice_token, bob_token, bu.email)


def item(
    activity: Activity,
    kind: str = "fill_form",
    action_key: str = "access",
    payload: dict[str, Any] | None = None,
    mutation_id: str | None = None,
) -> dict[str, Any]:
    if payload is None:
        payload = {"answers": {"door_code": "12A34", "floor": 3, "signature": SIGNATURE}}
    return {
        "mutation_id": mutation_id or new_id(),
        "kind": kind,
        "activity_id": activity.id,
        "action_key": action_key,
        "payload": payload,
        "device_id": "device-1",
        "channel": "app",
    }


async def push(
    http: httpx.AsyncClient, world: World, *items: dict[str, Any], token: str | None = None
) -> list[dict[str, Any]]:
    r = await http.post("/mutations", json={"mutations": list(items)}, headers=world.auth(token))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == list(range(len(items)))
    return results


def document_hash(db: Session, world: World, activity: Activity) -> str:
    """What the app computes from its synced documents (activity and form)."""
    entry = db.scalars(
        select(FeedEntry).where(FeedEntry.kind == "activity", FeedEntry.key == str(activity.id))
    ).one()
    form = db.get_one(FormDefinition, world.quote_form.id)
    db.commit()
    return forms.sha256_of(forms.document_for(entry.body, projection.form_doc(form)))


def count(fresh, model: type) -> int:
    with fresh() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def sign(db: Session, world: World, activity: Activity | None = None, **extra: Any) -> dict:
    target = activity or world.scheduled
    payload = {
        "decision": "accepted",
        "document_sha256": document_hash(db, world, target),
        "answers": {"accept": True, "signature": SIGNATURE},
        **extra,
    }
    return item(target, "validate_document", "sign_quote", payload)


# --- auth, ownership -----------------------------------------------------------------------


async def test_a_session_is_required(http, world: World) -> None:
    r = await http.post("/mutations", json={"mutations": [item(world.scheduled)]})
    assert r.status_code == 401
    r = await http.post(
        "/mutations",
        json={"mutations": [item(world.scheduled)]},
        headers={"Authorization": "Bearer nope"},
    )
    assert r.status_code == 401


async def test_another_clients_activity_is_refused_as_not_found(http, world: World, fresh):
    [result] = await push(http, world, item(world.bobs))
    assert result["status"] == "refused"
    assert result["code"] == "not_found"
    assert result["detail"] == "No such item in your portal."
    assert "activity" not in result
    [result] = await push(http, world, item(world.bobs, "validate_document", "sign_quote"))
    assert result["code"] == "not_found"
    assert count(fresh, FormSubmission) == 0


# --- fill_form -------------------------------------------------------------------------------


async def test_a_form_is_stored_once_with_its_evidence_and_shown_on_the_activity(
    http, world: World, fresh, outbox, clock: Clock
) -> None:
    sent = item(world.scheduled)
    sent["payload"]["answers"]["door_code"] = "  12A34 "
    sent["payload"]["answers"]["photo"] = PHOTO
    [result] = await push(http, world, sent)
    assert result["status"] == "applied", result
    assert result["submission"]["version"] == 1
    assert result["activity"]["submissions"]["access"] == {
        "state": "sent",
        "at": "2026-11-23T09:00:00Z",
        "version": 1,
    }
    with fresh() as s:
        row = s.scalars(select(FormSubmission)).one()
        assert row.answers == {
            "door_code": "12A34",
            "floor": 3,
            "photo": PHOTO,
            "signature": SIGNATURE,
        }
        assert row.answers_sha256 == forms.sha256_of(row.answers)
        assert row.form_fields == ACCESS_FIELDS
        assert row.form_sha256 == forms.definition_sha256({"fields": ACCESS_FIELDS})
        assert (row.channel, row.device_id, row.ip) == ("app", "device-1", "203.0.113.7")
        assert row.mutation_id == sent["mutation_id"]
    # The activity document the app pulls says it was sent.
    r = await http.get("/sync", headers=world.auth())
    docs = {(c["kind"], c["key"]): c["body"] for c in r.json()["changes"]}
    assert docs[("activity", str(world.scheduled.id))]["submissions"]["access"]["state"] == "sent"
    r = await http.get(f"/activities/{world.scheduled.id}", headers=world.auth())
    assert r.json()["submissions"]["access"]["version"] == 1
    # notify_planning: one message to the unit's planning address.
    messages = outbox(world.bu_email)
    assert len(messages) == 1
    assert "Access details : envoyé" in messages[0].subject  # the unit speaks French


async def test_a_second_fill_form_is_kept_as_a_new_version(http, world: World, fresh) -> None:
    [first] = await push(http, world, item(world.scheduled))
    second_item = item(world.scheduled)
    second_item["payload"]["answers"]["door_code"] = "99Z"
    [second] = await push(http, world, second_item)
    assert first["status"] == second["status"] == "applied"
    assert second["submission"]["version"] == 2
    assert second["activity"]["submissions"]["access"]["version"] == 2
    r = await http.get(f"/staff/activities/{world.scheduled.id}/submissions", headers=STAFF)
    assert r.status_code == 200
    rows = r.json()["submissions"]
    assert [(x["version"], x["answers"]["door_code"]) for x in rows] == [(1, "12A34"), (2, "99Z")]


async def test_invalid_answers_are_refused_per_field_in_the_shared_shape(
    http, world: World, fresh
) -> None:
    bad = item(world.scheduled, payload={"answers": {"floor": 41, "pets": "yes", "ghost": 1}})
    [result] = await push(http, world, bad)
    assert result["status"] == "refused"
    assert result["code"] == "invalid_answers"
    expected = forms.errors_as_json(
        forms.validate({"fields": ACCESS_FIELDS}, bad["payload"]["answers"])
    )
    assert result["errors"] == expected
    assert {k: [e["code"] for e in v] for k, v in result["errors"].items()} == {
        "door_code": ["required"],
        "floor": ["above_max"],
        "pets": ["not_yes_no"],
        "signature": ["required"],
        "ghost": ["unknown_field"],
    }
    assert result["errors"]["floor"][0]["message"] == "The value must be at most 40."
    assert count(fresh, FormSubmission) == 0


async def test_a_replay_returns_the_first_result(http, world: World, fresh) -> None:
    sent = item(world.scheduled)
    [first] = await push(http, world, sent)
    [again] = await push(http, world, sent)
    assert again["status"] == "already_applied"
    assert again["replayed"] is True
    assert again["submission"] == first["submission"]
    assert count(fresh, FormSubmission) == 1
    # A refusal replays as the same refusal.
    bad = item(world.scheduled, payload={"answers": {}})
    [refused] = await push(http, world, bad)
    [refused_again] = await push(http, world, bad)
    assert refused_again["status"] == "refused"
    assert refused_again["code"] == refused["code"] == "invalid_answers"
    assert refused_again["replayed"] is True


async def test_a_mutation_id_is_bound_to_its_activity_and_action(http, world: World, fresh):
    sent = item(world.scheduled)
    await push(http, world, sent)
    other_activity = {**sent, "activity_id": world.done.id}
    other_action = {**sent, "kind": "validate_document", "action_key": "sign_quote"}
    [on_other, on_action] = await push(http, world, other_activity, other_action)
    for result in (on_other, on_action):
        assert result["status"] == "refused"
        assert result["code"] == "mutation_id_reused"
        assert "new mutation_id" in result["detail"]
        assert "submission" not in result
    # Another client may use the same id for its own change: ids are per client.
    bobs = {**sent, "activity_id": world.bobs.id}
    [result] = await push(http, world, bobs, token=world.bob_token)
    assert result["status"] == "applied"
    assert count(fresh, FormSubmission) == 2


# --- validate_document ---------------------------------------------------------------------


async def test_a_document_is_signed_once_with_its_evidence(
    http, world: World, db: Session, fresh, clock: Clock
) -> None:
    first = sign(db, world)
    [result] = await push(http, world, first)
    assert result["status"] == "applied", result
    assert result["validation"]["decision"] == "accepted"
    assert result["activity"]["submissions"]["sign_quote"]["state"] == "signed"
    with fresh() as s:
        event = s.scalars(select(ValidationEvent)).one()
        assert event.document_sha256 == first["payload"]["document_sha256"]
        assert (event.channel, event.device_id, event.ip) == ("app", "device-1", "203.0.113.7")
        assert event.sign_in_method == "code"
        assert event.created_at == clock.now
        assert event.submission_id is not None
    clock.advance(days=1)
    [again] = await push(http, world, sign(db, world))
    assert again["status"] == "refused"
    assert again["code"] == "already_signed"
    assert again["detail"] == "This document was already signed on Mon, Nov 23, 2026."
    assert again["params"]["at"] == "2026-11-23T09:00:00Z"
    assert count(fresh, ValidationEvent) == 1
    r = await http.get(f"/staff/activities/{world.scheduled.id}/submissions", headers=STAFF)
    [evidence] = r.json()["validations"]
    assert evidence["document_sha256"] == first["payload"]["document_sha256"]
    assert evidence["decision"] == "accepted"
    [signed] = r.json()["submissions"]
    png = await http.get(f"/staff/submissions/{signed['id']}/signatures/signature", headers=STAFF)
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")


async def test_the_signer_contact_is_the_identifier_signed_in_with(
    http, world: World, db: Session, fresh, last_code, clock: Clock
) -> None:
    r = await http.post("/auth/code/request", json={"identifier": "alice@example.com"})
    assert r.status_code == 202
    r = await http.post(
        "/auth/code/verify",
        json={"identifier": "alice@example.com", "code": last_code("alice@example.com")},
    )
    token = r.json()["token"]
    [result] = await push(http, world, sign(db, world), token=token)
    assert result["status"] == "applied", result
    with fresh() as s:
        assert s.scalars(select(ValidationEvent.signer_contact)).one() == "email:alice@example.com"


async def test_a_changed_document_and_a_refusal_without_reason_are_refused(
    http, world: World, db: Session, fresh
) -> None:
    stale = sign(db, world)
    stale["payload"]["document_sha256"] = "0" * 64
    no_reason = sign(db, world)
    no_reason["payload"] = {**no_reason["payload"], "decision": "refused", "answers": {}}
    bad_hash = sign(db, world)
    bad_hash["payload"]["document_sha256"] = "not a hash"
    unsigned = sign(db, world)
    unsigned["payload"]["answers"] = {"accept": True}
    results = await push(http, world, stale, no_reason, bad_hash, unsigned)
    assert [r["code"] for r in results] == [
        "document_changed",
        "invalid_payload",
        "invalid_payload",
        "invalid_answers",
    ]
    assert list(results[1]["errors"]) == ["reason"]
    assert list(results[2]["errors"]) == ["document_sha256"]
    assert [e["code"] for e in results[3]["errors"]["signature"]] == ["required"]
    assert count(fresh, ValidationEvent) == 0


async def test_a_refusal_with_a_reason_is_recorded_once(
    http, world: World, db: Session, fresh
) -> None:
    refusal = sign(db, world)
    refusal["payload"] = {
        "decision": "refused",
        "document_sha256": refusal["payload"]["document_sha256"],
        "reason": "Too expensive",
    }
    [result] = await push(http, world, refusal)
    assert result["status"] == "applied", result
    assert result["activity"]["submissions"]["sign_quote"]["state"] == "refused"
    [later] = await push(http, world, sign(db, world))
    assert later["code"] == "already_refused"
    with fresh() as s:
        event = s.scalars(select(ValidationEvent)).one()
        assert (event.decision, event.reason, event.submission_id) == (
            "refused",
            "Too expensive",
            None,
        )


# --- conditions checked again on the server ---------------------------------------------


async def test_conditions_are_checked_again_when_the_item_arrives(
    http, world: World, db: Session, fresh
) -> None:
    queued_sign = sign(db, world)  # made while the activity was scheduled
    queued_form = item(world.scheduled)
    r = await http.patch(
        f"/staff/activities/{world.scheduled.id}", json={"status": "cancelled"}, headers=STAFF
    )
    assert r.status_code == 200
    results = await push(http, world, queued_sign, queued_form)
    assert [x["code"] for x in results] == ["activity_cancelled", "activity_cancelled"]
    assert "cancelled" in results[0]["detail"]
    # A survey before the visit is done is not available.
    [early] = await push(
        http,
        world,
        item(world.scheduled, "survey", "survey", {"answers": {"overall": 5}}, new_id()),
    )
    assert early["code"] in ("activity_cancelled", "action_unavailable")
    r = await http.patch(
        f"/staff/activities/{world.scheduled.id}", json={"status": "scheduled"}, headers=STAFF
    )
    [not_yet] = await push(
        http, world, item(world.scheduled, "survey", "survey", {"answers": {"overall": 5}})
    )
    assert not_yet["code"] == "action_unavailable"
    # An action key the type no longer has, or with another kind.
    [unknown] = await push(http, world, item(world.scheduled, "fill_form", "sign_quote"))
    assert unknown["code"] == "action_unknown"
    assert count(fresh, FormSubmission) == 0


async def test_a_survey_is_answered_once(http, world: World, fresh) -> None:
    answers = {"answers": {"overall": 4, "comment": "On time, clean work."}}
    [first] = await push(http, world, item(world.done, "survey", "survey", answers))
    assert first["status"] == "applied", first
    [second] = await push(http, world, item(world.done, "survey", "survey", answers))
    assert second["code"] == "already_answered"
    assert second["detail"] == "You already answered on Mon, Nov 23, 2026."
    assert count(fresh, FormSubmission) == 1


# --- batches ----------------------------------------------------------------------------


async def test_a_poison_item_never_blocks_the_batch(
    http, world: World, db: Session, fresh, monkeypatch
) -> None:
    def broken(*_args: Any) -> str:
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(submissions, "signer_contact", broken)
    garbage = {"mutation_id": "x", "kind": "delete_everything", "activity_id": "1"}
    poison = item(world.scheduled, payload={"answers": {"floor": "high"}})
    signing = sign(db, world)
    good = item(world.scheduled)
    results = await push(http, world, garbage, 42, poison, signing, good)
    assert results[0]["status"] == "refused"
    assert results[0]["code"] == "invalid_mutation"
    assert {"mutation_id", "kind", "activity_id", "action_key", "payload", "channel"} <= set(
        results[0]["errors"]
    )
    assert results[1]["code"] == "invalid_mutation"
    assert results[1]["mutation_id"] is None
    assert results[2]["code"] == "invalid_answers"
    assert results[3]["status"] == "error"
    assert results[4]["status"] == "applied"
    # The failed item was not recorded: sent again once the server is fine, it applies.
    monkeypatch.undo()
    [retried] = await push(http, world, signing)
    assert retried["status"] == "applied"
    assert count(fresh, ValidationEvent) == 1
    assert count(fresh, FormSubmission) == 2


async def test_duplicates_inside_one_batch_are_answered_like_replays(
    http, world: World, db: Session, fresh
) -> None:
    sent = item(world.scheduled)
    reused_elsewhere = {**sent, "activity_id": world.done.id}
    first_sign, second_sign = sign(db, world), sign(db, world)
    results = await push(http, world, sent, sent, reused_elsewhere, first_sign, second_sign)
    assert [r["status"] for r in results] == [
        "applied",
        "already_applied",
        "refused",
        "applied",
        "refused",
    ]
    assert results[1]["submission"] == results[0]["submission"]
    assert results[1]["activity"] == results[0]["activity"]  # replayed once complete
    assert results[2]["code"] == "mutation_id_reused"
    assert results[4]["code"] == "already_signed"
    assert count(fresh, FormSubmission) == 2  # the form once, the signed quote once
    assert count(fresh, ValidationEvent) == 1


async def test_items_spanning_several_transactions_apply_in_order(
    http, world: World, fresh
) -> None:
    items = [item(world.scheduled) for _ in range(submissions.CHUNK * 2 + 3)]
    items.append(items[0])  # a replay of the first, two transactions later
    results = await push(http, world, *items)
    assert [r["status"] for r in results[:-1]] == ["applied"] * (len(items) - 1)
    assert [r["submission"]["version"] for r in results[:-1]] == list(range(1, len(items)))
    assert results[-1]["status"] == "already_applied"
    assert results[-1]["submission"]["version"] == 1
    # Every result carries the activity as its transaction left it.
    assert results[0]["activity"]["submissions"]["access"]["version"] == submissions.CHUNK
    assert results[-2]["activity"]["submissions"]["access"]["version"] == len(items) - 1
    assert count(fresh, FormSubmission) == len(items) - 1


async def test_a_transaction_failing_as_a_whole_is_retried_item_by_item(
    http, world: World, fresh, monkeypatch
) -> None:
    real_remember = mutations.remember
    calls = {"n": 0}

    def remember_once_conflicting(*args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the chunk's second record: as if another connection won
            raise IntegrityError("INSERT", {}, Exception("conflict"))
        real_remember(*args)

    monkeypatch.setattr(mutations, "remember", remember_once_conflicting)
    items = [item(world.scheduled) for _ in range(3)]
    results = await push(http, world, *items)
    assert [r["status"] for r in results] == ["applied"] * 3
    assert [r["submission"]["version"] for r in results] == [1, 2, 3]
    assert count(fresh, FormSubmission) == 3
    assert count(fresh, Mutation) == 3


async def test_batch_limits_answer_413_with_a_clear_message(
    http, world: World, settings: Settings, fresh
) -> None:
    r = await http.post(
        "/mutations",
        json={"mutations": [item(world.scheduled) for _ in range(101)]},
        headers=world.auth(),
    )
    assert r.status_code == 413
    assert r.json()["detail"] == (
        "Too many mutations in one batch (101; at most 100). Send them in several batches."
    )
    r = await http.post(
        "/mutations",
        json={"mutations": [item(world.scheduled) for _ in range(100)]},
        headers=world.auth(),
    )
    assert r.status_code == 200
    assert {x["status"] for x in r.json()["results"]} == {"applied"}
    big = "A" * (settings.max_body_bytes + 1)
    r = await http.post(
        "/mutations",
        json={"mutations": [item(world.scheduled, payload={"answers": {"door_code": big}})]},
        headers=world.auth(),
    )
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]
    assert count(fresh, FormSubmission) == 100


async def test_malformed_envelopes_are_422(http, world: World) -> None:
    for body in ({}, {"mutations": "all"}, {"mutations": [], "extra": 1}, []):
        r = await http.post("/mutations", json=body, headers=world.auth())
        assert r.status_code == 422, body
    r = await http.post("/mutations", json={"mutations": []}, headers=world.auth())
    assert r.json() == {"results": []}


# --- concurrency ------------------------------------------------------------------------


def race(
    api: FastAPI, db: Session, world: World, settings: Settings, now: datetime, kind: str
) -> list[dict[str, Any]]:
    """Eight sessions of Alice submit to one action at the same moment, each its own
    mutation id, straight through the service on their own connections."""
    for _ in range(7):
        create_session(db, settings, world.alice.id, "code", now)
    db.commit()
    digest = document_hash(db, world, world.scheduled)
    sessions = db.scalars(select(AuthSession).where(AuthSession.client_id == world.alice.id)).all()
    db.commit()
    if kind == "validate_document":
        action_key = "sign_quote"
        payload = {
            "decision": "accepted",
            "document_sha256": digest,
            "answers": {"accept": True, "signature": SIGNATURE},
        }
    else:
        action_key = "access"
        payload = {"answers": {"door_code": "1", "signature": SIGNATURE}}
    start = threading.Barrier(len(sessions))
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def attempt(auth_session: AuthSession) -> None:
        session: Session = api.state.sessionmaker()
        try:
            client = session.get_one(Client, world.alice.id)
            session.commit()
            batch = submissions.Batch(
                origin=submissions.Origin(client, auth_session, "198.51.100.1"),
                now=now,
                render=lambda a: {"id": a.id},
            )
            queued = submissions.QueuedItem(
                mutation_id=new_id(),
                kind=kind,
                activity_id=world.scheduled.id,
                action_key=action_key,
                payload=payload,
                device_id=f"device-{auth_session.id}",
                channel="web",
            )
            start.wait()
            outcome = submissions.apply_item(session, batch, queued)
        except Exception:
            outcome = {"status": "exception"}  # a thread's exception would only be a warning
            raise
        finally:
            with lock:
                results.append(outcome)
            session.close()

    threads = [threading.Thread(target=attempt, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == len(sessions) == 8
    return results


def assert_signed_once(db: Session, results: list[dict[str, Any]]) -> None:
    """Exactly one acceptance; every other session is told it was already signed."""
    assert [r["status"] for r in results].count("applied") == 1
    assert {r.get("code") for r in results if r["status"] != "applied"} == {"already_signed"}
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(ValidationEvent)) == 1
    assert db.scalar(select(func.count()).select_from(Mutation)) == len(results)
    db.commit()


def assert_one_version_each(db: Session, results: list[dict[str, Any]]) -> None:
    """Every concurrent fill_form is kept, as versions 1..n."""
    assert {r["status"] for r in results} == {"applied"}
    versions = sorted(r["submission"]["version"] for r in results)
    assert versions == list(range(1, len(results) + 1))
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(FormSubmission)) == len(results)
    db.commit()


def test_sessions_signing_the_same_document_at_once_sign_it_once(
    api: FastAPI, db: Session, world: World, settings: Settings, clock: Clock
) -> None:
    assert_signed_once(db, race(api, db, world, settings, clock.now, "validate_document"))


def test_sessions_sending_the_same_form_at_once_make_versions(
    api: FastAPI, db: Session, world: World, settings: Settings, clock: Clock
) -> None:
    assert_one_version_each(db, race(api, db, world, settings, clock.now, "fill_form"))


async def test_two_devices_pushing_the_same_signature_over_http(
    http, world: World, db: Session, settings: Settings, clock: Clock, fresh
) -> None:
    second_token = create_session(db, settings, world.alice.id, "code", clock.now)
    db.commit()
    first, second = sign(db, world), sign(db, world)
    answers = await asyncio.gather(
        push(http, world, first), push(http, world, second, token=second_token)
    )
    statuses = sorted(a[0]["status"] for a in answers)
    assert statuses == ["applied", "refused"]
    assert count(fresh, ValidationEvent) == 1


# --- staff --------------------------------------------------------------------------------


async def test_staff_submissions_need_the_staff_token_and_an_activity(http, world: World):
    r = await http.get(f"/staff/activities/{world.scheduled.id}/submissions")
    assert r.status_code == 401
    r = await http.get(f"/staff/activities/{world.scheduled.id}/submissions", headers=world.auth())
    assert r.status_code == 401
    r = await http.get("/staff/activities/999999/submissions", headers=STAFF)
    assert r.status_code == 404
    r = await http.get(f"/staff/activities/{world.scheduled.id}/submissions", headers=STAFF)
    assert r.json() == {"activity_id": world.scheduled.id, "submissions": [], "validations": []}
    r = await http.get("/staff/submissions/1/signatures/signature", headers=STAFF)
    assert r.status_code == 404


async def test_evidence_outlives_a_deleted_activity(http, world: World, db: Session) -> None:
    [result] = await push(http, world, sign(db, world))
    assert result["status"] == "applied"
    r = await http.delete(f"/staff/activities/{world.scheduled.id}", headers=STAFF)
    assert r.status_code == 204
    r = await http.get(f"/staff/activities/{world.scheduled.id}/submissions", headers=STAFF)
    assert r.status_code == 200
    assert len(r.json()["validations"]) == 1
    # The id stays bound to the deleted activity.
    [again] = await push(http, world, {**sign_like(result), "activity_id": world.done.id})
    assert again["code"] == "mutation_id_reused"


def sign_like(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "mutation_id": result["mutation_id"],
        "kind": "validate_document",
        "action_key": "sign_quote",
        "payload": {},
        "channel": "app",
    }
