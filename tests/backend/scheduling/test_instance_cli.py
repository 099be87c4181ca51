"""``portal scheduling propose``: a bad instance is one clear line and exit 2, never a traceback."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backend.scheduling import instance as instance_module

ROOT = Path(__file__).resolve().parents[3]

VALID: dict[str, Any] = {
    "timezone": "Europe/Paris",
    "now": "2025-06-09T09:00:00+02:00",
    "travel": {"model": "haversine", "circuity": 1.3, "speed_kmh": 30.0},
    "policy": {"horizon_days": 14, "window_starts": [480, 600, 780, 900], "proposals": 6},
    "technicians": [
        {
            "id": "t1",
            "name": "Ana",
            "skills": ["gas"],
            "home": {"lat": 45.76, "lon": 4.84},
            "working_hours": {"0": [[480, 720], [780, 1020]], "1": [[480, 1020]]},
            "absences": [["2025-06-12T00:00:00+02:00", "2025-06-13T00:00:00+02:00"]],
        }
    ],
    "visits": [
        {
            "id": "v1",
            "technician_id": "t1",
            "location": {"lat": 45.77, "lon": 4.85},
            "start": "2025-06-10T09:00:00+02:00",
            "duration_min": 60,
            "window_start": "2025-06-10T08:00:00+02:00",
            "window_end": "2025-06-10T10:00:00+02:00",
        }
    ],
    "request": {
        "location": {"lat": 45.75, "lon": 4.83},
        "duration_min": 45,
        "required_skills": ["gas"],
        "preferred_technician_id": None,
        "exclude_visit_id": None,
    },
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """A copy of VALID with ``a.b[0].c`` set to value (``...`` deletes it)."""
    data = copy.deepcopy(VALID)
    parts: list[Any] = []
    for piece in path.replace("]", "").split("."):
        name, *indices = piece.split("[")
        parts.append(name)
        parts.extend(int(i) for i in indices)
    target: Any = data
    for part in parts[:-1]:
        target = target[part]
    if value is ...:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return data


def _run(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    path = tmp_path / "instance.json"
    path.write_text(text, encoding="utf-8")
    code = instance_module.main(["propose", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_documented_instance_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(tmp_path, json.dumps(VALID), capsys)
    assert code == 0, err
    assert json.loads(out)["proposals"]


# (what the instance says, the field the one-line message must name)
BAD: list[tuple[str, Any, str]] = [
    # Inputs that gave a traceback.
    ("technicians[0].working_hours", [[480, 1020]], "technicians[0].working_hours"),
    ("policy.horizon_days", None, "policy.horizon_days"),
    ("policy.min_notice_hours", "24", "policy.min_notice_hours"),
    ("policy.detour_weight", None, "policy.detour_weight"),
    ("policy.horizon_days", 2.5, "policy.horizon_days"),
    ("policy.proposals", 2.5, "policy.proposals"),
    ("policy.horizon_days", 10**9, "policy.horizon_days"),
    ("now", "9999-12-31T23:00:00+00:00", "now"),
    ("now", "0001-01-01T00:00:00+01:00", "now"),
    ("now", "2025-06-09T09:00:00", "now"),
    ("now", "next tuesday", "now"),
    ("timezone", "Mars/Olympus_Mons", "timezone"),
    ("technicians", "nope", "technicians"),
    ("technicians[0].home", None, "technicians[0].home"),
    # Nonsense that was accepted silently.
    ("visits[0].duration_min", -30, "visits[0].duration_min"),
    ("request.duration_min", -1, "request.duration_min"),
    ("visits[0].window_end", "2025-06-10T07:00:00+02:00", "visits[0]"),
    (
        "technicians[0].absences",
        [["2025-06-13T00:00:00+02:00", "2025-06-12T00:00:00+02:00"]],
        "technicians[0].absences",
    ),
    ("technicians[0].working_hours", {"0": [[1020, 480]]}, "technicians[0].working_hours"),
    ("technicians[0].working_hours", {"7": [[480, 1020]]}, "technicians[0].working_hours"),
    ("request.required_skills", "gas", "request.required_skills"),
    ("technicians[0].skills", "gas", "technicians[0].skills"),
    ("technicians[0].home.lat", 200, "technicians[0].home.lat"),
    ("request.location.lon", -181, "request.location.lon"),
    ("policy.proposals", -1, "policy.proposals"),
    ("policy.window_starts", [600, 480], "policy.window_starts"),
    ("policy.surprise", 1, "policy.surprise"),
    ("travel.model", "osrm", "travel.model"),
    ("visits[0].technician_id", "ghost", "visits[0].technician_id"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD, ids=[f"{p}={v!r}" for p, v, _ in BAD])
def test_a_bad_value_is_one_line_naming_the_field_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str, value: Any, field: str
) -> None:
    code, out, err = _run(tmp_path, json.dumps(_with(path, value)), capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("invalid instance: ")
    assert field in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize("path", ["visits[0].duration_min", "request.duration_min"])
def test_non_finite_durations_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], number: str, path: str
) -> None:
    text = json.dumps(_with(path, "@@")).replace('"@@"', number)
    code, _, err = _run(tmp_path, text, capsys)
    assert code == 2
    assert err.startswith(f"invalid instance: {path}: ")
    assert "finite" in err


def test_duplicate_technician_ids_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.deepcopy(VALID)
    data["technicians"].append(copy.deepcopy(data["technicians"][0]))
    code, _, err = _run(tmp_path, json.dumps(data), capsys)
    assert code == 2
    assert err.strip() == (
        "invalid instance: technicians: duplicate technician id 't1' (entries 0 and 1)"
    )


def test_a_missing_field_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(tmp_path, json.dumps(_with("request", ...)), capsys)
    assert code == 2
    assert err.strip() == "invalid instance: missing field: request"
    _, _, err = _run(tmp_path, json.dumps(_with("technicians[0].home", ...)), capsys)
    assert err.strip() == "invalid instance: missing field: technicians[0].home"


def test_several_problems_are_counted_on_the_same_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _with("policy.proposals", -1)
    data["policy"]["horizon_days"] = 0
    _, _, err = _run(tmp_path, json.dumps(data), capsys)
    assert err.count("\n") == 1
    assert "(and 1 more problem)" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ("{", "not valid JSON"),
        ("[]", "invalid instance: "),
        ("", "not valid JSON"),
    ],
    ids=["nested-100000-deep", "truncated", "a-list", "empty"],
)
def test_unusable_json_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    code, _, err = _run(tmp_path, text, capsys)
    assert code == 2
    assert err.count("\n") == 1 and expected in err


def test_a_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = instance_module.main(["propose", str(tmp_path / "nowhere.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == f"cannot read {tmp_path / 'nowhere.json'}: No such file or directory"


# --- through the installed command --------------------------------------------------------


def _command() -> list[str]:
    exe = shutil.which("portal", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "app.cli"]


def test_the_command_reports_a_deep_instance_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    done = subprocess.run(
        [*_command(), "scheduling", "propose", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("invalid instance: not valid JSON")
    assert "Traceback" not in done.stderr


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    # A year of days and four windows a day: far more output than a pipe holds.
    data = _with("policy", {"horizon_days": 366, "min_notice_hours": 0, "proposals": 10_000})
    data["technicians"][0]["working_hours"] = {str(d): [[0, 1440]] for d in range(7)}
    data["technicians"][0]["absences"] = []
    path = tmp_path / "year.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    process = subprocess.Popen(
        [*_command(), "scheduling", "propose", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().strip() == b"{"  # like `| head -n 1`
    process.stdout.close()
    err = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=120) == 1
    assert err == ""
