"""Delivery against real local providers: an SMTP server, an HTTP SMS API, a killed worker,
two workers on PostgreSQL.

The SMTP server is aiosmtpd started by the test (plain, with AUTH, with
STARTTLS on a throwaway certificate); the SMS API is the fake provider of
tests/backend/delivery_fakes.py, which honours idempotency keys.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from backend.api.main import create_app
from backend.core.config import Settings
from backend.core.db import begin_write, make_engine, make_sessionmaker, upgrade
from backend.models import BusinessUnit, OutgoingMessage
from backend.services import transports as tx
from backend.services.delivery import QueueingSender, claim_due, deliver_due
from backend.services.messaging import Attachment, Message
from tests import factories
from tests.backend.delivery_fakes import FakeSmsProvider, RecordingSmtp
from tests.conftest import Clock

REPO = Path(__file__).resolve().parents[2]


def queue(api: FastAPI, messages: list[Message], now: datetime) -> None:
    with api.state.sessionmaker() as db:
        begin_write(db)
        for message in messages:
            api.state.sender.send(db, message, now)
        db.commit()


def rows(api: FastAPI) -> list[OutgoingMessage]:
    with api.state.sessionmaker() as db:
        return list(db.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id)))


def email(to: str = "alice@example.com", **kwargs: Any) -> Message:
    values: dict[str, Any] = {
        "channel": "email",
        "recipient": to,
        "subject": "Votre rapport – été",
        "body": "Bonjour,\nvotre rapport est joint.",
        "html": "<p>Bonjour,<br>votre rapport est <b>joint</b>.</p>",
    }
    values.update(kwargs)
    return Message(**values)


@pytest.fixture
def smtp() -> Iterator[RecordingSmtp]:
    server = RecordingSmtp().start()
    yield server
    server.stop()


def smtp_api(settings: Settings, clock: Clock, port: int, **overrides: Any) -> FastAPI:
    settings.smtp_host = "127.0.0.1"
    settings.smtp_port = port
    settings.smtp_security = "none"
    settings.smtp_from = "Test Heating <portal@test-heating.example>"
    settings.smtp_timeout_seconds = 5
    for name, value in overrides.items():
        setattr(settings, name, value)
    return create_app(settings, clock=clock)


def run_worker(api: FastAPI, settings: Settings, clock: Clock, **transports: Any) -> Any:
    return deliver_due(
        api.state.sessionmaker,
        settings,
        transports or tx.transports_from_settings(settings),
        clock=clock,
    )


# --- SMTP ------------------------------------------------------------------------------


def test_email_goes_out_as_text_html_and_attachments_with_a_stable_message_id(
    settings: Settings, clock: Clock, smtp: RecordingSmtp
) -> None:
    api = smtp_api(settings, clock, smtp.port)
    pdf = b"%PDF-1.4 " + bytes(range(256)) * 4000  # ~1 MB, binary
    queue(
        api,
        [email(attachments=(Attachment("rapport.pdf", "application/pdf", pdf),))],
        clock.now,
    )
    (row,) = rows(api)
    assert row.status == "queued"
    report = run_worker(api, settings, clock)
    assert report.sent == 1, report.errors
    (received,) = smtp.messages
    assert received["Subject"] == "Votre rapport – été"
    assert received["From"] == "Test Heating <portal@test-heating.example>"
    assert received["Message-ID"] == f"<{row.idempotency_key}@test-heating.example>"
    parts = {p.get_content_type(): p for p in received.walk()}
    assert "votre rapport est joint" in parts["text/plain"].get_payload(decode=True).decode()
    assert "<b>joint</b>" in parts["text/html"].get_payload(decode=True).decode()
    assert parts["application/pdf"].get_filename() == "rapport.pdf"
    assert parts["application/pdf"].get_payload(decode=True) == pdf
    (row,) = rows(api)
    assert (row.status, row.provider_id) == ("sent", received["Message-ID"])
    api.state.engine.dispose()


def test_smtp_auth(settings: Settings, clock: Clock) -> None:
    server = RecordingSmtp(username="mailer", password="s3cret").start()
    try:
        api = smtp_api(settings, clock, server.port, smtp_username="mailer", smtp_password="nope")
        queue(api, [email()], clock.now)
        run_worker(api, settings, clock)
        (row,) = rows(api)
        assert row.status == "failed" and "authentication" in row.last_error
        assert server.messages == []
        settings.smtp_password = "s3cret"  # the operator fixes the setting
        clock.advance(hours=1)
        assert run_worker(api, settings, clock).sent == 1
        assert len(server.messages) == 1
        api.state.engine.dispose()
    finally:
        server.stop()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a throwaway certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],  # fmt: skip
        check=True,
        capture_output=True,
    )
    return cert, key


def test_starttls_with_auth(settings: Settings, clock: Clock, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = RecordingSmtp(username="mailer", password="s3cret", tls_context=server_ctx).start()
    try:
        client_ctx = ssl.create_default_context(cafile=str(cert))
        transport = tx.SmtpTransport(
            "127.0.0.1",
            server.port,
            security="starttls",
            username="mailer",
            password="s3cret",
            sender="portal@test-heating.example",
            ssl_context=client_ctx,
        )
        api = smtp_api(settings, clock, server.port, smtp_security="starttls")
        queue(api, [email()], clock.now)
        assert run_worker(api, settings, clock, email=transport).sent == 1
        assert len(server.messages) == 1
        # Without TLS the server refuses to go on: a plain client gets no delivery.
        plain = tx.SmtpTransport("127.0.0.1", server.port, security="none", timeout=5)
        with pytest.raises((tx.PermanentFailure, tx.TemporaryFailure)):
            plain.send(tx.Outgoing(1, "email", "a@example.com", "s", "b", "", "k-plain", attempt=1))
        assert len(server.messages) == 1
        api.state.engine.dispose()
    finally:
        server.stop()


def test_smtp_refusals_5xx_dead_4xx_retried(
    settings: Settings, clock: Clock, smtp: RecordingSmtp
) -> None:
    smtp.refuse = {
        "nobody@example.com": "550 5.1.1 No such user",
        "full@example.com": "452 4.2.2 Mailbox full",
    }
    api = smtp_api(settings, clock, smtp.port)
    queue(api, [email("nobody@example.com"), email("full@example.com"), email()], clock.now)
    report = run_worker(api, settings, clock)
    assert (report.sent, report.dead, report.retried) == (1, 1, 1)
    dead, deferred, sent = rows(api)
    assert dead.status == "dead" and "550" in dead.last_error
    assert deferred.status == "failed" and "452" in deferred.last_error
    assert sent.status == "sent"
    assert smtp.envelopes == [("portal@test-heating.example", ["alice@example.com"])]
    api.state.engine.dispose()


def test_smtp_server_down_then_up(settings: Settings, clock: Clock) -> None:
    server = RecordingSmtp()
    api = smtp_api(settings, clock, server.controller.port)  # nothing listens yet
    queue(api, [email()], clock.now)
    run_worker(api, settings, clock)
    (row,) = rows(api)
    assert row.status == "failed" and "SMTP" in row.last_error
    server.start()
    try:
        clock.advance(hours=2)
        assert run_worker(api, settings, clock).sent == 1
        assert server.message_ids() == [f"<{row.idempotency_key}@test-heating.example>"]
    finally:
        server.stop()
        api.state.engine.dispose()


# --- a worker killed mid-send --------------------------------------------------------


def test_a_worker_killed_mid_send_loses_nothing_and_the_provider_sends_once(
    settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    provider = FakeSmsProvider().start()
    try:
        settings.sms_url = provider.url
        settings.delivery_lease_seconds = 300
        api = create_app(settings, clock=clock)
        now = datetime.now(UTC)  # the child worker runs on the real clock
        with api.state.sessionmaker() as db:
            begin_write(db)
            bu = factories.business_unit(db, sms_centicredits=1000)
            db.commit()
        queue(
            api,
            [
                Message(
                    channel="sms",
                    recipient=f"+3361234567{i}",
                    subject="",
                    body=f"n{i}",
                    business_unit_id=bu.id,
                )
                for i in range(3)
            ],  # fmt: skip
            now,
        )
        # The first message is taken by the provider, whose answer never comes:
        # the worker is killed between its claim and marking it sent.
        provider.script.append("accept_then_hang")
        env = {
            **os.environ,
            "PORTAL_DATABASE_URL": settings.database_url,
            "PORTAL_DATA_DIR": str(tmp_path),
            "PORTAL_SECRET_KEY": "test-secret-key",
            "PORTAL_SMS_URL": provider.url,
            "PORTAL_SMS_TIMEOUT_SECONDS": "120",
            "PORTAL_DELIVERY_LEASE_SECONDS": "300",
        }
        child = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--once"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert provider.received.wait(60), "the worker never reached the provider"
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait(30)
        assert child.returncode == -signal.SIGKILL
        assert [r.status for r in rows(api)] == ["sending"] * 3  # claimed as one batch
        first_key = provider.requests[0]["idempotency_key"]
        provider.release()
        # A new worker after the lease: every message goes, each key delivered once.
        later = Clock(datetime.now(UTC) + timedelta(seconds=settings.delivery_lease_seconds + 1))
        report = run_worker(api, settings, later)
        assert report.sent == 3, report.errors
        final = rows(api)
        assert [r.status for r in final] == ["sent"] * 3
        assert final[0].attempts == 2 and final[0].idempotency_key == first_key
        assert provider.delivered == Counter({r.idempotency_key: 1 for r in final})
        sends = Counter(r["idempotency_key"] for r in provider.requests)
        assert sends[first_key] == 2  # asked twice, sent once
        with api.state.sessionmaker() as db:
            assert db.get(BusinessUnit, bu.id).sms_centicredits == 1000 - 3 * 20
        api.state.engine.dispose()
    finally:
        provider.stop()


# --- PostgreSQL: two workers share the queue -----------------------------------------

POSTGRES_URL = os.environ.get("PORTAL_TEST_POSTGRES_URL", "")
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="needs PORTAL_TEST_POSTGRES_URL (see tests/backend/test_postgres.py)"
)


class Recording:
    """An in-memory transport that records what it was asked to send (thread-safe)."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.lock = threading.Lock()

    def send(self, message: tx.Outgoing) -> str:
        with self.lock:
            self.sent.append(message.id)
        return f"mem-{message.id}"

    def close(self) -> None:
        pass


@pytest.fixture
def pg_sessions() -> Iterator[Any]:
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(POSTGRES_URL)
    engine = make_engine(POSTGRES_URL, pool_size=6)
    yield make_sessionmaker(engine)
    engine.dispose()


@needs_postgres
def test_two_workers_on_postgresql_never_claim_the_same_message(pg_sessions: Any) -> None:
    settings = Settings(database_url=POSTGRES_URL, delivery_batch_size=7, log_messages=False)
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    sender = QueueingSender(settings, live={"email"})
    with pg_sessions() as db:
        begin_write(db)
        for i in range(300):
            sender.send(db, email(f"c{i}@example.com"), now)
        db.commit()
    transports = [Recording(), Recording()]
    start = threading.Barrier(2)

    def work(transport: Recording) -> None:
        start.wait()
        deliver_due(pg_sessions, settings, {"email": transport}, clock=lambda: now)

    threads = [threading.Thread(target=work, args=(t,)) for t in transports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    first, second = (set(t.sent) for t in transports)
    assert len(transports[0].sent) + len(transports[1].sent) == 300
    assert not first & second
    with pg_sessions() as db:
        statuses = Counter(db.scalars(select(OutgoingMessage.status)))
    assert statuses == Counter({"sent": 300})


@needs_postgres
def test_a_claim_skips_rows_another_worker_holds_instead_of_waiting(pg_sessions: Any) -> None:
    settings = Settings(database_url=POSTGRES_URL, log_messages=False)
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    sender = QueueingSender(settings, live={"email"})
    with pg_sessions() as db:
        begin_write(db)
        for i in range(4):
            sender.send(db, email(f"c{i}@example.com"), now)
        db.commit()
    holder: Session = pg_sessions()
    try:
        # Another worker's claim transaction holds the first two rows.
        held = list(
            holder.scalars(
                select(OutgoingMessage.id).order_by(OutgoingMessage.id).limit(2).with_for_update()
            )
        )
        with pg_sessions() as db:
            begin_write(db)
            db.execute(text("SET LOCAL lock_timeout = '5s'"))  # a wait would fail, not hang
            claimed = claim_due(db, settings, now, 10)
        assert held == [1, 2]
        assert sorted(m.id for m in claimed) == [3, 4]
    finally:
        holder.rollback()
        holder.close()
