"""The installed ``portal`` command: its non-interactive sub-commands."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from backend.scheduling import BookingPolicy, HaversineTravel, Location, VisitRequest
from backend.scheduling import Technician as SchedTechnician
from backend.scheduling import instance as instance_module

LYON = Location(45.764, 4.8357)


def portal(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the console script installed with the project (``pip install -e .``)."""
    exe = shutil.which("portal", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-m", "app.cli"]
    return subprocess.run(
        [*command, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_portal_scheduling_propose_prints_json(tmp_path: Path) -> None:
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    inst = instance_module.Instance(
        technicians=[
            SchedTechnician(
                id="karim",
                name="Karim",
                skills=frozenset({"boiler"}),
                home=LYON,
                working_hours={d: [(480, 1080)] for d in range(5)},
            )
        ],
        visits=[],
        request=VisitRequest(Location(45.75, 4.85), 60, frozenset({"boiler"})),
        policy=BookingPolicy(horizon_days=7, proposals=3),
        now=now,
        tz=ZoneInfo("Europe/Paris"),
        travel=HaversineTravel(),
    )
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(instance_module.dump(inst)), encoding="utf-8")
    done = portal("scheduling", "propose", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    proposals = json.loads(done.stdout)["proposals"]
    assert len(proposals) == 3
    assert all(p["technician_id"] == "karim" for p in proposals)
    first = datetime.fromisoformat(proposals[0]["window_start"])
    assert first >= now + timedelta(hours=24)  # the default minimum notice


def test_portal_scheduling_propose_rejects_a_bad_instance(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"technicians": "nope"}', encoding="utf-8")
    done = portal("scheduling", "propose", str(path), cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_portal_demo_seeds_a_database(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    done = portal(
        "demo",
        "--db",
        str(db),
        "--technicians",
        "3",
        "--clients",
        "10",
        "--activities",
        "40",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert db.exists()
    again = portal("demo", "--db", str(db), cwd=tmp_path)  # idempotent: nothing rewritten
    assert again.returncode == 0, again.stderr
