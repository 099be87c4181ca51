"""Run the web app in a subprocess and drive Debian's Chromium with Playwright (DESIGN §7)."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AppProcess:
    """A running ``portal app --web`` and where its data lives."""

    process: subprocess.Popen[str]
    url: str
    data_dir: Path
    log_path: Path

    @property
    def backend_db(self) -> Path:
        return self.data_dir / "embedded-backend" / "portal.db"

    def demo_email(self) -> str:
        match = re.search(r"one-time code: enter (\S+) ", self.log_path.read_text())
        assert match, self.log_path.read_text()
        return match.group(1)

    def demo_link(self) -> str:
        """The permanent demo link the app printed (``…/login/link#token``)."""
        match = re.search(r"or the whole link: (\S+)", self.log_path.read_text())
        assert match, self.log_path.read_text()
        return match.group(1)

    def last_code(self, recipient: str) -> str:
        with sqlite3.connect(self.backend_db) as db:
            row = db.execute(
                "SELECT body FROM outgoing_messages WHERE recipient = ? ORDER BY id DESC LIMIT 1",
                (recipient,),
            ).fetchone()
        assert row, f"no message to {recipient}"
        return re.findall(r"\b\d{6}\b", row[0])[-1]

    def cached_activity_count(self) -> int:
        """Activities in the app's local cache (not the backend)."""
        with sqlite3.connect(self.data_dir / "cache.sqlite3") as db:
            return int(
                db.execute(
                    "SELECT COUNT(*) FROM documents WHERE collection = 'activities'"
                ).fetchone()[0]
            )

    def keyring_text(self) -> str:
        """The test keyring file's content ("" when absent)."""
        path = self.data_dir.parent / "keyring.json"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_app(tmp_path: Path, data_dir: Path, *extra: str, name: str = "app") -> AppProcess:
    """Start the web app on a free port and wait until it answers."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHON_KEYRING_BACKEND="tests.e2e.file_keyring.FileKeyring",
        E2E_KEYRING_FILE=str(tmp_path / "keyring.json"),
        FLET_FORCE_WEB_SERVER="1",
        PYTHONUNBUFFERED="1",
    )
    log_path = tmp_path / f"{name}.log"
    log = log_path.open("w")
    cmd = [
        sys.executable,
        "-m",
        "app.cli",
        "app",
        "--web",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--sync-interval",
        "3",
        *extra,
    ]
    process = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
    )
    app = AppProcess(process, f"http://127.0.0.1:{port}", data_dir, log_path)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"app exited: {log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return app
        except OSError:
            time.sleep(0.3)
    app.stop()
    raise AssertionError(f"app did not start: {log_path.read_text()}")


@pytest.fixture
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield b
        b.close()


def open_app(
    browser: object, url: str, viewport: dict[str, int], color_scheme: str = "light"
) -> object:
    """A new page on the app with Flutter's semantics tree turned on."""
    page = browser.new_page(  # type: ignore[attr-defined]
        viewport=viewport, color_scheme=color_scheme
    )
    page.goto(url)
    page.wait_for_selector("flutter-view", timeout=60_000)
    page.wait_for_selector("flt-semantics-placeholder", state="attached", timeout=60_000)
    page.evaluate("document.querySelector('flt-semantics-placeholder')?.click()")
    page.wait_for_selector("flt-semantics", state="attached", timeout=30_000)
    return page


def shot(page: object, name: str) -> None:
    """Save a screenshot as a test artifact (look at them!)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(600)  # type: ignore[attr-defined]
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))  # type: ignore[attr-defined]


def scroll_to(page, locator, steps: int = 40):
    """Scroll the list until ``locator`` is built (Flutter builds list rows lazily)."""
    for _ in range(steps):
        if locator.count():
            return locator.first
        size = page.viewport_size or {"width": 390, "height": 844}
        page.mouse.move(size["width"] / 2, size["height"] * 0.6)  # over the list
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(150)
    locator.first.wait_for(timeout=5_000)
    return locator.first
