"""How the app runs: which backend, where its data lives, how often it syncs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.sync.paths import STORE_FILE_NAME, data_dir

# Pull changes this often while the app is open (seconds).
DEFAULT_SYNC_INTERVAL = 60.0
# The periodic sync retries this many times before showing "offline";
# a manual refresh tries once so the user gets an answer at once.
PERIODIC_ATTEMPTS = 3


@dataclass
class AppConfig:
    """Where the app's backend is and where it keeps its files.

    ``server_url`` None means the embedded backend (demo data, no network).
    """

    server_url: str | None = None
    data_dir: Path = field(default_factory=data_dir)
    sync_interval: float = DEFAULT_SYNC_INTERVAL
    keyring_service: str = "field-portal"

    @property
    def store_path(self) -> Path:
        """The local cache database."""
        return self.data_dir / STORE_FILE_NAME

    @property
    def embedded_dir(self) -> Path:
        """Where the embedded backend keeps its SQLite file."""
        return self.data_dir / "embedded-backend"
