"""The language of the screens: chosen on this device, or the profile's.

A choice made on this device wins over the profile's and the company's
default; it is kept in the store's meta (it survives sign-out) and sent to
the server, which renders titles in the client's language, at the next
successful sync when offline.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from app.sync.api import ApiError

if TYPE_CHECKING:
    from app.state import AppState

log = logging.getLogger(__name__)

# Meta keys this module owns.
META_LANGUAGE = "ui_language"
# Set when the language was chosen on this device and the server does not know
# it yet (offline, or chosen before sign-in); cleared once it is sent.
META_LANGUAGE_UNSENT = "ui_language_unsent"


class LanguageModel:
    """One session's language choice; the ``Translator`` is ``state.tr``."""

    def __init__(self, state: AppState) -> None:
        """Nothing chosen yet: the profile's or the company's language applies."""
        self._state = state
        self.chosen = False

    async def restore(self) -> None:
        """Use the language chosen earlier on this device, if any."""
        saved = await asyncio.to_thread(self._state.store.get_meta, META_LANGUAGE)
        if saved:
            self._state.tr.set_language(saved)
            self.chosen = True

    async def set_language(self, language: str) -> None:
        """Switch language now and remember the choice on this device."""
        state = self._state
        state.tr.set_language(language)
        self.chosen = True
        await asyncio.to_thread(self.remember, state.tr.language)
        # Every row's dates and labels change: re-format them all.
        await state.activities.reload(None)
        await state.emit("language", state.tr.language)
        # Titles are rendered by the server in the client's language: tell it,
        # then pull the new titles (offline: at the next successful sync).
        await state.refresh()

    def remember(self, language: str) -> None:
        """Save ``language`` as this device's choice, to be sent to the server (blocking)."""
        store = self._state.store
        with store.transaction():
            store.set_meta(META_LANGUAGE, language)
            store.set_meta(META_LANGUAGE_UNSENT, "1")

    async def send_unsent(self) -> bool:
        """Send a language chosen on this device; True when the server took it."""
        state = self._state
        unsent = await asyncio.to_thread(state.store.get_meta, META_LANGUAGE_UNSENT)
        if not unsent or not state.signed_in:
            return False
        try:
            await state.api.set_language(state.tr.language)
        except ApiError as exc:
            log.info("language not sent yet: %s", type(exc).__name__)
            return False  # kept: sent after a later successful sync
        await asyncio.to_thread(state.store.delete_meta, META_LANGUAGE_UNSENT)
        return True

    def clear_store_keeping_choice(self) -> None:
        """Wipe the store but keep the language chosen on this device (blocking)."""
        store = self._state.store
        # Read the stored choice rather than this session's: another window
        # on the same device may have changed it since.
        language = store.get_meta(META_LANGUAGE)
        store.clear()
        if language:
            store.set_meta(META_LANGUAGE, language)
