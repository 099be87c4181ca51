"""Benchmark the Flet app: startup to the appointment list, and patching after a sync.

Usage:
    python bench/bench_app.py                 # both parts
    python bench/bench_app.py --skip-browser  # only the in-process patch part

1. **Startup in a real browser** (Debian Chromium via Playwright, DESIGN §7):
   the app starts from a local cache holding ``--cached`` activities (500),
   against an unreachable server (so nothing changes under the timer). Timed
   in the browser from ``page.goto`` until the text is in the semantics tree:
   ``/activities`` until the first appointment row (the goal line), ``/``
   until the home screen, and ``/`` then a tap on "Appointments" until the
   first row. In the same run, a one-line Flet app (``ft.Text("hi")``) is
   timed from ``page.goto`` to its text: the floor Flutter-web + Flet impose.
   Then phone and desktop screenshots of the list after one "Show more" go to
   ``test-artifacts/screenshots/bench_*.png``.
2. **The paged list and an incremental sync** (in-process, no browser):
   2,000 activities in ``ActivitiesView`` on a Flet session whose connection
   records every message as the web transport would encode it (msgpack).
   Timed: the first render (first page of each section), 10 activities that
   change through ``apply_page`` on shown rows then on rows not shown yet
   (the app's patch path: ``sync_rows`` + ``page.update(*dirty)``), and one
   "Show more". Reported: rows and controls updated, bytes sent, time;
   compared with a whole-page ``page.update()`` and with rebuilding the rows.

It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
]
BASELINE_APP = """
import sys
import flet as ft
ft.run(lambda p: p.add(ft.Text("hi")), view=ft.AppView.WEB_BROWSER, port=int(sys.argv[1]),
       no_cdn=True)
"""
NOW = datetime.now(UTC)


# --- synthetic cache -----------------------------------------------------------


def activity_doc(i: int) -> dict[str, Any]:
    """An activity document shaped like the sync feed's."""
    start = NOW + timedelta(hours=6 * (i - 100))
    status = "done" if start < NOW else "scheduled"

    def z(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    return {
        "id": i,
        "title": f"Entretien chaudière #{i} – Lyon",
        "status": status,
        "type_id": 1,
        "type_name": "Entretien chaudière",
        "site": {
            "label": "Domicile",
            "street": f"{i} rue Mercière",
            "postal_code": "69002",
            "city": "Lyon",
            "latitude": 45.76,
            "longitude": 4.83,
        },
        "scheduled_start": z(start),
        "scheduled_end": z(start + timedelta(hours=1)),
        "window_start": z(start - timedelta(minutes=30)),
        "window_end": z(start + timedelta(minutes=90)),
        "technician": {"first_name": "Nicolas"},
        "description": "Visite annuelle",
        "steps": [{"at": z(start - timedelta(days=7)), "code": "created", "note": None}],
        "closure_report": None,
        "actions": [],
        "reschedule_count": 0,
    }


def fill_cache(path: Path, count: int) -> None:
    """Write profile, branding and ``count`` activities as if synced."""
    from app.sync.engine import META_CURSOR, META_LAST_SYNC, open_store

    store = open_store(path)
    with store.transaction():
        store.put(
            "profile",
            "me",
            {
                "id": 1,
                "name": "Claire Chauvin",
                "preferred_language": "en",
                "contacts": [],
                "sites": [],
            },
        )
        store.put(
            "branding",
            "bu",
            {
                "id": 1,
                "name": "Bench Heating",
                "logo_url": None,
                "phone": "+33 4 00 00 00 00",
                "email": "office@bench.example",
                "address": "1 rue de la République, Lyon",
                "description": "Benchmark data.",
                "primary_color": "#E65100",
                "timezone": "Europe/Paris",
                "locale": "en",
            },
        )
        store.put_many("activities", [(str(i), activity_doc(i)) for i in range(1, count + 1)])
        store.set_meta(META_CURSOR, "bench")
        store.set_meta(META_LAST_SYNC, NOW.isoformat())
    store.close()


# --- part 1: browser ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def open_semantics(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("flt-semantics-placeholder", state="attached", timeout=60_000)
    page.evaluate("document.querySelector('flt-semantics-placeholder')?.click()")


def time_baseline(browser: Any, runs: int) -> list[float]:
    port = free_port()
    env = dict(os.environ, FLET_FORCE_WEB_SERVER="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", BASELINE_APP, str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, proc)
        times = []
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 390, "height": 844})
            t0 = time.perf_counter()
            open_semantics(page, f"http://127.0.0.1:{port}")
            page.get_by_text("hi", exact=True).wait_for(timeout=60_000)
            times.append(time.perf_counter() - t0)
            page.close()
        return times
    finally:
        proc.terminate()
        proc.wait()


def first_row(page: Any) -> Any:
    """The first appointment row (rows are buttons showing their status)."""
    return page.get_by_role("button").filter(has_text="Scheduled").first


def time_portal(browser: Any, cached: int, runs: int) -> dict[str, list[float]]:
    """Median inputs: goto /activities -> row, goto / -> home, / + tap -> row."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-app-"))
    fill_cache(tmp / "data" / "cache.sqlite3", cached)
    (tmp / "keyring.json").write_text('{"field-portal/session": "bench-token"}')
    port = free_port()
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO_ROOT),
        FLET_FORCE_WEB_SERVER="1",
        PYTHON_KEYRING_BACKEND="tests.e2e.file_keyring.FileKeyring",
        E2E_KEYRING_FILE=str(tmp / "keyring.json"),
    )
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
        "--server",
        "http://127.0.0.1:9",
    ]
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    times: dict[str, list[float]] = {"list": [], "home": [], "tap": []}
    try:
        wait_port(port, proc)
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 390, "height": 844})
            t0 = time.perf_counter()
            open_semantics(page, url + "/activities")
            first_row(page).wait_for(timeout=60_000)
            times["list"].append(time.perf_counter() - t0)
            page.close()

            page = browser.new_page(viewport={"width": 390, "height": 844})
            t0 = time.perf_counter()
            open_semantics(page, url)
            page.get_by_text("Your next appointment").wait_for(timeout=60_000)
            t1 = time.perf_counter()
            page.get_by_role("tab", name="Appointments").click()
            first_row(page).wait_for(timeout=60_000)
            t2 = time.perf_counter()
            times["home"].append(t1 - t0)
            times["tap"].append(t2 - t0)
            page.close()
        for name, viewport in (
            ("phone", {"width": 390, "height": 844}),
            ("desktop", {"width": 1280, "height": 800}),
        ):
            screenshot_list(browser, url, name, viewport)
        return times
    finally:
        proc.terminate()
        proc.wait()


def screenshot_list(browser: Any, url: str, name: str, viewport: dict[str, int]) -> None:
    """Open /activities, scroll to the first "Show more", tap it, take a screenshot."""
    import re

    shots = REPO_ROOT / "test-artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=viewport)
    open_semantics(page, url + "/activities")
    first_row(page).wait_for(timeout=60_000)
    page.screenshot(path=str(shots / f"bench_{name}_activities_500.png"))
    more = page.get_by_role("button", name=re.compile(r"^Show more"))
    page.mouse.move(viewport["width"] / 2, viewport["height"] / 2)
    for _ in range(60):
        if more.count():
            break
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(100)
    page.mouse.wheel(0, viewport["height"] / 3)
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots / f"bench_{name}_activities_show_more_button.png"))
    more.first.click()
    # Upcoming rows are activities 100, 101, …: the second page starts at #130.
    page.get_by_text("Entretien chaudière #130 – Lyon").wait_for(timeout=30_000)
    page.mouse.wheel(0, viewport["height"] / 3)
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots / f"bench_{name}_activities_show_more.png"))
    page.close()


def browser_part(cached: int, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        base = time_baseline(browser, runs)
        portal = time_portal(browser, cached, runs)
        browser.close()
    med = statistics.median
    floor = med(base)
    print(
        f"\n1. Startup in Chromium (median of {runs}, phone viewport, warm server,"
        f" {cached} cached activities)"
    )
    print(f"   one-line Flet app, goto -> 'hi' visible:          {floor * 1000:7.0f} ms")
    for key, label in (
        ("list", "portal, goto /activities -> first row visible:"),
        ("home", "portal, goto / -> home with next appointment:  "),
        ("tap", "portal, goto / -> tap Appointments -> first row:"),
    ):
        value = med(portal[key])
        print(f"   {label}   {value * 1000:7.0f} ms  ({value / floor:.2f}x)")
    ratio = med(portal["list"]) / floor
    verdict = "met" if ratio <= 1.5 else "missed"
    print(f"   goal /activities <= 1.5x the one-line app: {ratio:.2f}x, {verdict}")


# --- part 2: patching ----------------------------------------------------------------


def patch_part(rows: int, changes: int) -> None:
    import msgpack
    from flet.controls.base_control import BaseControl
    from flet.messaging.connection import Connection
    from flet.messaging.protocol import configure_encode_object_for_msgpack
    from flet.messaging.session import Session
    from flet.pubsub.pubsub_hub import PubSubHub

    from app.state import AppState
    from app.sync.api import PortalApi
    from app.sync.engine import apply_page, open_store
    from app.sync.tokens import MemoryTokenStore
    from app.views.activities import ActivitiesView

    class Recording(Connection):
        """Encodes messages exactly like the web transport, and counts them."""

        def __init__(self) -> None:
            super().__init__()
            self.sent: list[int] = []

        def send_message(self, message: Any) -> None:
            body = msgpack.packb(
                [message.action, message.body],
                default=configure_encode_object_for_msgpack(BaseControl),
            )
            self.sent.append(len(body))

    async def run() -> None:
        tmp = Path(tempfile.mkdtemp(prefix="bench-patch-"))
        fill_cache(tmp / "cache.sqlite3", rows)
        store = open_store(tmp / "cache.sqlite3")
        tokens = MemoryTokenStore()
        tokens.set("bench")
        state = AppState(PortalApi.remote("http://127.0.0.1:9"), store, tokens)
        await state.start()
        conn = Recording()
        conn.loop = asyncio.get_running_loop()
        conn.pubsubhub = PubSubHub(loop=conn.loop)
        session = Session(conn)
        page = session.page
        # What the client's "register" does: serialising the first page patch
        # is also what records the snapshots later diffs start from.
        msgpack.packb(
            session.get_page_patch(), default=configure_encode_object_for_msgpack(BaseControl)
        )
        view = ActivitiesView(state, lambda _id: asyncio.sleep(0))
        t0 = time.perf_counter()
        view.refresh()  # builds the shown rows only
        page.add(view.control)
        first_ms = (time.perf_counter() - t0) * 1000
        first_bytes = sum(conn.sent)
        n_rows = len(view.rows)

        async def sync_changes(ids: list[str]) -> tuple[float, float, int, int, int]:
            """10 activities change (new window and technician) as one sync page."""
            changed_docs = []
            for i in ids:
                doc = activity_doc(int(i))
                doc["technician"] = {"first_name": "Julien"}
                doc["window_start"] = doc["window_end"]
                changed_docs.append({"kind": "activity", "key": i, "deleted": False, "body": doc})
            sync_page = {
                "reset": False,
                "changes": changed_docs,
                "cursor": "bench-2",
                "has_more": False,
            }
            result = await asyncio.to_thread(apply_page, store, sync_page, NOW)
            conn.sent.clear()
            t0 = time.perf_counter()
            await state._on_sync_change(result)  # what the engine calls after a pull
            t1 = time.perf_counter()
            dirty = view.sync_rows(result.changed_ids.get("activities", set()))
            if dirty:
                page.update(*dirty)
            t2 = time.perf_counter()
            reload_ms, view_ms = (t1 - t0) * 1000, (t2 - t1) * 1000
            return reload_ms, view_ms, len(dirty), sum(conn.sent), len(conn.sent)

        # Shown rows: upcoming activities start at #100, the first page is #100-#129.
        shown_ids = [str(i) for i in range(105, 105 + changes)]
        inc_reload, inc_ms, inc_rows, inc_bytes, inc_msgs = await sync_changes(shown_ids)
        controls_touched = sum(
            len(r.control.content.content.controls) + 3
            for i, r in view.rows.items()
            if i in shown_ids
        )
        hidden_ids = [str(i) for i in range(1500, 1500 + changes)]
        hid_reload, hid_ms, hid_rows, hid_bytes, hid_msgs = await sync_changes(hidden_ids)

        # "Show more" on the upcoming section: the next page appended.
        conn.sent.clear()
        t0 = time.perf_counter()
        view.show_more(upcoming=True)
        view.list.update()
        more_ms = (time.perf_counter() - t0) * 1000
        more_bytes = sum(conn.sent)
        more_rows = len(view.rows)

        # The same kind of change sent with a whole-page update (diffs every shown row).
        for i in shown_ids:
            view.rows[i].title.value += " "
        conn.sent.clear()
        t0 = time.perf_counter()
        page.update()
        whole_ms = (time.perf_counter() - t0) * 1000
        whole_bytes = sum(conn.sent)

        # Naive: rebuild every shown row on each sync.
        view.rows.clear()
        conn.sent.clear()
        t0 = time.perf_counter()
        view.list.controls = []
        view.sync_rows(None)
        page.update(view.list)
        full_ms = (time.perf_counter() - t0) * 1000
        full_bytes = sum(conn.sent)

        total = len(state.activities.upcoming_ids) + len(state.activities.past_ids)
        print(f"\n2. The paged list of {total} activities (first page: {n_rows} rows)")
        print(
            f"   first render (build + send {n_rows} rows): {first_ms:8.1f} ms"
            f"  {first_bytes:>10,} bytes"
        )
        print(
            f"   {changes} changes on shown rows (rows updated: {inc_rows},"
            f" ~{controls_touched} controls, {inc_msgs} messages):"
        )
        print(f"     state: re-read the ordered lists {inc_reload:8.1f} ms")
        print(
            f"     view: sync_rows + page.update(*dirty) {inc_ms:8.1f} ms  {inc_bytes:>10,} bytes"
        )
        print(
            f"   {changes} changes on rows not shown (rows updated: {hid_rows},"
            f" {hid_msgs} messages):"
        )
        print(f"     state: re-read the ordered lists {hid_reload:8.1f} ms")
        print(f"     view: sync_rows (+ update if any) {hid_ms:8.1f} ms  {hid_bytes:>10,} bytes")
        print(
            f"   'Show more' (list now {more_rows} rows):"
            f" {more_ms:8.1f} ms  {more_bytes:>10,} bytes"
        )
        print(f"   same change via page.update():   {whole_ms:8.1f} ms  {whole_bytes:>10,} bytes")
        print(f"   rebuilding every shown row:      {full_ms:8.1f} ms  {full_bytes:>10,} bytes")
        print(f"   time ratio view patch / whole-page update: {inc_ms / max(whole_ms, 1e-9):8.3f}")
        print(f"   time ratio view patch / rebuild:           {inc_ms / max(full_ms, 1e-9):8.3f}")
        await state.api.aclose()
        store.close()

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cached", type=int, default=500)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    if not args.skip_browser:
        if Path(CHROMIUM).exists():
            browser_part(args.cached, args.runs)
        else:
            print("1. skipped: /usr/bin/chromium is missing (apt-get install chromium)")
    patch_part(args.rows, args.changes)


if __name__ == "__main__":
    main()
