"""Reports: generation time and size of a report with 5 photos and 2 signatures (PDF and
Word), and the cached re-read as a share of the generation.

Run: ``.venv/bin/python bench/bench_reports.py [--rounds 5]``

Through the real path on a real SQLite file: staff close an activity with
``POST /staff/activities/{id}/closure`` (photos decoded, downscaled, report
rendered and stored, feed refreshed) and the client downloads the report
with ``GET /activities/{id}/documents/report.pdf``, in-process over
``httpx.ASGITransport``. "Generation" is the render itself
(``backend.reports.render``, timed around the call); "cached re-read" is the
client's download of the stored bytes (session check, ownership, one read),
and a document refresh with nothing changed (compose, compare keys, no render).
Goal: cached re-read <= 5 % of generation.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from PIL import Image  # noqa: E402

import backend.reports  # noqa: E402
from backend.api.main import create_app  # noqa: E402
from backend.core.config import Settings  # noqa: E402
from backend.core.db import begin_write  # noqa: E402
from backend.models import Activity  # noqa: E402
from backend.services import documents, feed  # noqa: E402
from backend.services.sessions import create_session  # noqa: E402
from tests import factories  # noqa: E402

STAFF = {"X-Staff-Token": "bench-staff-token"}
SIGNATURE = {"strokes": [[[0.1, 0.5], [0.4, 0.3], [0.9, 0.6]], [[0.2, 0.8], [0.7, 0.8]]]}
CLIENT_SIGNATURE = {"strokes": [[[0.2, 0.8], [0.5, 0.2], [0.8, 0.7]]]}


def phone_photo(seed: int) -> bytes:
    """A 12-megapixel-like camera JPEG: smooth shapes and sensor noise (3000 x 2250)."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize((3000, 2250)).convert("RGB")
    noise = Image.frombytes("L", (3000, 2250), rng.randbytes(3000 * 2250)).convert("RGB")
    image = Image.blend(image, noise, 0.06)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def body(photos: list[bytes]) -> dict[str, Any]:
    return {
        "summary": "Entretien annuel : chaudière révisée, brûleur nettoyé, joint remplacé.",
        "work_done": ["Nettoyage du corps de chauffe", "Contrôle CO : 12 ppm", "Joint remplacé"],
        "answers": [{"label": "Pression", "value": "1,5 bar"}],
        "photos": [
            {
                "media_type": "image/jpeg",
                "data": base64.b64encode(p).decode(),
                "caption": f"Vue {i}",
            }
            for i, p in enumerate(photos)
        ],
        "technician_signature": SIGNATURE,
        "client_signature": CLIENT_SIGNATURE,
        "client_signer_name": "Alice Martin",
    }


async def run(rounds: int) -> None:
    renders: list[tuple[str, float, int]] = []
    real = backend.reports.render

    def timed(document: Any, fmt: Any) -> bytes:
        start = time.perf_counter()
        data = real(document, fmt)
        renders.append((fmt, time.perf_counter() - start, len(data)))
        return data

    backend.reports.render = timed  # type: ignore[assignment]
    photos = [phone_photo(i) for i in range(5)]
    sent = sum(len(p) for p in photos)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
            secret_key="bench-secret",
            staff_token=STAFF["X-Staff-Token"],
            log_messages=False,
        )
        now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        app = create_app(settings, clock=lambda: now)
        db = app.state.sessionmaker()
        begin_write(db)
        bu = factories.business_unit(db, logo="logo.png", report_formats="both")
        alice = factories.client(db, bu)
        kind = factories.activity_type(db, bu)
        tech = factories.technician(db, bu)
        targets = [
            factories.activity(db, alice, kind, now - timedelta(hours=2), tech=tech)
            for _ in range(rounds)
        ]
        db.flush()
        feed.refresh_client(db, alice.id)
        token = create_session(db, settings, alice.id, "code", now)
        db.commit()
        ids = [a.id for a in targets]
        db.close()
        auth = {"Authorization": f"Bearer {token}"}
        closes: list[float] = []
        reads: dict[str, list[float]] = {"pdf": [], "docx": []}
        refreshes: list[float] = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for activity_id in ids:
                start = time.perf_counter()
                r = await http.post(
                    f"/staff/activities/{activity_id}/closure", json=body(photos), headers=STAFF
                )
                closes.append(time.perf_counter() - start)
                assert r.status_code == 200, r.text
                listed = {d["key"]: d for d in r.json()["documents"]}
                for fmt in ("pdf", "docx"):
                    url = listed[f"report.{fmt}"]["url"]
                    for _ in range(5):
                        start = time.perf_counter()
                        got = await http.get(url, headers=auth)
                        reads[fmt].append(time.perf_counter() - start)
                        assert len(got.content) == listed[f"report.{fmt}"]["size"]
                session = app.state.sessionmaker()
                begin_write(session)
                start = time.perf_counter()
                changed = documents.refresh(session, session.get_one(Activity, activity_id))
                refreshes.append(time.perf_counter() - start)
                assert not changed
                session.rollback()
                session.close()
        app.state.engine.dispose()
    backend.reports.render = real  # type: ignore[assignment]

    def ms(values: list[float]) -> float:
        return statistics.median(values) * 1000

    print(
        f"python {platform.python_version()}, {rounds} reports, 5 photos "
        f"({sent / 1e6:.1f} MB of 3000x2250 JPEG sent) and 2 signatures each"
    )
    print(
        f"closure request (decode + downscale 5 photos, render PDF and DOCX, store): "
        f"median {ms(closes):.0f} ms"
    )
    for fmt in ("pdf", "docx"):
        times = [t for f, t, _ in renders if f == fmt]
        sizes = [s for f, _, s in renders if f == fmt]
        generate = ms(times)
        read = ms(reads[fmt])
        print(
            f"{fmt}: generation median {generate:.1f} ms, size {max(sizes) / 1024:.0f} KiB; "
            f"cached re-read (client download) median {read:.2f} ms = "
            f"{100 * read / generate:.1f} % of generation"
        )
    total = ms([t for _, t, _ in renders]) * 2
    print(
        f"refresh with nothing changed (compose both, compare keys): median "
        f"{ms(refreshes):.1f} ms = {100 * ms(refreshes) / total:.1f} % of generating both"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(run(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
