"""Fixtures for the sign-in tests: a seeded client, the message outbox, other IPs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import OutgoingMessage
from tests import factories


@dataclass
class Seed:
    """One business unit with one client who may use the portal."""

    bu_id: int
    client_id: int
    email: str = "alice@example.com"
    phone: str = "+33612345678"


@pytest.fixture
def seed(db: Session) -> Seed:
    bu = factories.business_unit(db)
    alice = factories.client(db, bu)
    db.commit()
    return Seed(bu_id=bu.id, client_id=alice.id)


@pytest.fixture
def fresh(api: FastAPI) -> Callable[[], AbstractContextManager[Session]]:
    """A short-lived session that sees the app's latest writes and releases its lock.

    SQLite write transactions start with BEGIN IMMEDIATE here, so a test must
    never keep one open while it calls the app.
    """

    @contextmanager
    def open_session() -> Iterator[Session]:
        session: Session = api.state.sessionmaker()
        try:
            yield session
            session.commit()
        finally:
            session.close()

    return open_session


@pytest.fixture
def outbox(fresh) -> Callable[..., list[OutgoingMessage]]:
    """``outbox(recipient=None)``: the recorded messages, oldest first."""

    def read(recipient: str | None = None) -> list[OutgoingMessage]:
        with fresh() as s:
            query = select(OutgoingMessage).order_by(OutgoingMessage.id)
            if recipient is not None:
                query = query.where(OutgoingMessage.recipient == recipient)
            return list(s.scalars(query))

    return read


@pytest.fixture
def last_code(outbox) -> Callable[[str], str]:
    """``last_code(recipient)``: the 6-digit code of the newest message to ``recipient``."""

    def read(recipient: str) -> str:
        messages = [m for m in outbox(recipient) if m.status == "sent"]
        assert messages, f"no message to {recipient}"
        found = re.findall(r"\b\d{6}\b", messages[-1].body)
        assert found, messages[-1].body
        return found[-1]

    return read


@pytest.fixture
def from_ip(api: FastAPI) -> Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]:
    """``async with from_ip("198.51.100.9") as other:`` a client calling from another address."""

    @asynccontextmanager
    async def open_client(ip: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=api, client=(ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as c:
            yield c

    return open_client
