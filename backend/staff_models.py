"""Staff accounts, roles per business unit, staff sessions, API keys, the audit log and
the client search index (SQLAlchemy mapping, same ``Base`` as :mod:`backend.models`).

Secrets are never stored: session tokens, set-password tokens and API keys
are kept as HMAC-SHA256 digests with the server key, passwords as argon2id
hashes, and the TOTP secret encrypted with a key derived from the server key
(see ``backend.services.staff_auth``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    delete,
    event,
    insert,
    inspect,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from backend.models import Base, Client, UTCDateTime, utcnow
from backend.search_text import name_words

ROLES = ("viewer", "planner", "admin")
"""Roles from least to most rights; a role includes the rights of those before it."""


class StaffUser(Base):
    """A person of the company who signs in to the console."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised (trimmed, lower case) so that one address is one account.
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(2), default="fr")
    # argon2id; empty until the set-password link is used.
    password_hash: Mapped[str] = mapped_column(String(200), default="")
    # nonce + secret XOR keystream, hex (backend.services.staff_auth.seal_totp).
    totp_secret: Mapped[str] = mapped_column(String(200), default="")
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last 30-second TOTP step accepted: a code is never accepted twice.
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    memberships: Mapped[list[StaffMembership]] = relationship(
        back_populates="staff",
        cascade="all, delete-orphan",
        order_by="StaffMembership.business_unit_id",
    )


class StaffMembership(Base):
    """A staff account's role in one business unit."""

    __tablename__ = "staff_memberships"
    __table_args__ = (UniqueConstraint("staff_id", "business_unit_id", name="uq_staff_bu"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    business_unit_id: Mapped[int] = mapped_column(ForeignKey("business_units.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))  # one of ROLES

    staff: Mapped[StaffUser] = relationship(back_populates="memberships")


class StaffSession(Base):
    """A console sign-in: opaque token stored as a keyed hash, idle + absolute lifetimes."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StaffSetPasswordToken(Base):
    """A one-time link to choose a password (first admin, new account, reset)."""

    __tablename__ = "staff_set_password_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiKey(Base):
    """A key for automation: one role in some business units, revocable."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # The first characters of the key, shown in lists so a key can be recognised.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(10))
    business_unit_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditEntry(Base):
    """One staff change: who, when, what, and the changed fields before and after.

    No foreign keys: the log outlives the accounts, keys and objects it names.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_bu_id", "business_unit_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(12))  # staff | api_key | staff_token
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    business_unit_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(60))
    target_kind: Mapped[str] = mapped_column(String(30), default="")
    target_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    target_label: Mapped[str] = mapped_column(String(200), default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ClientSearchWord(Base):
    """One normalised word of a client's name (ASCII, lower case), for prefix search.

    Kept in step with ``clients.name`` by mapper events
    (``backend.services.client_search``); searched by range on
    (business_unit_id, word), which a B-tree answers on SQLite and PostgreSQL alike.
    """

    __tablename__ = "client_search_words"
    __table_args__ = (Index("ix_client_search_bu_word", "business_unit_id", "word", "client_id"),)

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), primary_key=True)
    word: Mapped[str] = mapped_column(String(60), primary_key=True)
    business_unit_id: Mapped[int] = mapped_column(Integer)


# --- keeping the search index in step with clients.name ----------------------------
# Mapper events run inside the flush, on the flush's connection and transaction,
# so every ORM write path (API, demo, tests, imports) keeps the index right.
# Bulk Core inserts of clients (benchmarks) call ``index_client_names`` themselves.


def index_client_names(conn: Connection, rows: list[tuple[int, int, str]]) -> None:
    """Index (client id, business unit id, name) rows; the words of those clients go first."""
    if not rows:
        return
    ids = [r[0] for r in rows]
    conn.execute(delete(ClientSearchWord).where(ClientSearchWord.client_id.in_(ids)))
    values = [
        {"client_id": cid, "word": word, "business_unit_id": bu}
        for cid, bu, name in rows
        for word in name_words(name)
    ]
    if values:
        conn.execute(insert(ClientSearchWord), values)


@event.listens_for(Client, "after_insert")
def _client_inserted(_mapper: Mapper[Any], conn: Connection, client: Client) -> None:
    index_client_names(conn, [(client.id, client.business_unit_id, client.name)])


@event.listens_for(Client, "after_update")
def _client_updated(_mapper: Mapper[Any], conn: Connection, client: Client) -> None:
    state = inspect(client)
    if state.attrs.name.history.has_changes() or state.attrs.business_unit_id.history.has_changes():
        index_client_names(conn, [(client.id, client.business_unit_id, client.name)])


@event.listens_for(Client, "before_delete")
def _client_deleted(_mapper: Mapper[Any], conn: Connection, client: Client) -> None:
    conn.execute(delete(ClientSearchWord).where(ClientSearchWord.client_id == client.id))


__all__ = [
    "ROLES",
    "ApiKey",
    "AuditEntry",
    "ClientSearchWord",
    "StaffMembership",
    "StaffSession",
    "StaffSetPasswordToken",
    "StaffUser",
    "index_client_names",
]
