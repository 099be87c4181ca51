"""This installation's device id: a random id made once and kept in the store's meta.

The server records it with every submission and signature (evidence of where
a change came from). It names the device, not the person: signing out keeps
it (``AppState`` puts it back after wiping the store), and it is never
derived from anything about the user or the machine.
"""

from __future__ import annotations

import uuid

from app.sync.store import Store

META_DEVICE_ID = "device_id"


def device_id(store: Store) -> str:
    """Return this installation's device id, creating it the first time (blocking)."""
    # One transaction: two threads asking at once must not make two ids.
    with store.transaction():
        existing = store.get_meta(META_DEVICE_ID)
        if existing:
            return existing
        made = uuid.uuid4().hex
        store.set_meta(META_DEVICE_ID, made)
        return made
