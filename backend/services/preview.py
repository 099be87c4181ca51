"""Client Portal Access: short-lived preview tokens that read one client's feed.

A staff member opens a client's portal "as the client sees it". The console
gets a preview token for that client and runs the client app's own sync on
it, so the screens are filled from exactly the documents the client's app
receives. The token:

- reads one client's feed through ``GET /preview/sync`` and nothing else: it
  is not a session, so every client endpoint refuses it (401), and nothing
  can be booked, signed or sent with it;
- dies after ``PREVIEW_TTL`` (a preview is a look, not a login);
- is stateless (HMAC with the server secret over client, expiry and a nonce),
  so opening a preview writes nothing but its audit entry.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from backend.core.security import keyed_hash, matches

PREFIX = "prv_"
PREVIEW_TTL = timedelta(minutes=15)


def issue(key: bytes, client_id: int, now: datetime) -> tuple[str, datetime]:
    """A preview token for ``client_id`` and when it expires."""
    expires = now + PREVIEW_TTL
    stamp = str(int(expires.timestamp()))
    nonce = secrets.token_hex(8)
    mac = keyed_hash(key, "preview", str(client_id), stamp, nonce)
    return f"{PREFIX}{client_id}.{stamp}.{nonce}.{mac}", expires


def verify(key: bytes, token: str, now: datetime) -> int | None:
    """The client a live preview token is for; None when it is forged, malformed or expired."""
    if not token.startswith(PREFIX):
        return None
    parts = token[len(PREFIX) :].split(".")
    if len(parts) != 4:
        return None
    client, stamp, nonce, mac = parts
    if not (client.isdigit() and stamp.isdigit() and len(client) <= 10 and len(stamp) <= 12):
        return None
    if not matches(mac, key, "preview", client, stamp, nonce):
        return None
    if int(stamp) <= now.timestamp():
        return None
    return int(client)
