"""Client Portal Access: the client's portal in the console, exactly as the client sees it.

Not a copy of the client screens: the preview runs the client app itself
(``AppState``, its sync engine and store, the ``Shell`` and every screen of
``app.views``) on a short-lived preview token from
``POST /staff/clients/{id}/preview-session``. That token reads the client's
feed through ``GET /preview/sync`` (the same pages ``/sync`` gives the
client) and nothing else, so:

- what the staff member sees is what the client's app builds from the same
  documents: titles, dates in the client's time zone, actions available now;
- nothing can be sent: ``PreviewApi`` refuses every call that would change
  something, and the console shows the actions' buttons but answers a tap
  with "nothing is sent from a preview";
- the preview's local store is a temporary file, deleted when the preview
  closes.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.i18n import parse_utc
from app.state import AppState
from app.sync.api import PortalApi, Rejected
from app.sync.engine import open_store
from app.sync.store import Store
from app.sync.tokens import MemoryTokenStore

PREVIEW_SYNC_PATH = "/preview/sync"


class PreviewApi(PortalApi):
    """The client app's API inside a preview: reads the previewed client's feed;
    refuses everything that would act for them."""

    sync_path = PREVIEW_SYNC_PATH

    def _refuse(self) -> Rejected:
        return Rejected("nothing is sent from a preview", message_key="preview.not_sent")

    async def logout(self) -> None:
        """Nothing to end on the server: the preview token simply expires."""

    async def set_language(self, language: str) -> None:
        """The staff member's language choice stays in the preview."""

    async def push_mutations(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise self._refuse()

    async def take_slot(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise self._refuse()

    async def cancel(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise self._refuse()

    async def create_request(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise self._refuse()

    async def slots(self, activity_id: str) -> dict[str, Any]:
        raise self._refuse()

    async def fetch_document(self, path: str) -> bytes:
        # The client's files are served to the client's session only.
        raise Rejected("documents open in the client's app", message_key="preview.document")

    async def aclose(self) -> None:
        """The HTTP client belongs to the console's API: it stays open."""


@dataclass(frozen=True)
class PreviewSession:
    """What ``POST /staff/clients/{id}/preview-session`` answered."""

    token: str
    expires_at: datetime | None
    client_id: int
    client_name: str
    portal_access: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PreviewSession:
        """Read the server's answer."""
        return cls(
            token=str(data["token"]),
            expires_at=parse_utc(data.get("expires_at")),
            client_id=int(data["client_id"]),
            client_name=str(data.get("client_name") or ""),
            portal_access=bool(data.get("portal_access")),
        )


class ClientPreview:
    """One open preview: the client app's state on a temporary store.

    ``open()`` fills it (a full sync through the preview token); ``close()``
    deletes the temporary store. The screens are built on ``state`` by
    ``app.staff.views.preview``.
    """

    def __init__(
        self,
        session: PreviewSession,
        http: Any,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``http`` is the console's ``httpx.AsyncClient`` (same server, same transport)."""
        self.session = session
        self._dir = Path(tempfile.mkdtemp(prefix="portal-preview-"))
        self.store: Store = open_store(self._dir / "preview.sqlite3")
        tokens = MemoryTokenStore()
        tokens.set(session.token)
        self.api = PreviewApi(http, token=session.token)
        self.state = AppState(self.api, self.store, tokens, clock=clock, channel="web")
        self.closed = False

    async def open(self) -> bool:
        """Load the client's portal; False when the server could not be read."""
        # In the client's language, like their app (the profile's choice).
        await self.state.start()
        return await self.state.refresh(max_attempts=1) is not None

    async def close(self) -> None:
        """Forget everything the preview downloaded."""
        if self.closed:
            return
        self.closed = True
        self.state.signed_in = False
        await asyncio.to_thread(self.store.close)
        await asyncio.to_thread(shutil.rmtree, self._dir, True)
