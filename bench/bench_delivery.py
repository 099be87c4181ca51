"""Benchmark the delivery queue: 1,000 queued emails through a local SMTP server.

Usage:
    python bench/bench_delivery.py                  # 1,000 emails, 2 kills
    python bench/bench_delivery.py --emails 300 --kills 3

Each run queues ``--emails`` emails (text + HTML, ~1 kB) in a fresh SQLite
file, the way requests queue them, and an ``aiosmtpd`` server on 127.0.0.1
receives them.

1. Throughput: one ``portal worker`` process drains the queue; emails per
   second from its start to the last one received (process start included),
   and the same drained in-process (``deliver_due`` in this process, the SMTP
   server in a thread of it).
2. Crash run: a ``portal worker`` process is SIGKILLed ``--kills`` times
   while it sends (at evenly spaced fractions of the queue received) and a
   new one started each time, with a 2 s lease. Counted at the SMTP server
   by ``Message-ID`` (the message's idempotency key): lost = queued emails
   never received; duplicated = extra copies received. SMTP has no
   idempotency key: an email accepted by the server just before the kill,
   whose "sent" mark never reached the database, is sent again after the
   lease with the same ``Message-ID``; a receiver that drops repeated
   Message-IDs (as the last line counts) sees each email once.

It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import func, select  # noqa: E402

from backend.core.config import Settings  # noqa: E402
from backend.core.db import begin_write, make_engine, make_sessionmaker, upgrade  # noqa: E402
from backend.models import OutgoingMessage  # noqa: E402
from backend.services import transports as tx  # noqa: E402
from backend.services.delivery import QueueingSender, deliver_due  # noqa: E402
from backend.services.messaging import Message  # noqa: E402
from tests.backend.delivery_fakes import RecordingSmtp  # noqa: E402

SENDER = "Bench <portal@bench.example>"


def prepare(directory: Path, emails: int) -> tuple[str, Any]:
    """A fresh database holding ``emails`` queued emails; returns (url, sessionmaker)."""
    url = f"sqlite:///{directory / 'portal.db'}"
    upgrade(url)
    engine = make_engine(url, pool_size=4)
    sessions = make_sessionmaker(engine)
    settings = Settings(database_url=url, data_dir=directory, log_messages=False)
    sender = QueueingSender(settings, live={"email"})
    now = datetime.now(UTC)
    with sessions() as db:
        begin_write(db)
        for i in range(emails):
            sender.send(
                db,
                Message(
                    channel="email",
                    recipient=f"client{i}@example.com",
                    subject=f"Votre rendez-vous n° {i}",
                    body=f"Bonjour,\nvotre rendez-vous n° {i} est confirmé.\n" + "x" * 400,
                    html=f"<p>Bonjour,<br>votre rendez-vous n° <b>{i}</b> est confirmé.</p>"
                    + "<p>"
                    + "x" * 400
                    + "</p>",
                ),
                now,
            )
        db.commit()
    return url, sessions


def keys(sessions: Any) -> dict[str, str]:
    """Message-ID -> status of every queued email."""
    with sessions() as db:
        found = db.execute(select(OutgoingMessage.idempotency_key, OutgoingMessage.status))
        return {tx.message_id(key, SENDER): status for key, status in found}


def count_sent(sessions: Any) -> int:
    with sessions() as db:
        return int(db.scalar(select(func.count()).where(OutgoingMessage.status == "sent")) or 0)


def worker_env(url: str, directory: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PORTAL_DATABASE_URL": url,
        "PORTAL_DATA_DIR": str(directory),
        "PORTAL_SECRET_KEY": "bench",
        "PORTAL_SMTP_HOST": "127.0.0.1",
        "PORTAL_SMTP_PORT": str(port),
        "PORTAL_SMTP_SECURITY": "none",
        "PORTAL_SMTP_FROM": SENDER,
        "PORTAL_DELIVERY_LEASE_SECONDS": "2",
        "PORTAL_DELIVERY_POLL_SECONDS": "0.2",
        "PORTAL_LOG_MESSAGES": "false",
    }


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until(condition: Any, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the queue did not drain")
        time.sleep(0.02)


def run_process(emails: int, kills: int) -> dict[str, Any]:
    """Drain the queue with ``portal worker`` processes, killing ``kills`` of them."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        url, sessions = prepare(directory, emails)
        server = RecordingSmtp().start()
        env = worker_env(url, directory, server.port)
        try:
            started = time.perf_counter()
            worker = start_worker(env)
            killed = 0
            for k in range(1, kills + 1):
                target = emails * k // (kills + 1)
                wait_until(lambda t=target: len(server.messages) >= t)
                worker.send_signal(signal.SIGKILL)
                worker.wait()
                killed += 1
                worker = start_worker(env)
            wait_until(lambda: count_sent(sessions) == emails)
            elapsed = time.perf_counter() - started
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
            received = Counter(server.message_ids())
            queued = keys(sessions)
        finally:
            server.stop()
            sessions.kw["bind"].dispose()
    return {
        "elapsed": elapsed,
        "rate": emails / elapsed,
        "killed": killed,
        "lost": sum(1 for mid in queued if mid not in received),
        "duplicated": sum(n - 1 for n in received.values()),
        "distinct": len(received),
        "statuses": Counter(queued.values()),
    }


def run_in_process(emails: int) -> dict[str, Any]:
    """Drain the queue with ``deliver_due`` in this process."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        url, sessions = prepare(directory, emails)
        server = RecordingSmtp().start()
        try:
            settings = Settings(
                database_url=url,
                data_dir=directory,
                smtp_host="127.0.0.1",
                smtp_port=server.port,
                smtp_security="none",
                smtp_from=SENDER,
                log_messages=False,
            )
            started = time.perf_counter()
            report = deliver_due(sessions, settings, tx.transports_from_settings(settings))
            elapsed = time.perf_counter() - started
            received = len(server.messages)
        finally:
            server.stop()
            sessions.kw["bind"].dispose()
    return {"elapsed": elapsed, "rate": emails / elapsed, "sent": report.sent, "got": received}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=1000, help="emails queued (default 1000)")
    parser.add_argument("--kills", type=int, default=2, help="workers killed (default 2)")
    args = parser.parse_args(argv)
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"{args.emails} queued emails, local aiosmtpd server, SQLite\n")
    inproc = run_in_process(args.emails)
    print(
        f"in-process worker:      {inproc['elapsed']:6.2f} s  {inproc['rate']:7.1f} emails/s"
        f"  (sent {inproc['sent']}, received {inproc['got']})"
    )
    clean = run_process(args.emails, 0)
    print(
        f"portal worker process:  {clean['elapsed']:6.2f} s  {clean['rate']:7.1f} emails/s"
        f"  (lost {clean['lost']}, duplicated {clean['duplicated']})"
    )
    crash = run_process(args.emails, args.kills)
    print(
        f"killed {crash['killed']} times (SIGKILL): {crash['elapsed']:6.2f} s"
        f"  {crash['rate']:7.1f} emails/s"
    )
    print(f"  lost: {crash['lost']}  (statuses {dict(crash['statuses'])})")
    print(f"  duplicated at the SMTP server: {crash['duplicated']}")
    print(f"  distinct Message-IDs received: {crash['distinct']} of {args.emails}")
    print(
        f"  after Message-ID dedupe at the receiver: "
        f"{args.emails - crash['distinct']} lost, 0 duplicated"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
