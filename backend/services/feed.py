"""The per-client sync feed: a materialized projection with revisions and tombstones.

Every write path calls one of the ``refresh_*`` functions in the same
transaction as its change. A refresh re-projects the affected documents, and
only documents whose content actually changed get a new revision, so an
incremental pull carries exactly what differs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, exists, func, select, update
from sqlalchemy.orm import Session

from backend.core.prepared import PreparedRead
from backend.core.security import keyed_hash
from backend.models import Activity, Client, FeedEntry, RevisionCounter
from backend.services import projection

DocKey = tuple[str, str]
# Pulls and feed reads run on an ORM session or, on the hot read routes, on a
# plain connection (no ORM objects are loaded either way).
Reader = Session | Connection


def canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest_of(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def next_revisions(db: Session, count: int) -> range:
    """Reserve ``count`` consecutive revisions.

    The counter row is updated inside the caller's transaction; on PostgreSQL
    that row lock (and on SQLite the IMMEDIATE write lock) keeps revisions in
    commit order, so a pull never skips a revision committed later.
    """
    if count <= 0:
        return range(0)
    counter = db.get(RevisionCounter, 1, with_for_update=True)
    if counter is None:
        counter = RevisionCounter(id=1, value=0)
        db.add(counter)
        db.flush()
    first = counter.value + 1
    counter.value += count
    db.flush()
    return range(first, first + count)


_HEAD = select(RevisionCounter.value).where(RevisionCounter.id == 1)


def current_revision(db: Reader) -> int:
    """The last revision issued (0 before the first)."""
    return db.scalar(_HEAD) or 0


def _apply(
    db: Session,
    client_id: int,
    desired: dict[DocKey, dict[str, Any]],
    existing: dict[DocKey, FeedEntry],
    scope: Iterable[DocKey],
) -> int:
    """Upsert changed docs and tombstone vanished ones among ``scope``; returns changes."""
    changes: list[tuple[DocKey, dict[str, Any] | None, str]] = []
    for key in scope:
        body = desired.get(key)
        entry = existing.get(key)
        if body is None:
            if entry is not None and not entry.deleted:
                changes.append((key, None, ""))
            continue
        digest = digest_of(body)
        if entry is None or entry.deleted or entry.digest != digest:
            changes.append((key, body, digest))
    revs = next_revisions(db, len(changes))
    for rev, (key, body, digest) in zip(revs, changes, strict=True):
        entry = existing.get(key)
        if entry is None:
            db.add(
                FeedEntry(
                    client_id=client_id,
                    kind=key[0],
                    key=key[1],
                    rev=rev,
                    deleted=False,
                    digest=digest,
                    body=body,
                )
            )
        else:
            entry.rev = rev
            entry.deleted = body is None
            entry.digest = digest
            entry.body = body
    return len(changes)


def _existing(
    db: Session, client_id: int, kinds: set[str] | None = None
) -> dict[DocKey, FeedEntry]:
    query = select(FeedEntry).where(FeedEntry.client_id == client_id)
    if kinds:
        query = query.where(FeedEntry.kind.in_(kinds))
    return {(e.kind, e.key): e for e in db.scalars(query)}


def refresh_client(db: Session, client_id: int) -> int:
    """Re-project everything one client sees; returns the number of changed documents.

    A client without portal access keeps its feed frozen (it cannot pull anyway).
    """
    client = projection.load_client(db, client_id)
    if client is None:
        return 0
    desired = projection.client_documents(db, client)
    existing = _existing(db, client_id)
    return _apply(db, client_id, desired, existing, set(desired) | set(existing))


def refresh_business_unit(db: Session, business_unit_id: int) -> int:
    """Re-project every client of a business unit (branding, types, forms changed)."""
    ids = db.scalars(select(Client.id).where(Client.business_unit_id == business_unit_id))
    return sum(refresh_client(db, cid) for cid in list(ids))


_FEW = 16


def refresh_activities(db: Session, activity_ids: Iterable[int]) -> int:
    """Re-project some activities for their current client, and tombstone them for
    any other client that still holds them (activity moved or deleted)."""
    ids = sorted(set(activity_ids))
    if not ids:
        return 0
    keys = [str(i) for i in ids]
    holders = db.scalars(
        select(FeedEntry).where(FeedEntry.kind == "activity", FeedEntry.key.in_(keys))
    ).all()
    if len(ids) <= _FEW:
        # A booking touches one route: its rows are usually in the session
        # already, and plain loads hit the identity map instead of the database.
        found = (db.get(Activity, i) for i in ids)
        activities = [a for a in found if a is not None]
    else:
        activities = list(db.scalars(projection.activity_query().where(Activity.id.in_(ids))))
    by_client: dict[int, dict[DocKey, dict[str, Any]]] = {}
    clients: dict[int, Client] = {}
    for activity in activities:
        client = clients.get(activity.client_id) or db.get(Client, activity.client_id)
        if client is None:
            continue
        clients[client.id] = client
        docs = by_client.setdefault(client.id, {})
        if projection.is_visible(activity, client.business_unit):
            docs[("activity", str(activity.id))] = projection.activity_doc(
                activity, client, client.business_unit
            )
    touched: dict[int, dict[DocKey, FeedEntry]] = {}
    for entry in holders:
        touched.setdefault(entry.client_id, {})[(entry.kind, entry.key)] = entry
    changed = 0
    scope = [("activity", k) for k in keys]
    for client_id in sorted(set(by_client) | set(touched)):
        changed += _apply(
            db, client_id, by_client.get(client_id, {}), touched.get(client_id, {}), scope
        )
    return changed


# --- cursors ----------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    epoch: str
    client_id: int
    rev: int


def encode_cursor(key: bytes, cursor: Cursor) -> str:
    """Opaque, signed cursor text; clients must not parse it."""
    payload = f"{cursor.epoch}:{cursor.client_id}:{cursor.rev}"
    mac = keyed_hash(key, "cursor", payload)[:32]
    return base64.urlsafe_b64encode(f"{payload}:{mac}".encode()).decode().rstrip("=")


def decode_cursor(key: bytes, text: str) -> Cursor | None:
    """The cursor, or None when it is garbage or was not signed by this server."""
    try:
        padded = text + "=" * (-len(text) % 4)
        raw = base64.urlsafe_b64decode(padded.encode()).decode()
        epoch, client_id, rev, mac = raw.rsplit(":", 3)
        payload = f"{epoch}:{client_id}:{rev}"
        if not hmac.compare_digest(keyed_hash(key, "cursor", payload)[:32], mac):
            return None
        return Cursor(epoch=epoch, client_id=int(client_id), rev=int(rev))
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass
class Page:
    reset: bool
    reset_reason: str | None
    changes: list[dict[str, Any]]
    cursor: str
    has_more: bool


def pull(
    db: Reader, key: bytes, epoch: str, client_id: int, cursor_text: str | None, limit: int
) -> Page:
    """One page of changes after ``cursor_text`` for ``client_id``.

    A missing, garbage, foreign (other client or server), other-epoch or
    future cursor restarts from zero with ``reset=True``: the client must drop
    its cache and apply the pages from scratch. This answer is always a valid
    page, so a client can never loop on a bad cursor.
    """
    after = 0
    reason: str | None = None
    if cursor_text is None:
        reason = "initial"
    else:
        cursor = decode_cursor(key, cursor_text)
        if cursor is None:
            reason = "invalid_cursor"
        elif cursor.client_id != client_id:
            reason = "foreign_cursor"
        elif cursor.epoch != epoch:
            reason = "stale_epoch"
        elif cursor.rev > current_revision(db):
            reason = "cursor_ahead"
        else:
            after = cursor.rev
    query = (
        select(FeedEntry.kind, FeedEntry.key, FeedEntry.rev, FeedEntry.deleted, FeedEntry.body)
        .where(FeedEntry.client_id == client_id, FeedEntry.rev > after)
        .order_by(FeedEntry.rev)
        .limit(limit + 1)
    )
    if after == 0:
        # From scratch the client holds nothing, so tombstones would be noise.
        query = query.where(FeedEntry.deleted.is_(False))
    rows = db.execute(query).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1].rev if rows else after
    if not rows and after == 0:
        # Nothing visible yet: park the cursor at the current revision so the
        # next pull is incremental instead of another full resync.
        last = (
            db.scalar(
                select(func.coalesce(func.max(FeedEntry.rev), 0)).where(
                    FeedEntry.client_id == client_id
                )
            )
            or 0
        )
    changes = [
        {
            "kind": r.kind,
            "key": r.key,
            "rev": r.rev,
            "deleted": r.deleted,
            "body": None if r.deleted else r.body,
        }
        for r in rows
    ]
    return Page(
        reset=reason is not None,
        reset_reason=reason,
        changes=changes,
        cursor=encode_cursor(key, Cursor(epoch=epoch, client_id=client_id, rev=last)),
        has_more=has_more,
    )


def quiet_columns(client_id: ColumnElement[int]) -> tuple[ColumnElement[Any], ...]:
    """What ``quiet_page`` needs, as columns of a caller's statement.

    The revision counter (``head``) and whether the feed of ``client_id``
    changed after the revision ``:after`` (``newer``): one probe of the
    feed's (client, rev) index, no document loaded.
    """
    return (
        _HEAD.scalar_subquery().label("head"),
        exists()
        .where(FeedEntry.client_id == client_id, FeedEntry.rev > bindparam("after"))
        .label("newer"),
    )


def quiet_page(
    key: bytes, epoch: str, client_id: int, cursor: Cursor, head: int | None, newer: bool
) -> Page | None:
    """The empty page ``pull`` would answer for ``cursor``, or None to ask ``pull``.

    Most pulls come from clients that are up to date: their answer needs only
    ``quiet_columns`` (read with ``after = cursor.rev``), not the documents.
    None when ``pull`` must answer: a cursor it would refuse (foreign, other
    epoch, ahead of the counter) or changes to send.
    """
    if cursor.client_id != client_id or cursor.epoch != epoch:
        return None
    if newer or cursor.rev > (head or 0):
        return None
    return Page(
        reset=False,
        reset_reason=None,
        changes=[],
        cursor=encode_cursor(key, cursor),
        has_more=False,
    )


def live_condition(client_id: ColumnElement[int], *, one_key: bool) -> ColumnElement[bool]:
    """The feed rows ``live_documents`` reads: the client's live documents of
    ``:kind`` (only ``:key`` when ``one_key``) and its profile, whose presence
    says the feed was built."""
    condition = and_(
        FeedEntry.client_id == client_id,
        FeedEntry.kind.in_([bindparam("kind"), "profile"]),
        FeedEntry.deleted.is_(False),
    )
    if one_key:
        condition = and_(
            condition, (FeedEntry.kind == "profile") | (FeedEntry.key == bindparam("key"))
        )
    return condition


def documents_of(kind: str, rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]] | None:
    """The bodies of ``kind`` among (kind, body) rows of ``live_condition``, or None
    when the profile is missing (the feed was never materialized)."""
    rows = list(rows)
    if not any(row_kind == "profile" for row_kind, _ in rows):
        return None
    return [body for row_kind, body in rows if row_kind == kind]


_LIVE = PreparedRead(
    select(FeedEntry.kind, FeedEntry.body).where(
        live_condition(bindparam("client_id"), one_key=False)
    )
)
_LIVE_ONE = PreparedRead(
    select(FeedEntry.kind, FeedEntry.body).where(
        live_condition(bindparam("client_id"), one_key=True)
    )
)


def live_documents(
    db: Reader, client_id: int, kind: str, key: str | None = None
) -> list[dict[str, Any]] | None:
    """The client's current documents of ``kind`` (optionally one ``key``) from its feed.

    This is exactly what the client's app holds after a pull, served without
    re-projecting the database. None when the client's feed was never
    materialized (no profile document yet): the caller projects live instead.
    """
    params = {"client_id": client_id, "kind": kind}
    if key is None:
        return documents_of(kind, _LIVE.rows(db, params))
    return documents_of(kind, _LIVE_ONE.rows(db, {**params, "key": key}))


def mark_all_deleted(db: Session, client_id: int) -> None:
    """Tombstone a client's whole feed (used when the client record is removed)."""
    entries = db.scalars(
        select(FeedEntry).where(FeedEntry.client_id == client_id, FeedEntry.deleted.is_(False))
    ).all()
    revs = next_revisions(db, len(entries))
    for rev, entry in zip(revs, entries, strict=True):
        db.execute(
            update(FeedEntry)
            .where(FeedEntry.id == entry.id)
            .values(rev=rev, deleted=True, body=None, digest="")
        )
