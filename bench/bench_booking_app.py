"""Benchmark the booking screens in Chromium at 200 technicians x 14 days.

Usage:
    python bench/bench_booking_app.py            # 200 technicians, 5 runs, 10 bookings
    python bench/bench_booking_app.py --quick    # 50 technicians, 3 runs, 5 bookings

The world is ``bench_booking.build_big_world`` (technicians with chained visits
on every working day of the 14-day horizon, built around the real "now"), put
where ``portal app --web`` keeps its embedded backend, so the app, the API and
the scheduling assistant run as a client would use them. One client signs in
(its one-time code read from the outbox table) and, in one browser session,
phone viewport:

1. **Screens**, median of ``--runs``: list -> tap a row -> detail visible (the
   reference), tap "Book" -> first proposal visible, and detail -> back to list
   -> first row visible. Printed as milliseconds and as ratios of the detail
   screen; the goal is the slots screen <= 1.5x the detail screen.
2. **Bookings in a row** (``--bookings``): each one opens an unscheduled visit
   from the list, taps "Book", the first proposal, "Confirm", and goes back to
   the list. Per booking: the time from "Book" to booked, the app process's
   RSS, Chromium's JS heap and the number of semantics nodes on the list
   screen (controls left behind would grow it). First and last are compared.

It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

import bench_booking  # noqa: E402
from bench_app import BROWSER_ARGS, CHROMIUM, free_port, open_semantics, wait_port  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from backend.models import Activity, ActivityType, ClientContact  # noqa: E402
from backend.services import feed  # noqa: E402

PHONE = {"width": 390, "height": 844}
WINDOW = re.compile("Arrivée entre|Arrival between")
UNSCHEDULED = re.compile("À planifier|To schedule")


def build_world(directory: Path, techs: int, bookings: int) -> tuple[str, int]:
    """The big world in ``directory/portal.db``; returns the signed-in client's email
    and how many visits it has to book."""
    # The app runs on the real clock: build the schedule around it.
    bench_booking.NOW = datetime.now(bench_booking.TZ)
    world = bench_booking.build_big_world(
        directory, techs, visits_per_day=8, bookers=20, rng=random.Random(7)
    )
    client_id = world.client_ids[0]
    db = world.app.state.sessionmaker()
    try:
        first = db.get(Activity, world.activity_ids[0])
        bookable = db.scalar(select(ActivityType.id).where(ActivityType.name == "Boiler service"))
        extra = [
            {
                "business_unit_id": world.bu_id,
                "client_id": client_id,
                "site_id": first.site_id,
                "type_id": bookable,
                "status": "to_schedule",
                "description": f"Visit {n + 2} to book",
            }
            for n in range(bookings)
        ]
        if extra:
            db.execute(insert(Activity), extra)
        feed.refresh_client(db, client_id)
        email = db.scalar(select(ClientContact.value).where(ClientContact.client_id == client_id))
        db.commit()
    finally:
        db.close()
        world.app.state.engine.dispose()
    print(
        f"world: {techs} technicians x 14 days, {world.background_visits} booked visits, "
        f"built in {world.build_s:.1f} s; the client has {len(extra) + 1} visits to book"
    )
    return str(email), len(extra) + 1


def last_code(db_path: Path, email: str) -> str:
    with sqlite3.connect(db_path) as db:
        row = db.execute(
            "SELECT body FROM outgoing_messages WHERE recipient = ? ORDER BY id DESC LIMIT 1",
            (email,),
        ).fetchone()
    return re.findall(r"\b\d{6}\b", row[0])[-1]


def sign_in(page: Any, db_path: Path, email: str) -> None:
    box = page.get_by_role("textbox", name=re.compile("^(Email or phone number|E-mail ou )"))
    box.wait_for(timeout=60_000)
    box.click()
    page.keyboard.type(email)
    page.get_by_role("button", name=re.compile("^(Send me a code|Recevoir un code)$")).click()
    code = page.get_by_role("textbox", name=re.compile("^(6-digit code|Code à 6 chiffres)"))
    code.wait_for(timeout=30_000)
    code.click()
    page.keyboard.type(last_code(db_path, email))
    page.get_by_role("button", name=re.compile("^(Sign in|Se connecter)$")).click()
    code.wait_for(state="detached", timeout=60_000)


def rows(page: Any) -> Any:
    return page.get_by_role("button").filter(has_text=UNSCHEDULED)


def unscheduled_row(page: Any) -> Any:
    """The first "to schedule" row, scrolling down to it (rows are built lazily,
    and booked visits come first in the list)."""
    for _ in range(40):
        if rows(page).count():
            break
        page.mouse.move(195, 500)
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(150)
    return rows(page).first


def slot_cards(page: Any) -> Any:
    return page.get_by_role("button").filter(has_text=WINDOW)


def timed(action: Any, wait: Any) -> float:
    t0 = time.perf_counter()
    action()
    wait()
    return time.perf_counter() - t0


def back_to_list(page: Any) -> None:
    page.get_by_role(
        "button", name=re.compile("^(Back to appointments|Retour aux rendez-vous)$")
    ).click()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def screens(page: Any, runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"detail": [], "slots": [], "back": []}
    book = page.get_by_role("button", name="Book", exact=True)
    for _ in range(runs):
        row = rows(page).first
        times["detail"].append(timed(row.click, lambda: book.wait_for(timeout=60_000)))
        times["slots"].append(
            timed(book.click, lambda: slot_cards(page).first.wait_for(timeout=60_000))
        )
        page.get_by_role(
            "button", name=re.compile("^(Back to the appointment|Retour au rendez-vous)$")
        ).click()
        book.wait_for()
        times["back"].append(
            timed(lambda: back_to_list(page), lambda: rows(page).first.wait_for(timeout=60_000))
        )
    return times


def bookings_in_a_row(page: Any, pid: int, count: int) -> list[dict[str, float]]:
    figures = []
    book = page.get_by_role("button", name="Book", exact=True)
    booked = page.get_by_text(re.compile("^(Réservé|Booked) : ")).first
    for _ in range(count):
        unscheduled_row(page).click()
        book.wait_for(timeout=60_000)
        t0 = time.perf_counter()
        book.click()
        slot_cards(page).first.wait_for(timeout=60_000)
        slot_cards(page).first.click()
        page.get_by_role("button", name=re.compile("^(Confirm|Confirmer)$")).click()
        booked.wait_for(timeout=60_000)
        elapsed = time.perf_counter() - t0
        back_to_list(page)
        page.get_by_text(re.compile("^(À venir|Upcoming)$")).wait_for(timeout=60_000)
        page.wait_for_timeout(300)
        figures.append(
            {
                "s": elapsed,
                "rss": rss_mb(pid),
                "heap": page.evaluate("performance.memory.usedJSHeapSize") / 2**20,
                "nodes": page.evaluate("document.querySelectorAll('flt-semantics').length"),
            }
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 technicians, fewer runs")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--bookings", type=int, default=None)
    args = parser.parse_args(argv)
    techs = 50 if args.quick else 200
    runs = args.runs or (3 if args.quick else 5)
    count = args.bookings or (5 if args.quick else 10)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-booking-app-") as tmp:
        root = Path(tmp)
        backend_dir = root / "data" / "embedded-backend"
        backend_dir.mkdir(parents=True)
        email, to_book = build_world(backend_dir, techs, count)
        port = free_port()
        env = dict(
            os.environ,
            PYTHONPATH=str(REPO_ROOT),
            FLET_FORCE_WEB_SERVER="1",
            PYTHON_KEYRING_BACKEND="tests.e2e.file_keyring.FileKeyring",
            E2E_KEYRING_FILE=str(root / "keyring.json"),
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
            str(root / "data"),
            "--sync-interval",
            "600",
        ]
        log = (root / "app.log").open("w")  # noqa: SIM115 (closed in finally)
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_port(port, proc, timeout=180)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
                page = browser.new_page(viewport=PHONE)
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                open_semantics(page, f"http://127.0.0.1:{port}/activities")
                sign_in(page, backend_dir / "portal.db", email)
                rows(page).first.wait_for(timeout=120_000)
                try:
                    # Warm up once (first proposals build the engine's index).
                    screens(page, 1)
                    times = screens(page, runs)
                    figures = bookings_in_a_row(page, proc.pid, min(count, to_book))
                except Exception:
                    page.screenshot(path="/tmp/bench_booking_app_failure.png")
                    print("page errors:", errors)
                    raise
                shots = REPO_ROOT / "test-artifacts" / "screenshots"
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / "bench_booking_app_list_after.png"))
                browser.close()
        finally:
            proc.terminate()
            proc.wait()
            log.close()

    med = statistics.median
    detail = med(times["detail"])
    print(
        f"\n1. Screens in Chromium (median of {runs}, phone viewport, "
        f"{techs} technicians x 14 days)"
    )
    print(f"   list -> tap row -> detail visible (reference):  {detail * 1000:7.0f} ms")
    for key, label in (
        ("slots", "detail -> tap Book -> first proposal:       "),
        ("back", "detail -> back -> list row visible:         "),
    ):
        value = med(times[key])
        print(f"   {label}    {value * 1000:7.0f} ms  ({value / detail:.2f}x)")
    ratio = med(times["slots"]) / detail
    print(
        f"   goal slots screen <= 1.5x the detail screen: {ratio:.2f}x, "
        f"{'met' if ratio <= 1.5 else 'missed'}"
    )
    print(f"\n2. {len(figures)} bookings in a row (tap Book -> booked), same session")
    print("   #   time ms   app RSS MB   JS heap MB   semantics nodes")
    for n, f in enumerate(figures, start=1):
        print(
            f"   {n:<3} {f['s'] * 1000:7.0f}   {f['rss']:10.1f}   {f['heap']:10.1f}   "
            f"{f['nodes']:15.0f}"
        )
    if len(figures) >= 2:
        first, last = figures[0], figures[-1]
        half = len(figures) // 2
        early = med([f["s"] for f in figures[:half]])
        late = med([f["s"] for f in figures[half:]])
        print(
            f"   time, median first half -> second half: {early * 1000:.0f} -> {late * 1000:.0f} ms"
            f" ({late / early:.2f}x)"
        )
        print(
            f"   app RSS {first['rss']:.1f} -> {last['rss']:.1f} MB, JS heap "
            f"{first['heap']:.1f} -> {last['heap']:.1f} MB, semantics nodes "
            f"{first['nodes']:.0f} -> {last['nodes']:.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
