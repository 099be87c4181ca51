"""Clients: search, a client record, permanent links, sending a portal link (view-model).

Search is debounced here (``search_soon``): each keystroke starts a short
wait, and only the newest one asks the server, so typing a name sends one
request, not one per letter. A permanent link's URL is in the server's
answer once: the model keeps it (with its QR code) only while the record
shows it.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import Any

import segno

from app.staff.state import Action, ConsoleState

SEARCH_DELAY = 0.3
PAGE_SIZE = 50


def qr_png(url: str) -> bytes:
    """The QR code of ``url`` as PNG bytes (for an ``ft.Image``)."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=6, border=2)
    return out.getvalue()


@dataclass(frozen=True)
class ShownLink:
    """A permanent link just created: its URL and QR code, shown once."""

    link_id: int | None
    url: str
    qr: bytes


class ClientsModel:
    """The client list and the open client record."""

    def __init__(self, state: ConsoleState, delay: float = SEARCH_DELAY) -> None:
        """Empty list, no record open; ``delay`` is the debounce wait."""
        self.state = state
        self.action = Action(state)
        self.delay = delay
        self.query = ""
        self.items: list[dict[str, Any]] = []
        self.next: str | None = None
        self.record: dict[str, Any] | None = None
        self.shown_link: ShownLink | None = None
        self.notice: str | None = None
        self._generation = 0

    @property
    def editable(self) -> bool:
        """Planners and admins change clients and links."""
        return self.state.can("planner")

    # -- search ----------------------------------------------------------------------

    async def search(self, query: str) -> bool:
        """Ask the server for the first page matching ``query`` now."""
        bu_id = self.state.bu_id
        if bu_id is None:
            return False
        self._generation += 1
        generation = self._generation
        page = await self.action.run(
            lambda: self.state.api.clients(bu_id, query.strip(), limit=PAGE_SIZE)
        )
        if page is None or generation != self._generation:
            return False  # failed, or a newer search is on its way
        self.query = query
        self.items = list(page.get("items") or [])
        self.next = page.get("next")
        return True

    async def search_soon(self, query: str) -> bool:
        """Debounced search: True when this keystroke's search ran (no newer one came)."""
        self._generation += 1
        generation = self._generation
        await asyncio.sleep(self.delay)
        if generation != self._generation:
            return False
        return await self.search(query)

    async def more(self) -> bool:
        """Append the next page of the current search."""
        bu_id, after = self.state.bu_id, self.next
        if bu_id is None or not after:
            return False
        page = await self.action.run(
            lambda: self.state.api.clients(bu_id, self.query.strip(), limit=PAGE_SIZE, after=after)
        )
        if page is None:
            return False
        self.items.extend(page.get("items") or [])
        self.next = page.get("next")
        return True

    # -- the record --------------------------------------------------------------------

    async def open(self, client_id: int) -> bool:
        """Load a client's record (any earlier shown link is forgotten)."""
        self.shown_link = None
        self.notice = None
        data = await self.action.run(lambda: self.state.api.client(client_id))
        if data is None:
            return False
        self.record = data
        return True

    async def reload(self) -> bool:
        """Re-read the open record, keeping a link shown just now."""
        if self.record is None:
            return False
        shown = self.shown_link
        ok = await self.open(int(self.record["id"]))
        self.shown_link = shown
        return ok

    def close(self) -> None:
        """Back to the list; the shown link's URL is dropped."""
        self.record = None
        self.shown_link = None
        self.notice = None

    async def set_access(self, enabled: bool) -> bool:
        """Turn the client's portal access on or off."""
        if self.record is None:
            return False
        client_id = int(self.record["id"])
        data = await self.action.run(
            lambda: self.state.api.patch_client(client_id, {"portal_access": enabled})
        )
        if data is None:
            return False
        self.record["portal_access"] = data.get("portal_access", enabled)
        for item in self.items:
            if item.get("id") == client_id:
                item["portal_access"] = self.record["portal_access"]
        return True

    async def create_link(self, label: str = "") -> ShownLink | None:
        """A new permanent link, shown once with its QR code."""
        if self.record is None:
            return None
        client_id = int(self.record["id"])
        data = await self.action.run(lambda: self.state.api.create_link(client_id, label))
        if data is None:
            return None
        url = str(data["url"])
        link_id = data.get("id")
        shown = ShownLink(int(link_id) if link_id else None, url, qr_png(url))
        await self.reload()
        self.shown_link = shown
        return shown

    async def revoke_link(self, link_id: int) -> bool:
        """Revoke a permanent link (its URL stops working at once)."""
        ok = await self.action.run(lambda: self.state.api.revoke_link(link_id))
        if self.action.error is not None:
            return False
        del ok
        if self.shown_link and self.shown_link.link_id == link_id:
            self.shown_link = None
        await self.reload()
        return True

    @property
    def live_links(self) -> list[dict[str, Any]]:
        """The record's permanent links not revoked."""
        links = (self.record or {}).get("permanent_links") or []
        return [link for link in links if not link.get("revoked_at")]

    @property
    def contacts(self) -> list[dict[str, Any]]:
        """The contacts a client signs in with."""
        return list((self.record or {}).get("contacts") or [])

    def cost_text(self, channel: str, price: float) -> str:
        """What sending by ``channel`` costs, as a sentence."""
        if channel == "sms":
            return self.state.tr.t("console.clients.sms_cost", price=_credits(price))
        return self.state.tr.t("console.clients.email_free")

    async def send_link(self, channel: str, contact_id: int) -> bool:
        """Send a sign-in link; ``notice`` says it left, ``action.error`` why it did not."""
        if self.record is None:
            return False
        client_id = int(self.record["id"])
        data = await self.action.run(
            lambda: self.state.api.send_portal_link(client_id, channel, contact_id)
        )
        if data is None:
            self.notice = None
            return False
        cost = (data.get("cost_centicredits") or 0) / 100
        self.notice = self.state.tr.t("console.clients.link_sent", credits=_credits(cost))
        return True


def _credits(value: float) -> str:
    return f"{value:g}"
