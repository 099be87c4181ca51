"""The delivery queue: messages are queued in the caller's transaction and sent by a worker.

Queueing (:class:`QueueingSender`, the default ``app.state.sender``)
    ``send(db, message, now)`` inserts one ``outgoing_messages`` row in the
    caller's transaction, so a request that rolls back queues nothing. A
    message whose ``dedupe_key`` is already in the table is dropped silently
    (a trigger fires once). A channel with no provider configured keeps the
    development outbox: the row is recorded ``sent`` at once and the text is
    logged.

SMS credit
    An SMS costs its segments (:mod:`backend.sms_segments`) times
    ``Settings.sms_cost_centicredits``. The price is **reserved when the
    message is queued** (one conditional UPDATE, so two requests can never
    spend the last credit twice) and recorded on the row; retries never
    charge again. Without enough credit the row is ``not_sent`` with reason
    ``no_credit`` and nothing is queued. A message that goes dead (the
    provider never took it) gives its price back, once. Callers that must know
    before queueing (sign-in codes: no code without an SMS) reserve with
    :func:`reserve_sms_credit` and pass ``Message(prepaid=True)``.

Delivering (:func:`deliver_due`, :class:`DeliveryWorker`)
    A worker claims due rows in one statement (``UPDATE … WHERE id IN (SELECT
    … FOR UPDATE SKIP LOCKED)`` on PostgreSQL, so several workers share the
    queue; on SQLite the same single UPDATE runs under the write lock), marks
    them ``sending`` with a lease (``next_attempt_at`` = now + lease) and one
    more attempt, commits, then talks to the provider outside any
    transaction. The outcome is written only if the row is still the one it
    claimed (same status and attempt). A temporary failure becomes ``failed``
    with exponential backoff and jitter (the provider's ``Retry-After`` when
    longer); a permanent one, or the last attempt, ``dead`` with the last
    error. A worker killed mid-send leaves its rows ``sending``: once the
    lease is over another worker claims them again **with the same
    idempotency key**, so a provider that honours keys sends once, and an
    email keeps its ``Message-ID``.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from backend.core.config import Settings
from backend.core.db import begin_write
from backend.models import BusinessUnit, OutgoingAttachment, OutgoingMessage, utcnow
from backend.services import transports as tx
from backend.services.messaging import Message
from backend.sms_segments import segments as sms_segments

log = logging.getLogger("portal.delivery")
outbox_log = logging.getLogger("portal.messages")

NO_CREDIT = "no_credit"
WORKER_LOST = "the worker stopped during the last attempt"
RETRYABLE = ("queued", "failed", "sending")


# --- queueing ------------------------------------------------------------------------


def sms_price(settings: Settings, text: str) -> tuple[int, int]:
    """(segments, cost in hundredths of a credit) of an SMS with this text."""
    count = sms_segments(text)
    return count, count * settings.sms_cost_centicredits


def _debit(db: Session, business_unit_id: int, amount: int) -> bool:
    """Take ``amount`` from the unit's credit in one statement; False (nothing taken) if short."""
    if amount <= 0:
        return True
    result = db.execute(
        update(BusinessUnit)
        .where(BusinessUnit.id == business_unit_id, BusinessUnit.sms_centicredits >= amount)
        .values(sms_centicredits=BusinessUnit.sms_centicredits - amount)
    )
    return bool(result.rowcount)


def _refund(db: Session, business_unit_id: int | None, amount: int) -> None:
    if business_unit_id is None or amount <= 0:
        return
    db.execute(
        update(BusinessUnit)
        .where(BusinessUnit.id == business_unit_id)
        .values(sms_centicredits=BusinessUnit.sms_centicredits + amount)
    )


def reserve_sms_credit(db: Session, settings: Settings, business_unit_id: int, text: str) -> bool:
    """Take the price of an SMS with ``text`` from the unit's credit now; False when too low.

    For callers that must know before queueing; they then send the message
    with ``prepaid=True`` so it is not charged again.
    """
    return _debit(db, business_unit_id, sms_price(settings, text)[1])


def _refused(message: Message, now: datetime, reason: str) -> OutgoingMessage:
    # The text of a message that never left is not kept (it may hold a code).
    return OutgoingMessage(
        business_unit_id=message.business_unit_id,
        client_id=message.client_id,
        channel=message.channel,
        recipient=message.recipient,
        language=message.language,
        subject=message.subject,
        body="",
        status="not_sent",
        reason=reason,
        created_at=now,
        dedupe_key=message.dedupe_key,
    )


def queue_message(
    db: Session,
    settings: Settings,
    message: Message,
    now: datetime,
    *,
    live: Iterable[str] = (),
    log_messages: bool = False,
) -> int | None:
    """Queue ``message`` in ``db``'s transaction; returns its row id.

    None when it was not queued: its ``dedupe_key`` was seen before, or an SMS
    lacked credit (then a ``not_sent`` row says so). ``live`` names the
    channels with a real provider; others are recorded ``sent`` at once.
    """
    if message.dedupe_key is not None and db.scalar(
        select(OutgoingMessage.id).where(OutgoingMessage.dedupe_key == message.dedupe_key)
    ):
        return None
    segments = cost = 0
    if message.channel == "sms":
        segments, cost = sms_price(settings, message.body)
        if (
            not message.prepaid
            and message.business_unit_id is not None
            and not _debit(db, message.business_unit_id, cost)
        ):
            db.add(_refused(message, now, NO_CREDIT))
            db.flush()
            return None
    dev = message.channel not in set(live)
    values = {
        "business_unit_id": message.business_unit_id,
        "client_id": message.client_id,
        "channel": message.channel,
        "recipient": message.recipient,
        "language": message.language,
        "subject": message.subject,
        "body": message.body,
        "html": message.html,
        "status": "sent" if dev else "queued",
        "reason": "",
        "created_at": now,
        "idempotency_key": tx_key(),
        "dedupe_key": message.dedupe_key,
        "attempts": 0,
        "next_attempt_at": None if dev else now,
        "sent_at": now if dev else None,
        "segments": segments,
        "cost_centicredits": cost,
    }
    statement = _insert_ignoring_duplicates(db, values, message.dedupe_key is not None)
    message_id = db.scalar(statement.returning(OutgoingMessage.id))
    if message_id is None:
        # The same event was queued by a concurrent transaction just now.
        if not message.prepaid:
            _refund(db, message.business_unit_id, cost)
        return None
    if message.attachments:
        db.execute(
            insert(OutgoingAttachment),
            [
                {
                    "message_id": message_id,
                    "position": i,
                    "filename": a.filename,
                    "media_type": a.media_type,
                    "content": a.content,
                }
                for i, a in enumerate(message.attachments)
            ],
        )
    if dev and log_messages:
        outbox_log.warning(
            "[dev outbox] %s to %s: %s", message.channel, message.recipient, message.body
        )
    return message_id


def tx_key() -> str:
    """A fresh idempotency key (128 random bits, hex)."""
    return secrets.token_hex(16)


def _insert_ignoring_duplicates(db: Session, values: dict[str, object], dedupe: bool) -> Any:
    dialect = db.get_bind().dialect.name
    if dedupe and dialect == "postgresql":
        return pg_insert(OutgoingMessage).values(values).on_conflict_do_nothing()
    if dedupe and dialect == "sqlite":
        return sqlite_insert(OutgoingMessage).values(values).on_conflict_do_nothing()
    return insert(OutgoingMessage).values(values)


class QueueingSender:
    """The default sender: queues every message in the caller's transaction (see module doc)."""

    def __init__(self, settings: Settings, *, live: Iterable[str] | None = None) -> None:
        self.settings = settings
        self.live = frozenset(tx.live_channels(settings) if live is None else live)

    def send(self, db: Session, message: Message, now: datetime) -> None:
        """Queue ``message`` (or record it sent in the development outbox)."""
        queue_message(
            db, self.settings, message, now, live=self.live, log_messages=self.settings.log_messages
        )


# --- delivering ----------------------------------------------------------------------


def retry_delay(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before the next try after ``attempts`` failed ones.

    ``base × 2^(attempts-1)``, capped, times a random factor in [0.5, 1] so
    that messages failing together do not all come back at the same moment.
    """
    exponent = min(max(attempts - 1, 0), 62)
    ceiling = min(cap, base * (2**exponent))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


@dataclass
class CycleReport:
    """What one delivery cycle did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0  # rows given up because their worker died on the last attempt
    reminders: int = 0
    errors: list[str] = field(default_factory=list)


def claim_due(db: Session, settings: Settings, now: datetime, limit: int) -> list[tx.Outgoing]:
    """Claim up to ``limit`` due messages for this worker and commit the claim.

    ``db`` must be a fresh session; the claim is its own write transaction.
    """
    begin_write(db)
    due = (
        select(OutgoingMessage.id)
        .where(
            OutgoingMessage.status.in_(RETRYABLE),
            OutgoingMessage.next_attempt_at <= now,
            OutgoingMessage.attempts < settings.delivery_max_attempts,
        )
        .order_by(OutgoingMessage.next_attempt_at, OutgoingMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    lease_end = now + timedelta(seconds=settings.delivery_lease_seconds)
    ids = list(
        db.scalars(
            update(OutgoingMessage)
            .where(OutgoingMessage.id.in_(due.scalar_subquery()))
            .values(
                status="sending",
                attempts=OutgoingMessage.attempts + 1,
                next_attempt_at=lease_end,
            )
            .returning(OutgoingMessage.id)
            .execution_options(synchronize_session=False)
        )
    )
    rows = (
        list(
            db.scalars(
                select(OutgoingMessage)
                .where(OutgoingMessage.id.in_(ids))
                .order_by(OutgoingMessage.id)
            )
        )
        if ids
        else []
    )
    claimed = [
        tx.Outgoing(
            id=row.id,
            channel=row.channel,
            recipient=row.recipient,
            subject=row.subject,
            body=row.body,
            html=row.html,
            idempotency_key=row.idempotency_key,
            attempt=row.attempts,
            attachments=tuple(
                tx.OutgoingAttachmentData(a.filename, a.media_type, a.content)
                for a in row.attachments
            ),
        )
        for row in rows
    ]
    db.commit()
    return claimed


def anything_due(db: Session, settings: Settings, now: datetime) -> bool:
    """Whether a message is waiting for a worker (a read; takes no lock)."""
    found = db.scalar(
        select(OutgoingMessage.id)
        .where(
            OutgoingMessage.status.in_(RETRYABLE),
            OutgoingMessage.next_attempt_at <= now,
            OutgoingMessage.attempts < settings.delivery_max_attempts,
        )
        .limit(1)
    )
    db.rollback()
    return found is not None


def bury_lost(db: Session, settings: Settings, now: datetime) -> int:
    """Mark dead the messages whose worker died during their last allowed attempt."""
    stale = (
        OutgoingMessage.status == "sending",
        OutgoingMessage.next_attempt_at <= now,
        OutgoingMessage.attempts >= settings.delivery_max_attempts,
    )
    if db.scalar(select(OutgoingMessage.id).where(*stale).limit(1)) is None:
        db.rollback()
        return 0
    begin_write(db)
    lost = list(
        db.execute(
            select(
                OutgoingMessage.id,
                OutgoingMessage.business_unit_id,
                OutgoingMessage.cost_centicredits,
            )
            .where(
                OutgoingMessage.status == "sending",
                OutgoingMessage.next_attempt_at <= now,
                OutgoingMessage.attempts >= settings.delivery_max_attempts,
            )
            .with_for_update(skip_locked=True)
        )
    )
    for message_id, bu_id, cost in lost:
        done = db.execute(
            update(OutgoingMessage)
            .where(OutgoingMessage.id == message_id, OutgoingMessage.status == "sending")
            .values(status="dead", last_error=WORKER_LOST, next_attempt_at=None)
        )
        if done.rowcount:
            _refund(db, bu_id, cost)
    db.commit()
    return len(lost)


def _finish(
    db: Session,
    message_id: int,
    attempts: int,
    values: dict[str, object],
    refund: bool = False,
) -> bool:
    """Write a claimed message's outcome if it is still ours; True when written."""
    begin_write(db)
    done = db.execute(
        update(OutgoingMessage)
        .where(
            OutgoingMessage.id == message_id,
            OutgoingMessage.status == "sending",
            OutgoingMessage.attempts == attempts,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    written = bool(done.rowcount)
    if written and refund:
        row = db.execute(
            select(OutgoingMessage.business_unit_id, OutgoingMessage.cost_centicredits).where(
                OutgoingMessage.id == message_id
            )
        ).one()
        _refund(db, row[0], row[1])
    db.commit()
    return written


def deliver_one(
    make_session: sessionmaker[Session],
    settings: Settings,
    transports: dict[str, tx.Transport],
    message: tx.Outgoing,
    clock: Callable[[], datetime],
    report: CycleReport,
    rng: random.Random | None = None,
) -> None:
    """Send one claimed message and record the outcome."""
    attempts = message.attempt
    transport = transports.get(message.channel)
    error: str
    retry_after: float | None = None
    permanent = False
    try:
        if transport is None:
            # No provider for this channel any more: the development outbox.
            if settings.log_messages:
                outbox_log.warning(
                    "[dev outbox] %s to %s: %s", message.channel, message.recipient, message.body
                )
            provider_id = ""
        else:
            provider_id = transport.send(message)
    except tx.PermanentFailure as exc:
        error, permanent = exc.error, True
    except tx.TemporaryFailure as exc:
        error, retry_after = exc.error, exc.retry_after
    except Exception as exc:  # an adapter bug must not stop the queue
        log.exception("delivery of message %s failed", message.id)
        error = f"{type(exc).__name__}: {exc}"
    else:
        with make_session() as db:
            if _finish(
                db,
                message.id,
                attempts,
                {
                    "status": "sent",
                    "sent_at": clock(),
                    "provider_id": provider_id[:200],
                    "last_error": "",
                    "next_attempt_at": None,
                },
            ):
                report.sent += 1
        return
    error = error[:500]
    report.errors.append(error)
    now = clock()
    with make_session() as db:
        if permanent or attempts >= settings.delivery_max_attempts:
            if _finish(
                db,
                message.id,
                attempts,
                {"status": "dead", "last_error": error, "next_attempt_at": None},
                refund=True,
            ):
                report.dead += 1
            return
        delay = retry_delay(
            attempts,
            settings.delivery_backoff_base_seconds,
            settings.delivery_backoff_cap_seconds,
            rng,
        )
        if retry_after is not None:
            delay = max(delay, retry_after)
        if _finish(
            db,
            message.id,
            attempts,
            {
                "status": "failed",
                "last_error": error,
                "next_attempt_at": now + timedelta(seconds=delay),
            },
        ):
            report.retried += 1


def run_reminders(make_session: sessionmaker[Session], now: datetime) -> int:
    """Let the triggers queue the reminders that are due (their own write transaction)."""
    from backend.services import triggers

    with make_session() as db:
        begin_write(db)
        count = triggers.due_reminders(db, now)
        db.commit()
    return int(count or 0)


def deliver_due(
    make_session: sessionmaker[Session],
    settings: Settings,
    transports: dict[str, tx.Transport],
    *,
    clock: Callable[[], datetime] = utcnow,
    stop: threading.Event | None = None,
    rng: random.Random | None = None,
    max_batches: int | None = None,
) -> CycleReport:
    """One worker cycle: queue due reminders, then send every due message, batch by batch.

    Returns when nothing is due any more (or ``stop`` is set, or after
    ``max_batches`` batches).
    """
    report = CycleReport()
    try:
        report.reminders = run_reminders(make_session, clock())
    except Exception:  # reminders must not stop delivery
        log.exception("due reminders failed")
    with make_session() as db:
        report.lost = bury_lost(db, settings, clock())
    batches = 0
    try:
        while not (stop and stop.is_set()):
            with make_session() as db:
                # A read first: an idle queue never takes the write lock.
                if not anything_due(db, settings, clock()):
                    break
            with make_session() as db:
                claimed = claim_due(db, settings, clock(), settings.delivery_batch_size)
            report.claimed += len(claimed)
            for message in claimed:
                deliver_one(
                    make_session,
                    settings,
                    transports,
                    message,
                    clock,
                    report,
                    rng,
                )
            batches += 1
            if len(claimed) < settings.delivery_batch_size:
                break
            if max_batches is not None and batches >= max_batches:
                break
    finally:
        for transport in transports.values():
            transport.close()
    return report


class DeliveryWorker:
    """Runs :func:`deliver_due` every ``delivery_poll_seconds`` in a background thread.

    Used inside ``portal serve`` and ``portal`` (started and stopped with the
    app) and by ``portal worker`` (:meth:`run_forever` in the main thread).
    """

    def __init__(
        self,
        make_session: sessionmaker[Session],
        settings: Settings,
        *,
        transports: dict[str, tx.Transport] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.make_session = make_session
        self.settings = settings
        self.transports = (
            tx.transports_from_settings(settings) if transports is None else transports
        )
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> CycleReport:
        """One cycle now (tests, ``portal worker --once``)."""
        return deliver_due(
            self.make_session, self.settings, self.transports, clock=self.clock, stop=self._stop
        )

    def run_forever(self) -> None:
        """Cycle until :meth:`stop`; a failing cycle is logged and the next one runs."""
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # e.g. the database restarting
                log.exception("delivery cycle failed")
            self._stop.wait(self.settings.delivery_poll_seconds)

    def start(self) -> None:
        """Run in a daemon thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run_forever, name="portal-delivery", daemon=True
        )
        self._thread.start()

    def request_stop(self) -> None:
        """Ask :meth:`run_forever` to return after the message in hand (signal-safe)."""
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop after the message in hand, and wait for it."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        for transport in self.transports.values():
            shutdown = getattr(transport, "shutdown", None)
            if shutdown is not None:
                shutdown()
