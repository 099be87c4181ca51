"""Benchmark the form screen in Chromium: opening a 50-field form, and drawing a signature.

Usage:
    python bench/bench_forms.py [--runs 5] [--strokes 20]

The app runs as ``portal app --web`` on a prepared local cache (one
appointment, a 50-field form and a quote-like form with a signature) against
an unreachable server, so nothing changes under the timer.

1. **Opening a 50-field form vs the appointment's detail** (same run, same
   session, phone viewport): from the list, a tap on the appointment until its
   title is on screen; from the appointment, a tap on the form's button until
   its first field and its title are on screen. Goal: the form ≤ 1.5× the
   detail. Medians of ``--runs``.
2. **A signature drawn with the mouse**: ``--strokes`` strokes of ~0.5 s each
   on the pad; every WebSocket frame the browser receives while drawing is
   counted. Reported: bytes per stroke (goal ≤ 1 kB), the first five strokes
   against the last five (earlier strokes are never sent again, so they
   match), and the size of the signature answer as queued (goal ≤ 10 kB),
   read from the draft the app kept.

It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.bench_app import (  # noqa: E402
    BROWSER_ARGS,
    CHROMIUM,
    activity_doc,
    fill_cache,
    free_port,
    open_semantics,
    wait_port,
)

FIELD_TYPES = ("text", "number", "yes_no", "choice", "date", "textarea", "rating", "time")


def big_form() -> dict[str, Any]:
    """50 fields of every kind a client types or picks (no photo: nothing to pick here)."""
    fields: list[dict[str, Any]] = [
        {"key": "intro", "type": "display_text", "label": "Hello {client.name}, a few questions."}
    ]
    for i in range(1, 50):
        kind = FIELD_TYPES[i % len(FIELD_TYPES)]
        field: dict[str, Any] = {"key": f"f{i}", "type": kind, "label": f"Question {i} ({kind})"}
        if kind == "choice":
            field["choices"] = ["First option", "Second option", "Third option"]
        if kind == "number":
            field.update(min=0, max=100)
        fields.append(field)
    return {"id": 1, "name": "Big form", "fields": fields}


def sign_form() -> dict[str, Any]:
    return {
        "id": 2,
        "name": "Sign",
        "fields": [{"key": "signature", "type": "signature", "label": "Signature"}],
    }


def prepare(tmp: Path) -> Path:
    """The cache: one scheduled appointment with the two forms as actions."""
    from app.sync.engine import open_store

    cache = tmp / "data" / "cache.sqlite3"
    fill_cache(cache, 0)
    doc = activity_doc(150)
    doc["actions"] = [
        {"key": "big", "kind": "fill_form", "label": "Fill the big form", "form_id": 1},
        {"key": "sign", "kind": "fill_form", "label": "Sign here", "form_id": 2},
    ]
    store = open_store(cache)
    with store.transaction():
        store.put("activities", "150", doc)
        store.put("forms", "1", big_form())
        store.put("forms", "2", sign_form())
    store.close()
    (tmp / "keyring.json").write_text('{"field-portal/session": "bench-token"}')
    return cache


def start(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO_ROOT),
        FLET_FORCE_WEB_SERVER="1",
        PYTHON_KEYRING_BACKEND="tests.e2e.file_keyring.FileKeyring",
        E2E_KEYRING_FILE=str(tmp / "keyring.json"),
    )
    cmd = [
        sys.executable, "-m", "app.cli", "app", "--web", "--port", str(port),
        "--data-dir", str(tmp / "data"), "--server", "http://127.0.0.1:9",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_port(port, proc)
    return proc, f"http://127.0.0.1:{port}"


def time_open(page: Any, runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"detail": [], "form": []}
    row = page.get_by_role("button").filter(has_text="Entretien chaudière #150").first
    for _ in range(runs):
        row.wait_for(timeout=60_000)
        t0 = time.perf_counter()
        row.click()
        page.get_by_text("Visite annuelle").wait_for(timeout=60_000)
        times["detail"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        page.get_by_role("button", name="Fill the big form").click()
        page.get_by_text("Hello Claire Chauvin, a few questions.").wait_for(timeout=60_000)
        page.get_by_role("textbox", name="Question 1 (number)").wait_for(timeout=60_000)
        times["form"].append(time.perf_counter() - t0)
        page.get_by_role("button", name="Back to the appointment").first.click()
        page.get_by_role("button", name="Back to appointments").click()
    return times


def draw(page: Any, strokes: int) -> list[int]:
    """Draw ``strokes`` strokes; bytes the browser received during each."""
    received: list[int] = [0]

    def on_socket(ws: Any) -> None:
        def frame(payload: Any) -> None:
            received[0] += len(payload)

        ws.on("framereceived", frame)

    page.on("websocket", on_socket)
    return received  # filled by the caller's drawing loop


def stroke_bytes(browser: Any, url: str, strokes: int) -> tuple[list[int], float]:
    page = browser.new_page(viewport={"width": 390, "height": 844})
    counter = draw(page, strokes)
    open_semantics(page, url + "/activities/150/forms/sign")
    pad = page.get_by_label("Signature box: Signature", exact=True)
    pad.wait_for(timeout=60_000)
    box = pad.bounding_box()
    assert box is not None
    page.wait_for_timeout(1500)  # the first screen's messages are not drawing
    per_stroke: list[int] = []
    started = time.perf_counter()
    for i in range(strokes):
        x0 = box["x"] + 15 + (i % 10) * (box["width"] - 60) / 10
        y0 = box["y"] + 30 + (i // 10) * 60
        before = counter[0]
        page.mouse.move(x0, y0)
        page.mouse.down()
        for step in range(1, 16):
            page.mouse.move(x0 + step * 2.2, y0 + (step % 5) * 6)
            page.wait_for_timeout(30)
        page.mouse.up()
        page.wait_for_timeout(250)  # the last patches arrive
        per_stroke.append(counter[0] - before)
    elapsed = time.perf_counter() - started
    page.close()
    return per_stroke, elapsed


def answer_size(cache: Path) -> int:
    from app.forms.drafts import Drafts
    from app.sync.engine import open_store

    store = open_store(cache)
    try:
        draft = Drafts(store).load("150", "sign")
        answer = draft.answers.get("signature") if draft else None
        return len(json.dumps(answer, separators=(",", ":")).encode()) if answer else 0
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--strokes", type=int, default=20)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bench-forms-"))
    cache = prepare(tmp)
    proc, url = start(tmp)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 390, "height": 844})
            open_semantics(page, url + "/activities")
            times = time_open(page, args.runs)
            page.close()
            per_stroke, elapsed = stroke_bytes(browser, url, args.strokes)
            browser.close()
    finally:
        proc.terminate()
        proc.wait()
    med = statistics.median
    detail, form = med(times["detail"]), med(times["form"])
    ratio = form / detail
    print(f"\n1. Open in Chromium, phone viewport (median of {args.runs}, same session)")
    print(f"   appointment detail, tap -> title visible:        {detail * 1000:7.0f} ms")
    print(f"   50-field form, tap -> first fields visible:      {form * 1000:7.0f} ms")
    print(
        f"   ratio form / detail: {ratio:.2f}x (goal <= 1.5x):"
        f" {'met' if ratio <= 1.5 else 'missed'}"
    )
    mean = statistics.mean(per_stroke)
    first, last = statistics.mean(per_stroke[:5]), statistics.mean(per_stroke[-5:])
    size = answer_size(cache)
    print(f"\n2. Signature: {len(per_stroke)} strokes of 15 moves drawn in {elapsed:.1f} s")
    print(
        f"   bytes received by the browser per stroke: mean {mean:.0f}, max {max(per_stroke)}"
        f" (goal <= 1000): {'met' if max(per_stroke) <= 1000 else 'missed'}"
    )
    print(
        f"   first 5 strokes {first:.0f} B each, last 5 {last:.0f} B each"
        f" (ratio {last / first:.2f}: earlier strokes are not sent again)"
    )
    print(
        f"   signature answer as queued: {size} bytes (goal <= 10 kB):"
        f" {'met' if size <= 10_000 else 'missed'}"
    )


if __name__ == "__main__":
    main()
