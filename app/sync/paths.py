"""Where the app keeps its local cache.

The app bundle is read-only on mobile, so the database must live in the
app's data directory. Flet tells us where that is through
``FLET_APP_STORAGE_DATA`` (set on mobile and in packaged desktop apps); when
it is absent (``python -m`` during development) we use the platform's usual
per-user data directory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

APP_DIR_NAME = "field-portal"
STORE_FILE_NAME = "cache.sqlite3"


def _platform_data_dir(env: Mapping[str, str], platform: str, home: Path) -> Path:
    if platform == "win32":
        appdata = env.get("APPDATA")
        base = Path(appdata) if appdata else home / "AppData" / "Roaming"
        return base / APP_DIR_NAME
    if platform == "darwin":
        return home / "Library" / "Application Support" / APP_DIR_NAME
    # Linux and other Unixes follow the XDG base directory spec, which says a
    # relative XDG_DATA_HOME is invalid and must be ignored.
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base / APP_DIR_NAME


def data_dir(
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    home: Path | None = None,
) -> Path:
    """Return the app's data directory, creating it if missing.

    ``FLET_APP_STORAGE_DATA`` wins when set; otherwise the platform's per-user
    data directory + ``field-portal``. The arguments exist for tests and
    default to ``os.environ``, ``sys.platform`` and ``Path.home()``.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    flet_dir = env.get("FLET_APP_STORAGE_DATA")
    if flet_dir:
        path = Path(flet_dir)
    else:
        path = _platform_data_dir(env, platform, Path.home() if home is None else home)
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_path() -> Path:
    """Return the path of the local store database inside ``data_dir()``."""
    return data_dir() / STORE_FILE_NAME
