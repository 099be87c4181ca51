"""``portal staff create-admin``: the first admin from the command line, its one-time link."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import cli
from backend.core.config import Settings
from backend.staff_models import AuditEntry, StaffUser
from tests import factories

BASE = "https://portal.example.test"
PASSWORD = "a long enough pass phrase"


@pytest.fixture
def units(db: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Two business units, and the CLI's settings pointed at the test's database and key."""
    first = factories.business_unit(db)
    second = factories.business_unit(db, name="Other Heating")
    db.commit()
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PORTAL_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("PORTAL_PUBLIC_BASE_URL", BASE)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(settings.data_dir))
    return [first.id, second.id]


def _link(out: str) -> str:
    lines = [line.strip() for line in out.splitlines() if "/console/set-password#" in line]
    assert len(lines) == 1, out
    return lines[0]


async def _sign_in(http: httpx.AsyncClient, link: str, email: str) -> httpx.Response:
    token = link.split("#", 1)[1]
    done = await http.post("/staff/auth/set-password", json={"token": token, "password": PASSWORD})
    assert done.status_code == 204, done.text
    return await http.post("/staff/auth/login", json={"email": email, "password": PASSWORD})


async def test_create_admin_of_every_unit_prints_a_one_time_link(
    units: list[int], http: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["staff", "create-admin", " Boss@Example.COM ", "--name", "The Boss"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Created admin boss@example.com" in out
    link = _link(out)
    assert link.startswith(f"{BASE}/console/set-password#")
    signed_in = await _sign_in(http, link, "boss@example.com")
    assert signed_in.status_code == 200, signed_in.text
    staff = signed_in.json()["staff"]
    assert staff["name"] == "The Boss"
    assert [(m["business_unit_id"], m["role"]) for m in staff["memberships"]] == [
        (units[0], "admin"),
        (units[1], "admin"),
    ]
    # The link is one-time.
    again = await http.post(
        "/staff/auth/set-password",
        json={"token": link.split("#", 1)[1], "password": "another long pass phrase"},
    )
    assert again.status_code == 404 and "expired" in again.text
    # The audit log of each unit says it was the command line.
    headers = {"Authorization": f"Bearer {signed_in.json()['token']}"}
    for bu in units:
        log = await http.get("/staff/audit", params={"business_unit_id": bu}, headers=headers)
        entries = [e for e in log.json()["items"] if e["action"] == "staff.created"]
        assert [e["actor"]["kind"] for e in entries] == ["cli"]
        assert entries[0]["after"]["role"] == "admin"


async def test_business_units_given_limit_the_memberships(
    units: list[int], http: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["staff", "create-admin", "second@example.com", "--business-unit", str(units[1])]
    assert cli.main(args) == 0
    signed_in = await _sign_in(http, _link(capsys.readouterr().out), "second@example.com")
    memberships = signed_in.json()["staff"]["memberships"]
    assert [m["business_unit_id"] for m in memberships] == [units[1]]


def test_an_existing_email_is_refused_and_left_unchanged(
    units: list[int], db: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["staff", "create-admin", "boss@example.com", "--name", "First"]) == 0
    capsys.readouterr()
    code = cli.main(["staff", "create-admin", "BOSS@example.com", "--name", "Second"])
    captured = capsys.readouterr()
    assert code == 1
    assert "already exists" in captured.err and "set-password" not in captured.out
    db.expire_all()
    names = list(db.scalars(select(StaffUser.name).where(StaffUser.email == "boss@example.com")))
    assert names == ["First"]


def test_unknown_unit_and_bad_email_are_refused_without_writing(
    units: list[int], db: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["staff", "create-admin", "x@example.com", "--business-unit", "999"])
    assert code == 1 and "No business unit with the id 999" in capsys.readouterr().err
    assert cli.main(["staff", "create-admin", "not-an-email"]) == 2
    assert "not an email address" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # argparse: a unit id that is not a number
        cli.main(["staff", "create-admin", "x@example.com", "--business-unit", "abc"])
    assert usage.value.code == 2
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(StaffUser)) == 0
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_a_database_without_business_unit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORTAL_SECRET_KEY", "k")
    code = cli.main(["staff", "create-admin", "a@example.com", "--db", str(tmp_path / "new.db")])
    assert code == 1
    assert "no business unit" in capsys.readouterr().err


def test_the_installed_portal_command_runs_it(units: list[int], tmp_path: Path) -> None:
    exe = shutil.which("portal", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-m", "app.cli"]
    done = subprocess.run(
        [*command, "staff", "create-admin", "ops@example.com"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _link(done.stdout).startswith(f"{BASE}/console/set-password#")
    again = subprocess.run(
        [*command, "staff", "create-admin", "ops@example.com"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 1 and "already exists" in again.stderr
