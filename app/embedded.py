"""The bundled backend running inside the app process (field demos, offline laptops).

DESIGN.md §3: the app reaches it through ``httpx.ASGITransport`` — no socket,
no second process — with the same client code as a remote server. Its data is
a SQLite file in the app's data directory, seeded with the demo dataset the
first time. The demo staff accounts (``backend.demo_staff``) get a new random
password at each start, printed by ``portal`` for the staff console; the
legacy staff token is random and kept in memory only. The delivery
worker runs in a background thread beside it (automatic messages, reminders;
with no provider configured they land in the development outbox) until
:meth:`EmbeddedBackend.close`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from backend.api.main import create_app
from backend.core.config import Settings
from backend.core.db import begin_write
from backend.demo import DemoSummary, issue_demo_link, seed_database
from backend.demo_staff import DemoStaff, reset_demo_staff
from backend.services.auth import link_url
from backend.services.delivery import DeliveryWorker

DB_FILE_NAME = "portal.db"


@dataclass
class EmbeddedBackend:
    """The in-process API and how to sign in to it as the demo client."""

    app: FastAPI
    summary: DemoSummary
    database_path: Path
    link_token: str | None = field(repr=False)
    link_url: str | None = field(repr=False)
    worker: DeliveryWorker | None = field(default=None, repr=False)
    staff: DemoStaff | None = field(default=None, repr=False)

    @property
    def client_email(self) -> str | None:
        """The demo client's email address (one-time codes go to the outbox)."""
        return self.summary.example_client_email

    @property
    def client_phone(self) -> str | None:
        """The demo client's phone number."""
        return self.summary.example_client_phone

    def close(self) -> None:
        """Stop the delivery worker and release the database connections."""
        if self.worker is not None:
            self.worker.stop()
        self.app.state.engine.dispose()


def start_embedded(
    directory: Path,
    *,
    public_base_url: str = "http://127.0.0.1:8000",
    log_messages: bool = True,
    delivery_worker: bool = True,
) -> EmbeddedBackend:
    """Create the backend on ``directory/portal.db``, seeding demo data when empty.

    A fresh permanent login link is issued for the demo client on each start
    (links are stored hashed, so an old one cannot be shown again) and the
    previous demo link is revoked: one live demo link, however many starts.
    ``log_messages`` makes the development outbox print one-time codes;
    ``delivery_worker`` starts the delivery thread.
    """
    directory.mkdir(parents=True, exist_ok=True)
    database_path = directory / DB_FILE_NAME
    url = f"sqlite:///{database_path}"
    summary = seed_database(url)
    settings = Settings(
        data_dir=directory,
        database_url=url,
        staff_token=secrets.token_urlsafe(32),
        public_base_url=public_base_url,
        log_messages=log_messages,
    )
    api = create_app(settings)
    token = url_text = None
    if summary.example_client_id is not None:
        with api.state.sessionmaker() as db:
            begin_write(db)  # revoke and issue in one write transaction
            token = issue_demo_link(db, settings, summary.example_client_id, datetime.now(UTC))
            db.commit()
        url_text = link_url(settings, token)
    with api.state.sessionmaker() as db:
        staff = reset_demo_staff(db, datetime.now(UTC))
        db.commit()
    worker = None
    if delivery_worker and settings.delivery_worker:
        worker = DeliveryWorker(api.state.sessionmaker, settings, clock=api.state.clock)
        worker.start()
    return EmbeddedBackend(
        app=api,
        summary=summary,
        database_path=database_path,
        link_token=token,
        link_url=url_text,
        worker=worker,
        staff=staff,
    )
