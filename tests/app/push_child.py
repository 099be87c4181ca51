"""The app as a separate process that the push crash tests kill (tests/app/test_push_faults.py).

Run as ``python -m tests.app.push_child CONFIG.json``. It opens the app's
store file and the embedded backend on the test's SQLite database, then runs
one ``sync_once`` (push, then pull). ``PUSH_KILL_POINT`` chooses where the
process dies with ``os._exit(137)``, at the first time it gets there:

- ``push.before_send``, ``push.received``, ``pull.received``: the engine's
  ``fault`` seam (before the request; answer in hand, before the local
  commit; a pulled page in hand, after the push was recorded);
- ``server.during_send``: inside the server's write transaction, right after
  it flushed the first form submission (applied, not committed);
- ``server.committed``: the server committed and answered, the answer never
  reaches the app.

Without a kill point it finishes and prints ``finished``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.sync.api import PortalApi
from app.sync.engine import SyncEngine, open_store
from backend.api.main import create_app
from backend.core.config import Settings
from backend.models import FormSubmission

KILLED = 137


def die() -> None:
    # No cleanup, no flush, no atexit: as abrupt as the OS killing the app.
    os._exit(KILLED)


class AnswerLost(httpx.AsyncBaseTransport):
    """The server runs the request to the end; the process dies before reading the answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path == "/mutations":
            die()
        return response


def die_on_submission(session: Session, _context: Any) -> None:
    if any(isinstance(row, FormSubmission) for row in session.new):
        die()


async def run(config: dict[str, Any], point: str) -> None:
    now = datetime.fromisoformat(config["now"])
    # The test built and migrated the database already.
    backend = create_app(Settings(**config["settings"]), clock=lambda: now, migrate=False)
    if point == "server.during_send":
        # after_flush still lists the flushed rows in session.new.
        event.listen(Session, "after_flush", die_on_submission)
    transport: httpx.AsyncBaseTransport = httpx.ASGITransport(
        app=backend, raise_app_exceptions=False
    )
    if point == "server.committed":
        transport = AnswerLost(transport)
    api = PortalApi(httpx.AsyncClient(transport=transport, base_url="http://embedded"))
    api.token = config["token"]

    def fault(reached: str) -> None:
        if reached == point:
            die()

    store = open_store(config["store"])
    engine = SyncEngine(store, api, clock=lambda: now, batch_size=config["batch_size"], fault=fault)
    try:
        await engine.sync_once()
    finally:
        await api.aclose()
        store.close()
        backend.state.engine.dispose()


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    asyncio.run(run(config, os.environ.get("PUSH_KILL_POINT", "")))
    print("finished")


if __name__ == "__main__":
    main()
