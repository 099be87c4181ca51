"""The installed ``portal`` command: its non-interactive sub-commands."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app import cli
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


def test_portal_demo_creates_missing_folders_and_regenerates_only_with_force(
    tmp_path: Path,
) -> None:
    small = ("--technicians", "2", "--clients", "6", "--activities", "12")
    # The README's command on a fresh clone: var/ does not exist yet.
    done = portal("demo", "--db", "var/demo.db", *small, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "var" / "demo.db").exists()
    assert "clients 6" in done.stdout

    # Run again with other sizes: nothing changes, and it says so.
    kept = portal("demo", "--db", "var/demo.db", "--clients", "9", cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    assert "already holds data" in kept.stdout
    assert "--force" in kept.stdout
    assert "clients 6" in kept.stdout

    forced = portal(
        "demo",
        "--db",
        "var/demo.db",
        *small[:2],
        "--clients",
        "9",
        "--activities",
        "12",
        "--force",
        cwd=tmp_path,
    )
    assert forced.returncode == 0, forced.stderr
    assert "Created" in forced.stdout
    assert "clients 9" in forced.stdout


def test_portal_demo_names_an_unusable_database_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    done = portal("demo", "--db", str(blocker / "demo.db"), cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        cli.main(list(argv))
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_serve_and_demo_help_explain_every_option_with_its_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    serve = " ".join(help_text(capsys, "serve", "--help").split())
    assert "--host HOST address to listen on (default: 127.0.0.1" in serve
    assert "--port PORT port to listen on (default: 8000)" in serve
    assert "--demo load the demo dataset when the database is empty" in serve

    demo = " ".join(help_text(capsys, "demo", "--help").split())
    for option, default in (
        ("--technicians", 8),
        ("--clients", 60),
        ("--activities", 220),
        ("--seed", 42),
    ):
        assert re.search(rf"{option} \S+ [^-]*\(default: {default}\)", demo), option
    assert "--force delete everything in the database first" in demo
    assert "missing folders are created" in demo


def test_portal_app_keeps_its_data_where_portal_data_dir_says(tmp_path: Path) -> None:
    env = {"PORTAL_DATA_DIR": str(tmp_path / "from-env")}
    assert cli.app_data_dir(None, env) == tmp_path / "from-env"
    assert (tmp_path / "from-env").is_dir()
    # --data-dir wins over the environment; neither: the per-user folder (None).
    assert cli.app_data_dir(str(tmp_path / "opt"), env) == tmp_path / "opt"
    assert cli.app_data_dir(None, {}) is None
