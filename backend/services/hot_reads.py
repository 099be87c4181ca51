"""The hot read routes' reads: the session and what the route needs, in one statement.

/sync with an up-to-date cursor, /activities and /activities/{id} are most of
a client's traffic. Each resolves the session and reads the client's feed in
one indexed statement (a ``PreparedRead``: one round trip on PostgreSQL, no
ORM objects, nothing written). Whether the session is live is decided by
the rule every other route applies (``sessions.is_live``), on every
request: nothing about a session is cached.

A function here does no I/O: it returns a :class:`HotRead`, the statement
with its parameters and how to read its rows, which ``backend.api.deps``
runs where it costs least (``backend.core.hot_readers``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from backend.core.config import Settings
from backend.core.prepared import PreparedRead
from backend.models import AuthSession, FeedEntry
from backend.services import feed
from backend.services.sessions import SignedIn, session_select, signed_in, token_digest

T = TypeVar("T")
Rows = list[Sequence[Any]]


@dataclass(frozen=True)
class HotRead(Generic[T]):
    """One statement finding the session and what a route reads, and how to read its rows.

    ``answer(rows, settings, now)`` gives the live session and the route's
    value, or None when the token has no live session.
    """

    query: PreparedRead
    params: dict[str, Any]
    answer: Callable[[Rows, Settings, datetime], tuple[SignedIn, T] | None]


_SESSION = PreparedRead(session_select())
_SYNC = PreparedRead(session_select(*feed.quiet_columns(AuthSession.client_id)))


def _documents(one_key: bool) -> PreparedRead:
    # One row per document (the session's columns repeated), or one row of
    # NULLs for the feed when the client has none (outer join).
    return PreparedRead(
        session_select(FeedEntry.kind, FeedEntry.body).outerjoin(
            FeedEntry, feed.live_condition(AuthSession.client_id, one_key=one_key)
        )
    )


_DOCUMENTS = _documents(one_key=False)
_DOCUMENT = _documents(one_key=True)


def _session_of(rows: Rows, settings: Settings, now: datetime) -> SignedIn | None:
    return signed_in(rows[0], settings, now) if rows else None


def session(key: bytes, token: str) -> HotRead[None]:
    """Only the live session behind ``token`` (``key``: the server's HMAC key)."""

    def answer(rows: Rows, settings: Settings, now: datetime) -> tuple[SignedIn, None] | None:
        signed = _session_of(rows, settings, now)
        return None if signed is None else (signed, None)

    return HotRead(_SESSION, {"digest": token_digest(key, token)}, answer)


def sync_page(key: bytes, token: str, cursor_text: str | None) -> HotRead[feed.Page | None]:
    """The session and, for an up-to-date cursor, its /sync page.

    That page is the one ``feed.pull`` would give (``feed.quiet_page``),
    read from the same statement as the session, without loading a
    document. None instead of a page means "ask ``feed.pull``": no cursor,
    a cursor it would refuse, or changes to send.
    """
    cursor = feed.decode_cursor(key, cursor_text) if cursor_text is not None else None
    if cursor is None:
        return session(key, token)

    def answer(
        rows: Rows, settings: Settings, now: datetime
    ) -> tuple[SignedIn, feed.Page | None] | None:
        signed = _session_of(rows, settings, now)
        if signed is None:
            return None
        head, newer = rows[0][-2:]
        return signed, feed.quiet_page(
            key, settings.sync_epoch, signed.client_id, cursor, head, newer
        )

    return HotRead(_SYNC, {"digest": token_digest(key, token), "after": cursor.rev}, answer)


def activity_documents(
    key: bytes, token: str, activity_key: str | None = None
) -> HotRead[list[dict[str, Any]] | None]:
    """The session and the client's visible activity documents (all, or one key).

    The documents are ``feed.live_documents``' answer: None when the client's
    feed was never built (the caller projects them live instead).
    """

    def answer(
        rows: Rows, settings: Settings, now: datetime
    ) -> tuple[SignedIn, list[dict[str, Any]] | None] | None:
        signed = _session_of(rows, settings, now)
        if signed is None:
            return None
        return signed, feed.documents_of("activity", (row[-2:] for row in rows))

    params: dict[str, Any] = {"digest": token_digest(key, token), "kind": "activity"}
    if activity_key is None:
        return HotRead(_DOCUMENTS, params, answer)
    return HotRead(_DOCUMENT, {**params, "key": activity_key}, answer)
