"""Shared fixtures: a real SQLite file per test, the API in-process over ASGITransport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from backend.api.main import create_app
from backend.core.config import Settings


@dataclass
class Clock:
    """A controllable clock injected into the app (``app.state.clock``)."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'portal.db'}",
        secret_key="test-secret-key",
        staff_token="test-staff-token",
        log_messages=False,
        strict_writes=True,
    )


@pytest.fixture
def api(settings: Settings, clock: Clock) -> Iterator[FastAPI]:
    app = create_app(settings, clock=clock)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def db(api: FastAPI) -> Iterator[Session]:
    session: Session = api.state.sessionmaker()
    yield session
    session.close()


@pytest.fixture
async def http(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as client:
        yield client
