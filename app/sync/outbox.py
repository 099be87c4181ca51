"""The outbox: user actions waiting to be pushed to the server.

Each item is a *mutation* with a client-generated UUID4 ``mutation_id`` that
the server uses as an idempotency key, so pushing the same item twice is
safe. Items live in the store's database, so ``enqueue`` can run inside the
same ``store.transaction()`` as the local effect of the action: either both
are saved or neither is.

Life cycle: ``pending`` → ``sent`` (server applied it) or ``rejected`` (the
server says it can never succeed; kept with a user-facing reason, and it
does not hold back later items). Transient failures stay ``pending`` with an
``attempts`` count and a ``next_attempt_at`` for backoff.

Items the sync engine pushes to ``POST /mutations`` (``app.sync.push``) have
the payload ``{"activity_id": int, "action_key": str, "payload": {...}}``;
``Mutation.activity_id`` / ``action_key`` read it, ``for_activity`` lists an
activity's items for its screen, and ``replace_rejected`` resends a fixed
item under a new id (the old id stays bound to its refusal on the server).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.sync.store import Store, StoreError

PENDING = "pending"
SENT = "sent"
REJECTED = "rejected"

# Backoff for transient failures: 2 s, 4 s, 8 s … capped at 5 minutes.
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=5)


def backoff_delay(attempts: int) -> timedelta:
    """Return how long to wait before retrying after ``attempts`` failures."""
    if attempts <= 0:
        return timedelta(0)
    # Cap the exponent too, so a huge attempts count cannot overflow.
    return min(BACKOFF_BASE * (2 ** min(attempts - 1, 20)), BACKOFF_CAP)


def _check_uuid4(value: str) -> str:
    # Reject junk early and normalise the spelling: the server keys on it.
    parsed = uuid.UUID(value)
    if parsed.version != 4:
        raise ValueError(f"mutation_id must be a UUID4, got version {parsed.version}")
    return str(parsed)


def _now_utc() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("outbox times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


@dataclass(frozen=True)
class Mutation:
    """One outbox item as stored."""

    seq: int
    mutation_id: str
    kind: str
    payload: dict[str, Any]
    status: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    result: Any
    reason: str | None
    finished_at: datetime | None

    @property
    def activity_id(self) -> int | None:
        """The activity a pushed item is about (None when the payload names none)."""
        value = self.payload.get("activity_id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return None

    @property
    def action_key(self) -> str | None:
        """The portal action a pushed item answers (None when the payload names none)."""
        value = self.payload.get("action_key")
        return value if isinstance(value, str) else None

    def is_due(self, now: datetime) -> bool:
        """True when a pending item may be (re)tried at ``now``."""
        return self.status == PENDING and (
            self.next_attempt_at is None or self.next_attempt_at <= now
        )

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Mutation:
        """Build a Mutation from an ``outbox`` row."""
        return cls(
            seq=row["seq"],
            mutation_id=row["mutation_id"],
            kind=row["kind"],
            payload=json.loads(row["payload"]),
            status=row["status"],
            created_at=datetime.fromisoformat(row["created_at"]),
            attempts=row["attempts"],
            next_attempt_at=_parse(row["next_attempt_at"]),
            last_error=row["last_error"],
            result=json.loads(row["result"]) if row["result"] is not None else None,
            reason=row["reason"],
            finished_at=_parse(row["finished_at"]),
        )


class Outbox:
    """The queue of mutations in ``store``'s database."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = _now_utc) -> None:
        """Use ``store``'s database; ``clock`` returns aware datetimes (tests inject one)."""
        self._store = store
        self._clock = clock

    def enqueue(
        self, kind: str, payload: Mapping[str, Any], *, mutation_id: str | None = None
    ) -> Mutation:
        """Add a pending mutation and return it.

        Call inside ``store.transaction()`` together with the local effect so
        both commit (or roll back) together. ``mutation_id`` defaults to a new
        UUID4; passing an id that is already queued raises ``StoreError``.
        """
        mutation_id = str(uuid.uuid4()) if mutation_id is None else _check_uuid4(mutation_id)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        with self._store.transaction():
            try:
                self._store.execute(
                    "INSERT INTO outbox (mutation_id, kind, payload, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (mutation_id, kind, body, _iso(self._clock())),
                )
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"mutation {mutation_id} is already in the outbox") from exc
            return self._get_required(mutation_id)

    def get(self, mutation_id: str) -> Mutation | None:
        """Return the item with ``mutation_id``, whatever its status."""
        rows = self._store.fetchall("SELECT * FROM outbox WHERE mutation_id = ?", (mutation_id,))
        return Mutation.from_row(rows[0]) if rows else None

    def pending(self, limit: int | None = None) -> list[Mutation]:
        """Return pending items oldest first (FIFO), including ones backing off.

        The sync engine should push in this order and stop at the first item
        that is not due yet, so later actions never overtake earlier ones.
        """
        sql = "SELECT * FROM outbox WHERE status = ? ORDER BY seq"
        params: list[Any] = [PENDING]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [Mutation.from_row(row) for row in self._store.fetchall(sql, params)]

    def pending_count(self) -> int:
        """Return how many items wait to be sent."""
        rows = self._store.fetchall("SELECT COUNT(*) FROM outbox WHERE status = ?", (PENDING,))
        return int(rows[0][0])

    def rejected(self) -> list[Mutation]:
        """Return rejected items oldest first, with their user-facing reasons."""
        rows = self._store.fetchall(
            "SELECT * FROM outbox WHERE status = ? ORDER BY seq", (REJECTED,)
        )
        return [Mutation.from_row(row) for row in rows]

    def rejected_count(self) -> int:
        """Return how many refused items wait for the user (fix and resend, or dismiss)."""
        rows = self._store.fetchall("SELECT COUNT(*) FROM outbox WHERE status = ?", (REJECTED,))
        return int(rows[0][0])

    def for_activity(self, activity_id: int) -> list[Mutation]:
        """Return the items about ``activity_id`` oldest first: pending, sent (until
        forgotten) and rejected, for the activity's screen."""
        # The outbox holds a handful of rows: a scan with json_extract is enough.
        rows = self._store.fetchall(
            "SELECT * FROM outbox WHERE json_extract(payload, '$.activity_id') = ? ORDER BY seq",
            (int(activity_id),),
        )
        return [Mutation.from_row(row) for row in rows]

    def replace_rejected(self, mutation_id: str, payload: Mapping[str, Any]) -> Mutation:
        """Delete the rejected item and queue its fixed version under a NEW id; return it.

        ``payload`` is the corrected inner payload (``{"answers": ...}``, or a
        decision's fields): the kind, activity and action stay those of the
        rejected item. One transaction: either the fix is queued and the
        refusal gone, or nothing changed. A new id because the server keeps
        the old one bound to its refusal (a replay would answer it again).
        """
        if "payload" in payload and "activity_id" in payload:
            raise ValueError("pass the inner payload ({'answers': ...}), not the outbox envelope")
        with self._store.transaction():
            old = self._get_required(mutation_id)
            if old.status != REJECTED:
                raise StoreError(f"mutation {mutation_id} is {old.status}, not rejected")
            self._store.execute("DELETE FROM outbox WHERE mutation_id = ?", (mutation_id,))
            envelope = {**old.payload, "payload": dict(payload)}
            return self.enqueue(old.kind, envelope)

    def mark_sent(self, mutation_id: str, result: Any = None) -> Mutation:
        """Record that the server applied the mutation, with its JSON ``result``."""
        return self._finish(
            mutation_id,
            "status = ?, result = ?, finished_at = ?, next_attempt_at = NULL",
            [SENT, json.dumps(result, allow_nan=False), _iso(self._clock())],
        )

    def mark_rejected(self, mutation_id: str, reason: str, result: Any = None) -> Mutation:
        """Record that the server refused the mutation for good.

        ``reason`` is the server's sentence (the fallback text); ``result`` the
        refusal as JSON (code, params, per-field errors) that the app
        translates (``app.refusals.refusal_text``).
        """
        return self._finish(
            mutation_id,
            "status = ?, reason = ?, result = ?, finished_at = ?, next_attempt_at = NULL",
            [REJECTED, reason, json.dumps(result, allow_nan=False), _iso(self._clock())],
        )

    def mark_failed(self, mutation_id: str, error: str) -> Mutation:
        """Record a transient failure: count the attempt and schedule the retry."""
        with self._store.transaction():
            current = self._get_required(mutation_id)
            if current.status != PENDING:
                raise StoreError(f"mutation {mutation_id} is {current.status}, not pending")
            attempts = current.attempts + 1
            retry_at = self._clock() + backoff_delay(attempts)
            self._store.execute(
                "UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ? "
                "WHERE mutation_id = ?",
                (attempts, error, _iso(retry_at), mutation_id),
            )
            return self._get_required(mutation_id)

    def dismiss(self, mutation_id: str) -> None:
        """Delete a rejected item once the user has acknowledged it."""
        self._store.execute(
            "DELETE FROM outbox WHERE mutation_id = ? AND status = ?", (mutation_id, REJECTED)
        )

    def forget_sent(self, older_than: datetime | None = None) -> int:
        """Delete sent items (all, or those finished before ``older_than``); return the count.

        Their results are no longer needed once the pull has brought the
        server's state; keeping them a while lets a screen say "sent".
        """
        if older_than is None:
            return self._store.execute("DELETE FROM outbox WHERE status = ?", (SENT,))
        return self._store.execute(
            "DELETE FROM outbox WHERE status = ? AND finished_at < ?", (SENT, _iso(older_than))
        )

    def _finish(self, mutation_id: str, assignments: str, params: list[Any]) -> Mutation:
        with self._store.transaction():
            current = self._get_required(mutation_id)
            if current.status != PENDING:
                # A second answer for the same item means a logic error in the
                # caller; overwriting would lose the first answer.
                raise StoreError(f"mutation {mutation_id} is already {current.status}")
            self._store.execute(
                f"UPDATE outbox SET {assignments} WHERE mutation_id = ?", [*params, mutation_id]
            )
            return self._get_required(mutation_id)

    def _get_required(self, mutation_id: str) -> Mutation:
        found = self.get(mutation_id)
        if found is None:
            raise StoreError(f"no mutation {mutation_id} in the outbox")
        return found
