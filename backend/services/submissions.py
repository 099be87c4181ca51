"""Forms, document validations and surveys pushed from the app's outbox (POST /mutations).

Each queued mutation is applied in its own write transaction together with
its idempotency record, so a batch never half-applies an item and a poison
item never blocks the others. Conditions are checked again here, against the
activity as it is now: the app's view may be hours old.

Submissions and validation events are append-only evidence: this module only
ever inserts them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from backend import forms
from backend.actions import is_available
from backend.core.db import begin_write
from backend.localization import format_date
from backend.models import (
    Activity,
    AuthSession,
    BusinessUnit,
    Client,
    FormDefinition,
    FormSubmission,
    LoginCode,
    ValidationEvent,
)
from backend.services import documents, feed, mutations, projection
from backend.services.messaging import MessageSender
from backend.services.planning import notify_planning

log = logging.getLogger("portal")

KINDS = ("fill_form", "validate_document", "survey")
REASON_MAX_LENGTH = 1000
# A lost race on a unique constraint (PostgreSQL, several processes) is
# retried: the retry sees the winner's row and answers accordingly.
ATTEMPTS = 3


@dataclass(frozen=True)
class QueuedItem:
    """One queued mutation, already checked for shape (see the API schema)."""

    mutation_id: str
    kind: str
    activity_id: int
    action_key: str
    payload: dict[str, Any]
    device_id: str
    channel: str


@dataclass(frozen=True)
class Origin:
    """Who sends the batch, and from where (the evidence of a signature)."""

    client: Client
    session: AuthSession
    ip: str


class Refused(Exception):
    """The item can never succeed as sent; ``detail`` says why, for people."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        params: dict[str, Any] | None = None,
        errors: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.params = params or {}
        self.errors = errors or {}

    def result(self, item: QueuedItem) -> dict[str, Any]:
        body: dict[str, Any] = {
            "mutation_id": item.mutation_id,
            "status": "refused",
            "code": self.code,
            "detail": self.detail,
            "params": self.params,
            "activity_id": item.activity_id,
            "action_key": item.action_key,
            "kind": item.kind,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


Render = Callable[[Activity], dict[str, Any]]


@dataclass
class Batch:
    """What a batch needs besides its items."""

    origin: Origin
    now: datetime
    render: Render
    sender: MessageSender | None = None
    signer_contact: str | None = field(default=None)


# --- the rules ---------------------------------------------------------------------


def _activity(db: Session, client: Client, activity_id: int) -> tuple[Activity, BusinessUnit]:
    activity = db.scalars(
        projection.activity_query().where(
            Activity.id == activity_id, Activity.client_id == client.id
        )
    ).first()
    bu = db.get_one(BusinessUnit, client.business_unit_id)
    if activity is None or not projection.is_visible(activity, bu):
        raise Refused(404, "not_found", "No such item in your portal.")
    return activity, bu


def _action(activity: Activity, item: QueuedItem) -> dict[str, Any]:
    for action in activity.type.portal_actions or []:
        if action.get("key") == item.action_key and action.get("kind") == item.kind:
            return action
    raise Refused(
        409,
        "action_unknown",
        "This action is no longer offered for this intervention.",
    )


def _form(db: Session, action: dict[str, Any], bu: BusinessUnit) -> FormDefinition:
    form_id = action.get("form_id")
    form = db.get(FormDefinition, form_id) if isinstance(form_id, int) else None
    if form is None or form.business_unit_id != bu.id:
        raise Refused(
            409, "form_missing", f"This form is no longer available. Please call us on {bu.phone}."
        )
    return form


def _on(moment: datetime, bu: BusinessUnit) -> dict[str, Any]:
    # The app formats ``at`` in the client's language; the English sentence uses ``date``.
    return {"at": projection.iso(moment), "date": format_date(moment, "en", bu.timezone)}


def _check_answers(form: FormDefinition, answers: Any) -> dict[str, Any]:
    errors, clean = forms.check({"fields": form.fields}, answers)
    if errors:
        raise Refused(
            422,
            "invalid_answers",
            "Some answers need your attention.",
            errors=forms.errors_as_json(errors),
        )
    return clean


def _payload_error(name: str, message: str) -> Refused:
    return Refused(
        422,
        "invalid_payload",
        message,
        errors={name: [{"code": "invalid", "params": {}, "message": message}]},
    )


def _decision(payload: dict[str, Any]) -> tuple[str, str, str]:
    """(decision, document_sha256, reason) of a validate_document payload."""
    decision = payload.get("decision")
    if decision not in ("accepted", "refused"):
        raise _payload_error("decision", "decision must be accepted or refused")
    digest = payload.get("document_sha256")
    if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise _payload_error(
            "document_sha256", "document_sha256 must be the SHA-256 (64 lowercase hex digits)"
        )
    reason = payload.get("reason", "")
    if not isinstance(reason, str) or len(reason) > REASON_MAX_LENGTH:
        raise _payload_error("reason", f"reason is text of at most {REASON_MAX_LENGTH} characters")
    if decision == "refused" and not reason.strip():
        raise _payload_error("reason", "Please tell us why you refuse this document.")
    return decision, digest, reason.strip()


def _payload_keys(item: QueuedItem) -> None:
    allowed = {"answers"}
    if item.kind == "validate_document":
        allowed |= {"decision", "document_sha256", "reason"}
    for key in item.payload:
        if key not in allowed:
            raise _payload_error(str(key), f"unknown payload field {key!r} for {item.kind}")


def signer_contact(db: Session, session: AuthSession) -> str:
    """The email or phone the session signed in with, when the server knows it.

    A code sign-in consumes its code in the transaction that opens the session,
    at the same instant; links are not tied to one identifier.
    """
    if session.method != "code":
        return ""
    identifier = db.scalar(
        select(LoginCode.identifier)
        .where(
            LoginCode.client_id == session.client_id, LoginCode.consumed_at == session.created_at
        )
        .order_by(LoginCode.id.desc())
        .limit(1)
    )
    return identifier or ""


def _next_version(db: Session, activity_id: int, action_key: str) -> int:
    latest = db.scalar(
        select(func.max(FormSubmission.version)).where(
            FormSubmission.activity_id == activity_id, FormSubmission.action_key == action_key
        )
    )
    return (latest or 0) + 1


def _submission(
    db: Session,
    batch: Batch,
    item: QueuedItem,
    activity: Activity,
    form: FormDefinition,
    answers: dict[str, Any],
) -> FormSubmission:
    row = FormSubmission(
        client_id=batch.origin.client.id,
        activity_id=activity.id,
        action_key=item.action_key,
        kind=item.kind,
        version=_next_version(db, activity.id, item.action_key),
        form_id=form.id,
        form_name=form.name,
        form_fields=form.fields,
        form_sha256=forms.definition_sha256({"fields": form.fields}),
        answers=answers,
        answers_sha256=forms.sha256_of(answers),
        mutation_id=item.mutation_id,
        channel=item.channel,
        device_id=item.device_id,
        ip=batch.origin.ip,
        session_id=batch.origin.session.id,
        created_at=batch.now,
    )
    db.add(row)
    db.flush()
    return row


@dataclass
class Loaded:
    """Rows one transaction already read (held here: the session's identity map
    is weak, so a form read for one item would otherwise be read again for the next)."""

    activities: dict[int, tuple[Activity, BusinessUnit]] = field(default_factory=dict)
    forms: dict[int, FormDefinition] = field(default_factory=dict)


def _apply(
    db: Session, batch: Batch, item: QueuedItem, loaded: Loaded
) -> tuple[dict[str, Any], Activity]:
    """Check everything, then write; raises :class:`Refused` before any write.

    The activity document is refreshed and rendered by the caller, once per
    activity of the transaction. ``loaded`` keeps the activities this
    transaction already read (writes here never change the activity row).
    """
    client = batch.origin.client
    if item.activity_id not in loaded.activities:
        loaded.activities[item.activity_id] = _activity(db, client, item.activity_id)
    activity, bu = loaded.activities[item.activity_id]
    if activity.status == "cancelled":
        raise Refused(
            409,
            "activity_cancelled",
            "This intervention was cancelled: nothing can be sent for it any more.",
        )
    action = _action(activity, item)
    form_id = action.get("form_id")
    form = loaded.forms.get(form_id) if isinstance(form_id, int) else None
    if form is None:
        form = _form(db, action, bu)
        loaded.forms[form.id] = form
    _payload_keys(item)
    decision = digest = reason = ""
    if item.kind == "validate_document":
        decision, digest, reason = _decision(item.payload)
        earlier = db.scalars(
            select(ValidationEvent).where(
                ValidationEvent.activity_id == activity.id,
                ValidationEvent.action_key == item.action_key,
                ValidationEvent.document_sha256 == digest,
            )
        ).first()
        if earlier is not None:
            when = _on(earlier.created_at, bu)
            if earlier.decision == "accepted":
                raise Refused(
                    409,
                    "already_signed",
                    f"This document was already signed on {when['date']}.",
                    when,
                )
            raise Refused(
                409,
                "already_refused",
                f"This document was already refused on {when['date']}.",
                when,
            )
        shown = forms.document_for(
            projection.activity_doc(activity, client, bu), projection.form_doc(form)
        )
        if forms.sha256_of(shown) != digest:
            raise Refused(
                409,
                "document_changed",
                "This document changed since you read it. Please read it again before answering.",
            )
    if item.kind == "survey":
        earlier_survey = db.scalars(
            select(FormSubmission).where(
                FormSubmission.activity_id == activity.id,
                FormSubmission.action_key == item.action_key,
            )
        ).first()
        if earlier_survey is not None:
            when = _on(earlier_survey.created_at, bu)
            raise Refused(409, "already_answered", f"You already answered on {when['date']}.", when)
    if not is_available(
        action.get("conditions") or {}, activity.status, activity.scheduled_start, batch.now
    ):
        raise Refused(
            409,
            "action_unavailable",
            "This action is not available for this intervention any more.",
        )
    answers: dict[str, Any] = {}
    if decision != "refused":
        answers = _check_answers(form, item.payload.get("answers", {}))
    # --- every check passed: write ---
    result: dict[str, Any] = {
        "mutation_id": item.mutation_id,
        "status": "applied",
        "activity_id": activity.id,
        "action_key": item.action_key,
        "kind": item.kind,
    }
    submission = None
    if decision != "refused":
        submission = _submission(db, batch, item, activity, form, answers)
        result["submission"] = {
            "id": submission.id,
            "version": submission.version,
            "at": projection.iso(submission.created_at),
        }
    label = str(action.get("label", item.action_key))
    if item.kind == "validate_document":
        if batch.signer_contact is None:
            batch.signer_contact = signer_contact(db, batch.origin.session)
        event = ValidationEvent(
            client_id=client.id,
            activity_id=activity.id,
            action_key=item.action_key,
            submission_id=submission.id if submission else None,
            decision=decision,
            reason=reason,
            document_sha256=digest,
            signer_contact=batch.signer_contact,
            sign_in_method=batch.origin.session.method,
            session_id=batch.origin.session.id,
            channel=item.channel,
            device_id=item.device_id,
            ip=batch.origin.ip,
            created_at=batch.now,
        )
        db.add(event)
        db.flush()
        result["validation"] = {
            "id": event.id,
            "decision": decision,
            "document_sha256": digest,
            "at": projection.iso(event.created_at),
        }
        notice = "document_signed" if decision == "accepted" else "document_refused"
    else:
        notice = "form_sent"
    if action.get("notify_planning"):
        notify_planning(
            db,
            batch.sender,
            bu,
            batch.origin.client,
            activity,
            notice,
            batch.now,
            values={"label": label, "reason": reason or ""},
        )
    return result, activity


# --- transactions -------------------------------------------------------------------------

# Items applied in one write transaction: fewer commits, one feed refresh and
# one rendering per activity, while the write lock is held for a bounded time.
CHUNK = 25


def _replayed(first: dict[str, Any]) -> dict[str, Any]:
    again = dict(first)
    if again.get("status") == "applied":
        again["status"] = "already_applied"
    again["replayed"] = True
    return again


def _reused(item: QueuedItem, exc: mutations.MutationReused) -> dict[str, Any]:
    return Refused(409, exc.code, exc.message).result(item)


def _failed(item: QueuedItem) -> dict[str, Any]:
    return {
        "mutation_id": item.mutation_id,
        "status": "error",
        "code": "server_error",
        "detail": "Something went wrong on our side; this change will be sent again.",
        "params": {},
        "activity_id": item.activity_id,
        "action_key": item.action_key,
        "kind": item.kind,
    }


def _lock_actions(db: Session, items: list[QueuedItem]) -> None:
    """Serialize submissions to the same action of the same activity.

    SQLite write transactions begin IMMEDIATE (``begin_write``), which already
    serializes every writer; PostgreSQL takes transaction-scoped advisory
    locks, all at once and in one order (so two batches cannot deadlock), so
    two devices never compute the same version or both sign. The unique
    constraints stay as the last guard.
    """
    if db.get_bind().dialect.name != "postgresql":
        return
    for activity_id, action_key in sorted({(i.activity_id, i.action_key) for i in items}):
        name = f"submission:{activity_id}:{action_key}"
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _earlier(
    db: Session, key: str, item: QueuedItem, here: dict[str, tuple[QueuedItem, dict[str, Any]]]
) -> dict[str, Any] | None:
    """The answer for an id already used (in the database or earlier in this
    transaction): its first result replayed, or a refusal when it carried
    another change. None for a new id."""
    if key in here:
        first_item, first_result = here[key]
        same = (first_item.kind, first_item.activity_id, first_item.action_key) == (
            item.kind,
            item.activity_id,
            item.action_key,
        )
        if not same:
            return _reused(item, mutations.MutationReused(first_item.kind, first_item.activity_id))
        return _replayed(first_result)
    try:
        first = mutations.replay(db, key, item.kind, item.activity_id)
    except mutations.MutationReused as exc:
        return _reused(item, exc)
    if first is None:
        return None
    body = first[1]
    if body.get("action_key") != item.action_key:
        # Same activity and kind, another action: still another change.
        return _reused(item, mutations.MutationReused(item.kind, item.activity_id))
    return _replayed(body)


def _apply_together(db: Session, batch: Batch, items: list[QueuedItem]) -> list[dict[str, Any]]:
    """Apply ``items`` in one write transaction, each in its own savepoint.

    A refusal writes nothing; an unexpected failure rolls back its savepoint
    only and answers ``error`` (not recorded). A conflict with another
    connection (IntegrityError) is raised: the caller retries item by item.
    """
    begin_write(db)
    _lock_actions(db, items)
    client = batch.origin.client
    loaded = Loaded()
    here: dict[str, tuple[QueuedItem, dict[str, Any]]] = {}
    results: list[dict[str, Any]] = []
    records: list[tuple[str, QueuedItem, int, dict[str, Any]]] = []
    replays: list[tuple[int, str]] = []
    applied: list[tuple[dict[str, Any], Activity]] = []
    for item in items:
        key = mutations.mutation_key(client.id, item.mutation_id)
        answer = _earlier(db, key, item, here)
        if answer is not None:
            if key in here and answer.get("replayed"):
                replays.append((len(results), key))  # filled in once the first is complete
            results.append(answer)
            continue
        savepoint = db.begin_nested()
        try:
            result, activity = _apply(db, batch, item, loaded)
            status = 200
            applied.append((result, activity))
        except Refused as refusal:
            # Nothing was written before the refusal: only the answer is kept.
            result, status = refusal.result(item), refusal.status
        except IntegrityError:
            savepoint.rollback()
            raise
        except Exception:
            savepoint.rollback()
            log.exception("mutation %s failed", item.mutation_id)
            results.append(_failed(item))
            continue
        savepoint.commit()
        here[key] = (item, result)
        records.append((key, item, status, result))
        results.append(result)
    if applied:
        activities = {activity.id: activity for _, activity in applied}
        for activity in activities.values():
            db.expire(activity, ["submissions", "validations"])
            # The filled form, the signed quote: generated now, listed by the feed.
            documents.refresh_quietly(db, activity, batch.now)
        feed.refresh_activities(db, list(activities))
        rendered = {aid: batch.render(activity) for aid, activity in activities.items()}
        for result, activity in applied:
            result["activity"] = rendered[activity.id]
    for key, item, status, result in records:
        mutations.remember(db, key, client.id, item.kind, item.activity_id, status, result)
    db.commit()
    for position, key in replays:
        results[position] = _replayed(here[key][1])
    return results


def apply_item(db: Session, batch: Batch, item: QueuedItem) -> dict[str, Any]:
    """Apply one queued mutation exactly once, in its own transaction, and return its result.

    ``applied`` with the new submission / validation and the activity
    document; ``refused`` with a stable ``code``, a ``detail`` sentence and,
    for answers, per-field ``errors`` in the shape of
    :func:`backend.forms.errors_as_json`; a replay returns the first result
    (``already_applied`` when it was applied). A failure on the server side
    is ``error`` and is not recorded: the app sends the item again later.
    """
    for attempt in range(ATTEMPTS):
        try:
            return _apply_together(db, batch, [item])[0]
        except IntegrityError:
            # Another connection inserted the same mutation id, the same
            # version or the same signature first: try again and answer like it.
            db.rollback()
            if attempt == ATTEMPTS - 1:
                log.exception("mutation %s kept conflicting", item.mutation_id)
        except Exception:
            db.rollback()
            log.exception("mutation %s failed", item.mutation_id)
            break
    return _failed(item)


def apply_batch(db: Session, batch: Batch, items: list[QueuedItem]) -> list[dict[str, Any]]:
    """Apply queued mutations in order, :data:`CHUNK` per transaction.

    The results are those of :func:`apply_item`, one per item. When a
    transaction fails as a whole (a conflict with another connection, a
    failed commit), its items are applied again one transaction each, so
    only the item at fault can end in ``error``.
    """
    results: list[dict[str, Any]] = []
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        try:
            results.extend(_apply_together(db, batch, chunk))
        except Exception:
            db.rollback()
            log.warning("a batch of %d mutations failed together; one by one now", len(chunk))
            results.extend(apply_item(db, batch, item) for item in chunk)
    return results


def staff_view(db: Session, activity_id: int) -> dict[str, Any]:
    """Every submission (answers included) and validation event of an activity, oldest first."""
    rows = db.scalars(
        select(FormSubmission)
        .where(FormSubmission.activity_id == activity_id)
        .options(undefer(FormSubmission.answers), undefer(FormSubmission.form_fields))
        .order_by(FormSubmission.id)
    ).all()
    events = db.scalars(
        select(ValidationEvent)
        .where(ValidationEvent.activity_id == activity_id)
        .order_by(ValidationEvent.id)
    ).all()
    return {
        "activity_id": activity_id,
        "submissions": [
            {
                "id": r.id,
                "client_id": r.client_id,
                "action_key": r.action_key,
                "kind": r.kind,
                "version": r.version,
                "form_id": r.form_id,
                "form_name": r.form_name,
                "form_sha256": r.form_sha256,
                "form_fields": r.form_fields,
                "answers": r.answers,
                "answers_sha256": r.answers_sha256,
                "mutation_id": r.mutation_id,
                "channel": r.channel,
                "device_id": r.device_id,
                "ip": r.ip,
                "created_at": projection.iso(r.created_at),
            }
            for r in rows
        ],
        "validations": [
            {
                "id": e.id,
                "client_id": e.client_id,
                "action_key": e.action_key,
                "submission_id": e.submission_id,
                "decision": e.decision,
                "reason": e.reason,
                "document_sha256": e.document_sha256,
                "signer_contact": e.signer_contact,
                "sign_in_method": e.sign_in_method,
                "channel": e.channel,
                "device_id": e.device_id,
                "ip": e.ip,
                "created_at": projection.iso(e.created_at),
            }
            for e in events
        ],
    }
