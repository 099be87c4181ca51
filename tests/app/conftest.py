"""What the app's view-model tests share: the local cache and signing in by code.

``store`` is the app's cache on a file in the test's temp dir (modules that
test the store itself define their own). ``sign_in`` reads the one-time code
from the development outbox table, as a person reads their mail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.state import AppState
from app.sync.engine import open_store
from app.sync.store import Store
from backend.models import OutgoingMessage


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "app-cache.sqlite3")
    yield s
    s.close()


async def no_sleep(_: float) -> None:
    """Retry back-off that does not wait (tests never depend on wall-clock time)."""
    return None


def last_code(api: FastAPI, recipient: str) -> str:
    """The newest one-time code sent to ``recipient``."""
    with api.state.sessionmaker() as db:
        messages = db.scalars(
            select(OutgoingMessage)
            .where(OutgoingMessage.recipient == recipient)
            .order_by(OutgoingMessage.id)
        ).all()
    assert messages, f"no message to {recipient}"
    return re.findall(r"\b\d{6}\b", messages[-1].body)[-1]


async def sign_in(state: AppState, api: FastAPI, email: str = "alice@example.com") -> None:
    """Sign ``state`` in with a one-time code sent to ``email``."""
    assert await state.sign_in.request_code(email)
    assert await state.sign_in.verify_code(last_code(api, email))
