"""A keyring stand-in for the end-to-end tests only: a JSON file under the test's tmp dir.

The app keeps its token in the OS keyring; headless CI has none. The offline
test must restart the app and find the session again, so the app process is
given this backend (``PYTHON_KEYRING_BACKEND=tests.e2e.file_keyring.FileKeyring``
and ``E2E_KEYRING_FILE``). It is never used by the app outside these tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    """Stores passwords in the JSON file named by ``E2E_KEYRING_FILE``."""

    priority = 1  # type: ignore[assignment]

    def _path(self) -> Path:
        return Path(os.environ["E2E_KEYRING_FILE"])

    def _load(self) -> dict[str, str]:
        path = self._path()
        return json.loads(path.read_text()) if path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._path().write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError("not found")
        self._path().write_text(json.dumps(data))
