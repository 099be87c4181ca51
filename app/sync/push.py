"""The push side of sync: send the outbox to ``POST /mutations``, each item exactly once.

The form screens queue ``fill_form``, ``validate_document`` and ``survey``
items in the outbox (``app.sync.outbox``) with the payload
``{"activity_id", "action_key", "payload"}``; ``Pusher.push`` sends them.
The rules it keeps:

- **Order.** Due pending items of the kinds ``POST /mutations`` takes
  (``PUSH_KINDS``; other outbox items are left alone) go oldest first, at most ``MAX_BATCH`` items
  and ``MAX_BATCH_BYTES`` of JSON per request. An item backing off after a
  server ``error`` holds back the later items of the *same* activity action
  (so form versions keep their order), never the others.
- **One answer, one local transaction.** The answers to a batch are recorded
  in one store transaction: ``applied`` / ``already_applied`` items become
  ``sent`` and the activity document that came back is written into the
  ``activities`` collection in that same transaction (the screen shows it at
  once; the pull brings it again); ``refused`` items become ``rejected`` with
  the server's code, params and per-field errors (``app.refusals`` words
  them in the client's language) and never hold back anything; ``error``
  items back off. A crash leaves the store with all of a batch's answers or
  none of them.
- **Exactly once.** Without an answer (``Offline``, a timeout, a 5xx, a
  crash) nothing is written: the items stay pending with the same ids and the
  next push sends them again; the server answers an id it already applied
  with its first result. A replayed activity document is never newer than
  the store's, because the engine always pushes before it pulls and a push
  without an answer stops the sync before its pull.
- **No poison.** A batch the server will not take as a whole (413 too large,
  400/422 unreadable) is split in halves; a single item it will not take is
  rejected locally (codes ``too_large`` / ``unreadable``), so the queue
  drains past it.
- Sent items are forgotten ``FORGET_SENT_AFTER`` after they were sent.

``fault`` is a test seam: called with a point name (``push.before_send``,
``push.received``, ``push.committed``) so a test can kill the process there.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.sync.api import PortalApi, Rejected, ServerError
from app.sync.device import device_id
from app.sync.outbox import PENDING, Mutation, Outbox
from app.sync.store import Store

# The kinds POST /mutations takes; other outbox items are not ours to send.
PUSH_KINDS = frozenset({"fill_form", "validate_document", "survey"})
# The server's limit on items per request (backend/api/routes/mutations.py).
MAX_BATCH = 100
# JSON bytes per request: under the server's default body limit (1 MiB,
# PORTAL_MAX_BODY_BYTES); a smaller limit is met by splitting on 413.
MAX_BATCH_BYTES = 1_000_000
FORGET_SENT_AFTER = timedelta(days=1)

# The store collection of activity documents (the pull's kind "activity").
ACTIVITIES = "activities"
# The key of SyncResult.changed_ids naming activities whose outbox items changed.
OUTBOX = "outbox"

# Whole-batch refusals that are about what we sent, not about the session or
# the server: split the batch to find the item at fault.
SPLIT_STATUSES = {400: "unreadable", 413: "too_large", 422: "unreadable"}
LOCAL_DETAILS = {
    "too_large": "This change is too large for the server to accept.",
    "unreadable": "The server could not read this change.",
}
# Body of {"mutations": [...]} around the items.
_ENVELOPE_BYTES = len(b'{"mutations":[]}')

FaultHook = Callable[[str], None]


@dataclass
class PushResult:
    """What one push did."""

    requests: int = 0  # POST /mutations sent (answered or not)
    sent: int = 0  # applied or already applied
    refused: int = 0  # rejected, by the server or locally
    failed: int = 0  # server "error": backing off
    activity_ids: set[str] = field(default_factory=set)  # documents written from answers
    outbox_activity_ids: set[str] = field(default_factory=set)  # items that changed state


@dataclass(frozen=True)
class Outgoing:
    """A pending item with its wire form and size."""

    mutation: Mutation
    wire: dict[str, Any]
    size: int


def wire_item(mutation: Mutation, device: str, channel: str) -> dict[str, Any]:
    """The item as ``POST /mutations`` takes it; the server checks its shape."""
    envelope = mutation.payload
    return {
        "mutation_id": mutation.mutation_id,
        "kind": mutation.kind,
        "activity_id": envelope.get("activity_id"),
        "action_key": envelope.get("action_key"),
        "payload": envelope.get("payload", {}),
        "device_id": device,
        "channel": channel,
    }


def _size(wire: Mapping[str, Any]) -> int:
    # The same encoding httpx uses for json=, plus the comma between items.
    encoded = json.dumps(wire, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return len(encoded.encode("utf-8")) + 1


def due_items(pending: Iterable[Mutation], now: datetime) -> list[Mutation]:
    """The pending items to send now, oldest first.

    An item not due yet (backing off) holds back the later items of its
    activity action, so two versions of one form arrive in order; items of
    other actions go on.
    """
    held: set[tuple[int | None, str | None]] = set()
    due: list[Mutation] = []
    for mutation in pending:
        action = (mutation.activity_id, mutation.action_key)
        if action in held:
            continue
        if not mutation.is_due(now):
            held.add(action)
            continue
        due.append(mutation)
    return due


def plan_batches(items: Sequence[Outgoing], max_items: int, max_bytes: int) -> list[list[Outgoing]]:
    """Cut ``items`` (in order) into batches of at most ``max_items`` and ``max_bytes``.

    An item bigger than ``max_bytes`` on its own still gets a batch: the server
    decides (413 rejects it alone).
    """
    batches: list[list[Outgoing]] = []
    current: list[Outgoing] = []
    used = _ENVELOPE_BYTES
    for item in items:
        if current and (len(current) >= max_items or used + item.size > max_bytes):
            batches.append(current)
            current, used = [], _ENVELOPE_BYTES
        current.append(item)
        used += item.size
    if current:
        batches.append(current)
    return batches


def _refusal(answer: Mapping[str, Any]) -> dict[str, Any]:
    """What the app keeps of a refusal to word it later (``app.refusals``)."""
    params = answer.get("params")
    errors = answer.get("errors")
    return {
        "status": "refused",
        "code": str(answer.get("code") or "refused"),
        "detail": str(answer.get("detail") or ""),
        "params": params if isinstance(params, dict) else {},
        "errors": errors if isinstance(errors, dict) else {},
    }


def record_answers(
    store: Store, outbox: Outbox, batch: Sequence[Outgoing], answers: Sequence[Mapping[str, Any]]
) -> PushResult:
    """Record the server's answers to ``batch`` in one store transaction (blocking)."""
    result = PushResult()
    # Per activity, the document to show: a fresh answer's wins over a replay's.
    docs: dict[str, tuple[bool, dict[str, Any]]] = {}
    with store.transaction():
        for item, answer in zip(batch, answers, strict=True):
            mutation = item.mutation
            current = outbox.get(mutation.mutation_id)
            if current is None or current.status != PENDING:
                # Gone meanwhile (the store was wiped on sign-out): nothing to
                # record, and no document to write into someone else's cache.
                continue
            status = answer.get("status")
            if status in ("applied", "already_applied"):
                doc = answer.get("activity")
                kept = {k: v for k, v in answer.items() if k != "activity"}
                outbox.mark_sent(mutation.mutation_id, kept)
                result.sent += 1
                if isinstance(doc, dict) and "id" in doc:
                    fresh = status == "applied"
                    key = str(doc["id"])
                    if fresh or key not in docs:
                        # What the activity screen reads: the feed's document
                        # (availability is computed on the device).
                        stored = {k: v for k, v in doc.items() if k != "available_actions"}
                        docs[key] = (fresh, stored)
            elif status == "refused":
                refusal = _refusal(answer)
                outbox.mark_rejected(
                    mutation.mutation_id, refusal["detail"] or refusal["code"], refusal
                )
                result.refused += 1
            else:
                # "error" (the server failed on this item, nothing recorded)
                # or a status this app does not know: try again later.
                outbox.mark_failed(mutation.mutation_id, str(answer.get("code") or status))
                result.failed += 1
            if mutation.activity_id is not None:
                result.outbox_activity_ids.add(str(mutation.activity_id))
        if docs:
            store.put_many(ACTIVITIES, [(key, doc) for key, (_, doc) in docs.items()])
    result.activity_ids = set(docs)
    return result


def reject_locally(store: Store, outbox: Outbox, item: Outgoing, code: str) -> PushResult:
    """Reject an item the server will not take even alone (blocking)."""
    result = PushResult()
    with store.transaction():
        current = outbox.get(item.mutation.mutation_id)
        if current is None or current.status != PENDING:
            return result
        detail = LOCAL_DETAILS[code]
        outbox.mark_rejected(
            item.mutation.mutation_id,
            detail,
            {"status": "refused", "code": code, "detail": detail, "params": {}, "errors": {}},
        )
    result.refused = 1
    if item.mutation.activity_id is not None:
        result.outbox_activity_ids.add(str(item.mutation.activity_id))
    return result


def _check_answers(batch: Sequence[Outgoing], answers: Sequence[Mapping[str, Any]]) -> None:
    for item, answer in zip(batch, answers, strict=True):
        named = answer.get("mutation_id")
        if named is not None and named != item.mutation.mutation_id:
            # Answers out of order would mark the wrong items: keep them all
            # pending (the next push replays them) rather than guess.
            raise ServerError("the push answer does not match the items sent")


def merge(into: PushResult, other: PushResult) -> None:
    """Add ``other`` (a later batch) into ``into``."""
    into.requests += other.requests
    into.sent += other.sent
    into.refused += other.refused
    into.failed += other.failed
    into.activity_ids |= other.activity_ids
    into.outbox_activity_ids |= other.outbox_activity_ids


class Pusher:
    """Sends the outbox; see the module docstring for the rules."""

    def __init__(
        self,
        store: Store,
        api: PortalApi,
        outbox: Outbox,
        *,
        channel: str,
        clock: Callable[[], datetime],
        fault: FaultHook | None = None,
        batch_size: int = MAX_BATCH,
        max_batch_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        """Push ``store``'s outbox through ``api``; ``channel`` is ``"app"`` or ``"web"``."""
        if channel not in ("app", "web"):
            raise ValueError(f"channel must be 'app' or 'web', not {channel!r}")
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH}")
        self._store = store
        self._api = api
        self._outbox = outbox
        self._channel = channel
        self._clock = clock
        self._fault = fault
        self._batch_size = batch_size
        self._max_batch_bytes = max_batch_bytes

    def _hit(self, point: str) -> None:
        if self._fault is not None:
            self._fault(point)

    def _prepare(self, now: datetime) -> list[Outgoing]:
        self._outbox.forget_sent(older_than=now - FORGET_SENT_AFTER)
        pending = [m for m in self._outbox.pending() if m.kind in PUSH_KINDS]
        due = due_items(pending, now)
        if not due:
            return []
        device = device_id(self._store)
        outgoing = []
        for mutation in due:
            wire = wire_item(mutation, device, self._channel)
            outgoing.append(Outgoing(mutation, wire, _size(wire)))
        return outgoing

    async def push(self, into: PushResult) -> None:
        """Send every due item, adding what happened to ``into`` batch by batch.

        Raises the ``ApiError`` of a request that got no usable answer (the
        items of that batch and later ones stay pending, unchanged); batches
        answered before it stay recorded, and ``into`` says so.
        """
        outgoing = await asyncio.to_thread(self._prepare, self._clock())
        for batch in plan_batches(outgoing, self._batch_size, self._max_batch_bytes):
            await self._send(batch, into)

    async def _send(self, batch: list[Outgoing], into: PushResult) -> None:
        self._hit("push.before_send")
        into.requests += 1
        try:
            answers = await self._api.push_mutations([item.wire for item in batch])
        except Rejected as exc:
            code = SPLIT_STATUSES.get(exc.status or 0)
            if code is None:
                raise
            if len(batch) == 1:
                merge(
                    into,
                    await asyncio.to_thread(
                        reject_locally, self._store, self._outbox, batch[0], code
                    ),
                )
                return
            middle = len(batch) // 2
            await self._send(batch[:middle], into)
            await self._send(batch[middle:], into)
            return
        _check_answers(batch, answers)
        self._hit("push.received")
        recorded = await asyncio.to_thread(
            record_answers, self._store, self._outbox, batch, answers
        )
        merge(into, recorded)
        self._hit("push.committed")
