"""Benchmark opening Client Portal Access against opening the client's own app.

Usage:
    python bench/bench_console.py             # 7 runs of each, interleaved
    python bench/bench_console.py --runs 3

One ``portal app --web`` (the demo: embedded backend, client app at ``/``,
staff console at ``/console/``) in Chromium through Playwright, same run:

- **Client app**: the demo client signs in once with the printed permanent
  link (the session token goes to the keyring). Then, per run, a new page
  opens the app — already signed in — and the clock stops when the title of
  the client's next appointment (found on the first sign-in) is visible on
  the home screen.
- **Client Portal Access**: the demo admin signs in once on a desktop-sized
  page and opens the same client's record. Per run, the clock starts at the
  tap on "Client Portal Access" (the route ``/clients/{id}/portal``) and stops
  when the same title is visible in the preview; "Close preview" goes back.

Prints each run, the medians and the ratio (goal: preview <= 1.5x the app).
It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from bench_app import BROWSER_ARGS, CHROMIUM, free_port, open_semantics, wait_port  # noqa: E402

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
FOCUSED_TEXT_INPUT = "() => ['INPUT', 'TEXTAREA'].includes(document.activeElement?.tagName || '')"


def start_demo(tmp: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """``portal app --web`` on the demo data; returns the process, its URL, its log."""
    port = free_port()
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO_ROOT),
        FLET_FORCE_WEB_SERVER="1",
        PYTHONUNBUFFERED="1",
        PYTHON_KEYRING_BACKEND="tests.e2e.file_keyring.FileKeyring",
        E2E_KEYRING_FILE=str(tmp / "keyring.json"),
    )
    log = tmp / "app.log"
    cmd = [
        sys.executable,
        "-m",
        "app.cli",
        "app",
        "--web",
        "--port",
        str(port),
        "--data-dir",
        str(tmp / "data"),
    ]
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    wait_port(port, proc)
    return proc, f"http://127.0.0.1:{port}", log


def printed(log: Path, pattern: str) -> str:
    match = re.search(pattern, log.read_text())
    if not match:
        raise RuntimeError(f"not in the app's output: {pattern}")
    return match.group(1)


def client_titles(database: Path, client_id: int) -> list[str]:
    """Titles of the client's activities, as their feed holds them."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT body FROM feed_entries WHERE client_id = ? AND kind = 'activity' "
            "AND deleted = 0",
            (client_id,),
        ).fetchall()
    return sorted({json.loads(body)["title"] for (body,) in rows})


def example_client(database: Path, email: str) -> tuple[int, str]:
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT c.id, c.name FROM clients c JOIN client_contacts k ON k.client_id = c.id "
            "WHERE k.value = ?",
            (email,),
        ).fetchone()
    return int(row[0]), str(row[1])


def visible_title(page: Any, titles: list[str]) -> str:
    """The one activity title the home screen shows (the next appointment)."""
    # A card is one semantics node (title, status, date): match within it.
    shown = [t for t in titles if page.get_by_text(t).count()]
    if not shown:
        raise RuntimeError("no activity title on the home screen")
    return max(shown, key=len)  # one title may hold another


def type_into(page: Any, label: str, text: str) -> None:
    page.get_by_role("textbox", name=label).click()
    page.wait_for_function(FOCUSED_TEXT_INPUT, timeout=10_000)
    page.keyboard.type(text)


def run(runs: int) -> None:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
    proc, url, log = start_demo(tmp)
    database = tmp / "data" / "embedded-backend" / "portal.db"
    try:
        link = printed(log, r"or the whole link: (\S+)")
        email = printed(log, r"one-time code: enter (\S+) ")
        password = printed(log, r"password: (\S+)")
        client_id, client_name = example_client(database, email)
        titles = client_titles(database, client_id)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            # The client signs in once: the token is in the keyring from now on.
            page = browser.new_page(viewport=PHONE)
            open_semantics(page, link)
            page.get_by_role("button", name="Se connecter").click(timeout=60_000)
            page.get_by_text("Votre prochain rendez-vous").wait_for(timeout=60_000)
            page.wait_for_timeout(2000)  # the first sync settles
            title = visible_title(page, titles)
            page.close()
            print(
                f"client {client_id} ({client_name}), {len(titles)} activities in the feed; "
                f"home shows {title!r}"
            )

            console = browser.new_page(viewport=DESKTOP)
            open_semantics(console, url + "/console/")
            console.get_by_role("button", name="English").click(timeout=60_000)
            type_into(console, "Email", "admin@demo.portal.example")
            console.get_by_role("textbox", name="Password").click()
            console.wait_for_function("() => document.activeElement?.type === 'password'")
            console.keyboard.type(password)
            console.get_by_role("button", name="Sign in").click()
            console.get_by_role("switch", name="Client portal enabled").wait_for(timeout=60_000)
            console.get_by_role("button", name=re.compile("^Clients")).click()
            search = console.get_by_role(
                "textbox", name="Search by name, email, phone or reference"
            )
            search.click()
            console.wait_for_function(FOCUSED_TEXT_INPUT, timeout=10_000)
            console.keyboard.type(email)
            console.get_by_role("button", name=re.compile(re.escape(client_name))).first.click(
                timeout=30_000
            )
            access = console.get_by_role("button", name="Client Portal Access")
            access.wait_for(timeout=30_000)

            app_times: list[float] = []
            preview_times: list[float] = []
            for i in range(runs + 1):  # the first of each is a warm-up
                page = browser.new_page(viewport=PHONE)
                t0 = time.perf_counter()
                open_semantics(page, url + "/")
                page.get_by_text(title).first.wait_for(timeout=60_000)
                app_ms = (time.perf_counter() - t0) * 1000
                page.close()

                t0 = time.perf_counter()
                access.click()
                console.get_by_text(title).first.wait_for(timeout=60_000)
                preview_ms = (time.perf_counter() - t0) * 1000
                console.get_by_role("button", name="Close preview").click()
                access.wait_for(timeout=30_000)
                label = "warm-up" if i == 0 else f"run {i}"
                print(f"{label}: client app {app_ms:7.0f} ms   preview {preview_ms:7.0f} ms")
                if i:
                    app_times.append(app_ms)
                    preview_times.append(preview_ms)
            browser.close()
    finally:
        proc.terminate()
        proc.wait()
    app_median = statistics.median(app_times)
    preview_median = statistics.median(preview_times)
    print(f"median over {runs}: client app {app_median:.0f} ms, preview {preview_median:.0f} ms")
    print(f"preview / client app = {preview_median / app_median:.2f}x (goal <= 1.5x)")


def main() -> None:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each (default: 7)")
    run(parser.parse_args().runs)


if __name__ == "__main__":
    main()
