"""Where the session token lives on the device: the OS keyring, else memory only.

DESIGN.md §5: the token goes to the OS keyring (``keyring``). Where no
keyring exists (headless Linux raises ``NoKeyringError``) we keep it in
memory for this run only and set ``persistent = False`` so the UI can tell the
user they will have to sign in again next time. The token is never written to
the local database, a file or a log.

Keyring calls may block (D-Bus, macOS Keychain prompts): call these methods
through ``asyncio.to_thread`` from async UI code.
"""

from __future__ import annotations

import logging

import keyring
from keyring.errors import KeyringError, PasswordDeleteError

log = logging.getLogger(__name__)


class TokenStore:
    """The session token: keyring when available, else this process's memory."""

    def __init__(self, service: str = "field-portal", account: str = "session") -> None:
        """Read any saved token now, which also tells whether a keyring works."""
        self._service = service
        self._account = account
        self._token: str | None = None
        self.persistent = True
        try:
            self._token = keyring.get_password(service, account)
        except KeyringError as exc:
            self._fall_back(exc)

    def _fall_back(self, exc: Exception) -> None:
        # Log the kind of failure only: never the token, which is not in exc anyway.
        log.warning(
            "no usable keyring (%s); the session is kept in memory only", type(exc).__name__
        )
        self.persistent = False

    def get(self) -> str | None:
        """Return the current session token, or None when signed out."""
        return self._token

    def set(self, token: str) -> None:
        """Remember ``token`` (keyring if possible, memory in any case)."""
        self._token = token
        if not self.persistent:
            return
        try:
            keyring.set_password(self._service, self._account, token)
        except KeyringError as exc:
            self._fall_back(exc)

    def clear(self) -> None:
        """Forget the token (sign out), in memory and in the keyring."""
        self._token = None
        if not self.persistent:
            return
        try:
            keyring.delete_password(self._service, self._account)
        except PasswordDeleteError:
            pass  # nothing saved: already signed out
        except KeyringError as exc:
            self._fall_back(exc)


class MemoryTokenStore:
    """A session token kept in this process only (web sessions served to many users).

    Same interface as ``TokenStore``; ``persistent`` is False so the UI says
    that the user will have to sign in again next time.
    """

    persistent = False

    def __init__(self) -> None:
        """Start signed out."""
        self._token: str | None = None

    def get(self) -> str | None:
        """The current token, or None."""
        return self._token

    def set(self, token: str) -> None:
        """Remember ``token`` for this process."""
        self._token = token

    def clear(self) -> None:
        """Forget the token."""
        self._token = None
