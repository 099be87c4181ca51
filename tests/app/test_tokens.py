"""The session token: OS keyring when there is one, memory otherwise, never on disk."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from fastapi import FastAPI
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import KeyringLocked, PasswordDeleteError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.sync.api import PortalApi
from app.sync.engine import SyncEngine, open_store
from app.sync.tokens import TokenStore
from backend.core.config import Settings
from backend.models import OutgoingMessage
from tests.backend.portal_setup import World, build_world
from tests.conftest import Clock


class MemoryKeyring(KeyringBackend):
    """A keyring that works, kept in a dict (no OS secret service in tests)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.secrets.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


class LockedKeyring(MemoryKeyring):
    """Reads work but writes fail (a locked keychain)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("locked")


@pytest.fixture
def use_keyring() -> Iterator[object]:
    """``use_keyring(backend)`` for the test; the previous backend comes back after."""
    previous = keyring.get_keyring()

    def use(backend: KeyringBackend) -> KeyringBackend:
        keyring.set_keyring(backend)
        return backend

    yield use
    keyring.set_keyring(previous)


def test_keyring_available_is_persistent(use_keyring) -> None:
    backend = use_keyring(MemoryKeyring())
    tokens = TokenStore()
    assert tokens.persistent and tokens.get() is None
    tokens.set("tok-1")
    assert backend.secrets == {("field-portal", "session"): "tok-1"}
    assert TokenStore().get() == "tok-1"  # survives an app restart
    tokens.clear()
    assert tokens.get() is None and TokenStore().get() is None
    tokens.clear()  # clearing twice is fine


def test_no_keyring_keeps_the_token_in_memory(use_keyring, caplog) -> None:
    use_keyring(fail.Keyring())
    tokens = TokenStore()
    assert tokens.persistent is False
    tokens.set("tok-2")
    assert tokens.get() == "tok-2"
    assert TokenStore().get() is None  # next run: sign in again
    tokens.clear()
    assert tokens.get() is None
    assert "tok-2" not in caplog.text


def test_keyring_failing_on_write_falls_back_to_memory(use_keyring) -> None:
    use_keyring(LockedKeyring())
    tokens = TokenStore()
    assert tokens.persistent
    tokens.set("tok-3")
    assert tokens.persistent is False and tokens.get() == "tok-3"


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


@pytest.mark.parametrize("backend", [MemoryKeyring, fail.Keyring])
async def test_token_never_reaches_a_file_or_a_log(
    api: FastAPI, world: World, tmp_path: Path, use_keyring, caplog, backend
) -> None:
    caplog.set_level(logging.DEBUG)
    use_keyring(backend())
    tokens = TokenStore()
    portal = PortalApi.embedded(api)
    store = open_store(tmp_path / "appdata" / "cache.sqlite3")
    try:
        await portal.request_code("alice@example.com")
        session: Session = api.state.sessionmaker()
        body = session.scalars(select(OutgoingMessage.body).order_by(OutgoingMessage.id)).all()[-1]
        session.close()
        code = re.findall(r"\b\d{6}\b", body)[-1]
        signed = await portal.verify_code("alice@example.com", code)
        tokens.set(signed.token)
        portal.token = tokens.get()
        result = await SyncEngine(store, portal).sync()
        assert result is not None and store.count("activities") == 3
        secret = signed.token.encode()
        # Every file under the test's directory: the app store and its -wal
        # and -shm (the store is still open, so the WAL holds the last pages),
        # and the backend database too (which keeps only a hash).
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert any(p.name.endswith("-wal") for p in files)
        for path in files:
            assert secret not in path.read_bytes(), path
        assert signed.token not in caplog.text
    finally:
        store.close()
        await portal.aclose()
