"""Benchmark the push of queued forms: one batch of 100 vs 100 requests of one.

Usage:
    python bench/bench_push.py                 # 100 mutations, 5 rounds
    python bench/bench_push.py --mutations 50 --rounds 3

The backend runs in-process behind ``httpx.ASGITransport`` on a temporary
SQLite file, as the embedded app talks to it. Each mutation is a ``fill_form``
with a few fields, with and without a typical signature (20 strokes drawn on the
app's own pad model), all on
one activity (each becomes a new version; each round and mode has its own).
Measured in the same run, median over ``--rounds``: the time to push
``--mutations`` items as one ``POST /mutations`` and as one request per item;
the ratio (goal: batch <= 20 % of one by one).
Also prints the size of a typical signature answer (goal: <= 10 kB).

It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from backend import forms  # noqa: E402
from backend.api.main import create_app  # noqa: E402
from backend.core.config import Settings  # noqa: E402
from backend.models import (  # noqa: E402
    Activity,
    ActivityType,
    BusinessUnit,
    Client,
    FormDefinition,
    Site,
)
from backend.services import feed  # noqa: E402
from backend.services.sessions import create_session  # noqa: E402

FIELDS = [
    {"key": "door_code", "type": "text", "label": "Door code", "required": True},
    {"key": "floor", "type": "number", "label": "Floor", "min": -2, "max": 40},
    {"key": "pets", "type": "yes_no", "label": "Any pets?"},
    {"key": "notes", "type": "textarea", "label": "Notes"},
    {"key": "signature", "type": "signature", "label": "Signature"},
]


def typical_signature(strokes: int = 20, points: int = 24) -> dict[str, Any]:
    """A hand-like signature as the app queues it: wavy strokes drawn on the app's
    pad model (``app.forms.signature``: a phone-sized box, whole pixels, each
    finished stroke simplified), from ``points`` pointer positions per stroke."""
    from app.forms.signature import SignatureStrokes

    pad = SignatureStrokes(width=358, height=180)
    for s in range(strokes):
        x0 = 10 + 330 * s / strokes
        for p in range(points):
            x = x0 + 14 * p / points
            y = 90 + 54 * math.sin(p / 3 + s)
            if p == 0:
                pad.begin(x, y)
            else:
                pad.extend(x, y)
        pad.end()
    answer = pad.answer()
    assert answer is not None
    return answer


def build(app: Any, activities: int = 1) -> tuple[str, list[int]]:
    now = datetime.now(UTC)
    db = app.state.sessionmaker()
    try:
        bu = BusinessUnit(name="Bench Heating", email="", phone="+33 4 72 00 00 00")
        db.add(bu)
        db.flush()
        form = FormDefinition(business_unit_id=bu.id, name="Access", fields=FIELDS)
        db.add(form)
        db.flush()
        kind = ActivityType(
            business_unit_id=bu.id,
            name="Boiler service",
            portal_actions=[
                {
                    "key": "access",
                    "kind": "fill_form",
                    "label": "Access",
                    "form_id": form.id,
                    "notify_planning": False,
                    "conditions": {"statuses": [], "timing": "any", "min_hours_before": 0},
                }
            ],
        )
        client = Client(business_unit_id=bu.id, name="Bench Client")
        client.sites.append(Site(label="Home", city="Lyon", latitude=45.76, longitude=4.83))
        db.add_all([kind, client])
        db.flush()
        rows = [
            Activity(
                business_unit_id=bu.id,
                client_id=client.id,
                site_id=client.sites[0].id,
                type_id=kind.id,
                status="scheduled",
                scheduled_start=now + timedelta(days=3),
                scheduled_end=now + timedelta(days=3, hours=1),
            )
            for _ in range(activities)
        ]
        db.add_all(rows)
        db.flush()
        feed.refresh_client(db, client.id)
        token = create_session(db, app.state.settings, client.id, "code", now)
        db.commit()
        return token, [a.id for a in rows]
    finally:
        db.close()


def queued(activity_id: int, signature: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "mutation_id": str(uuid.uuid4()),
        "kind": "fill_form",
        "activity_id": activity_id,
        "action_key": "access",
        "payload": {
            "answers": {
                "door_code": "12A34",
                "floor": 3,
                "pets": False,
                "notes": "Ring twice.",
                **({"signature": signature} if signature else {}),
            }
        },
        "device_id": "bench",
        "channel": "app",
    }


async def run(count: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=f"sqlite:///{Path(tmp) / 'portal.db'}",
            secret_key="bench-secret",
            log_messages=False,
        )
        app = create_app(settings)
        # Each round and mode on its own activity, so rounds start alike.
        token, activity_ids = build(app, 4 * rounds)
        headers = {"Authorization": f"Bearer {token}"}
        signature = typical_signature()
        transport = httpx.ASGITransport(app=app)
        figures: dict[str, tuple[float, float]] = {}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for label, drawn in (("with a signature", signature), ("text answers only", None)):
                batch_times: list[float] = []
                single_times: list[float] = []
                for _round in range(rounds):
                    ids = activity_ids.pop(), activity_ids.pop()
                    items = [queued(ids[0], drawn) for _ in range(count)]
                    start = time.perf_counter()
                    r = await http.post("/mutations", json={"mutations": items}, headers=headers)
                    batch_times.append(time.perf_counter() - start)
                    assert {x["status"] for x in r.json()["results"]} == {"applied"}, r.text[:300]
                    items = [queued(ids[1], drawn) for _ in range(count)]
                    start = time.perf_counter()
                    for one in items:
                        r = await http.post(
                            "/mutations", json={"mutations": [one]}, headers=headers
                        )
                        assert r.json()["results"][0]["status"] == "applied", r.text[:300]
                    single_times.append(time.perf_counter() - start)
                figures[label] = (statistics.median(batch_times), statistics.median(single_times))
        app.state.engine.dispose()
    size = len(forms.canonical_json(signature).encode())
    print(f"python {platform.python_version()} on {platform.machine()}, {count} mutations")
    for label, (batch, single) in figures.items():
        print(f"{label}:")
        print(f"  one batch of {count}:      {batch * 1000:8.1f} ms (median of {rounds})")
        print(f"  {count} requests of one:   {single * 1000:8.1f} ms (median of {rounds})")
        print(f"  batch / one by one:    {batch / single:8.1%}  (goal <= 20 %)")
    print(f"typical signature (20 strokes x 24 points): {size} bytes  (goal <= 10,000)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.mutations, args.rounds))


if __name__ == "__main__":
    main()
