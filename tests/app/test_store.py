"""The local document store on real SQLite files."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.sync import paths
from app.sync.outbox import Outbox
from app.sync.store import MIGRATIONS, Field, Store, StoreError

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "cache.sqlite3") as opened:
        yield opened


def activity(n: int, *, status: str = "planned", day: int | None = None) -> dict:
    day = n % 28 + 1 if day is None else day
    return {
        "id": f"a{n}",
        "title": f"Visit {n}",
        "status": status,
        "start": f"2026-11-{day:02d}T09:00:00+00:00",
        "technician": {"name": "Ana"},
    }


# -- opening ------------------------------------------------------------------


def test_open_sets_durable_pragmas(store: Store) -> None:
    pragmas = {
        name: store.fetchall(f"PRAGMA {name}")[0][0]
        for name in ("journal_mode", "synchronous", "foreign_keys")
    }
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}


def test_open_creates_parent_directories(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a" / "b" / "cache.sqlite3") as store:
        store.put("activities", "a1", activity(1))
    assert (tmp_path / "a" / "b" / "cache.sqlite3").exists()


# -- documents ----------------------------------------------------------------


def test_put_get_replace_delete(store: Store) -> None:
    assert store.get("activities", "a1") is None
    store.put("activities", "a1", activity(1))
    assert store.get("activities", "a1") == activity(1)

    store.put("activities", "a1", activity(1, status="done"))
    assert store.get("activities", "a1")["status"] == "done"
    assert store.count("activities") == 1

    assert store.delete("activities", "a1") is True
    assert store.delete("activities", "a1") is False
    assert store.get("activities", "a1") is None


def test_collections_are_separate(store: Store) -> None:
    store.put("activities", "x", {"kind": "activity"})
    store.put("sites", "x", {"kind": "site"})
    assert store.get("activities", "x") == {"kind": "activity"}
    assert store.get("sites", "x") == {"kind": "site"}
    assert store.count("activities") == 1


def test_put_many_and_unicode_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    with Store.open(path) as store:
        count = store.put_many("activities", [(f"a{n}", activity(n)) for n in range(50)])
        store.put("sites", "s1", {"address": "Rua São João 3, 1º Esq."})
    assert count == 50
    with Store.open(path) as store:
        assert store.count("activities") == 50
        assert store.get("activities", "a7") == activity(7)
        assert store.get("sites", "s1") == {"address": "Rua São João 3, 1º Esq."}


def test_non_json_values_are_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        store.put("activities", "a1", {"duration": float("nan")})
    assert store.count("activities") == 0


# -- queries ------------------------------------------------------------------


def test_query_filters_orders_and_limits(store: Store) -> None:
    store.put_many(
        "activities",
        [
            ("a1", activity(1, day=5)),
            ("a2", activity(2, day=1, status="done")),
            ("a3", activity(3, day=20)),
            ("a4", activity(4, day=10)),
        ],
    )
    upcoming = store.query("activities", Field("start") >= "2026-11-05", order_by="start", limit=2)
    assert [doc["id"] for doc in upcoming] == ["a1", "a4"]

    newest_first = store.query("activities", order_by="-start")
    assert [doc["id"] for doc in newest_first] == ["a3", "a4", "a1", "a2"]

    planned_after = store.query(
        "activities",
        [Field("status") == "planned", Field("start") > "2026-11-05T09:00:00+00:00"],
        order_by="id",
    )
    assert [doc["id"] for doc in planned_after] == ["a3", "a4"]

    assert store.count("activities", Field("status").in_(["done", "cancelled"])) == 1
    assert store.count("activities", Field("status") != "done") == 3
    assert store.count("activities", Field("status").in_([])) == 0
    assert store.count("activities", Field("technician.name") == "Ana") == 4


def test_query_none_and_bool_values(store: Store) -> None:
    store.put("activities", "a1", {"end": None, "urgent": True})
    store.put("activities", "a2", {"urgent": False})
    assert store.count("activities", Field("end") == None) == 2  # noqa: E711
    assert [d["urgent"] for d in store.query("activities", Field("urgent") == True)] == [  # noqa: E712
        True
    ]


def test_field_names_cannot_inject_sql() -> None:
    with pytest.raises(StoreError):
        Field("start') OR 1=1 --")


def test_upcoming_by_start_uses_the_index_without_sorting(store: Store) -> None:
    store.put_many("activities", [(f"a{n}", activity(n)) for n in range(200)])
    plan = store.explain("activities", Field("start") >= "2026-11-10", order_by="start", limit=20)
    text = " | ".join(plan)
    assert "USING INDEX ix_doc_start" in text, plan
    assert "TEMP B-TREE" not in text, plan  # the index also gives the order

    by_status = " | ".join(store.explain("activities", Field("status") == "planned"))
    assert "USING INDEX ix_doc_status" in by_status, by_status


def test_declared_indexes_follow_configuration(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    Store.open(path, indexes={"activities": ("start", "window.from")}).close()
    with Store.open(path, indexes={"activities": ("start",)}) as store:
        names = {
            row[0] for row in store.fetchall("SELECT name FROM sqlite_schema WHERE type = 'index'")
        }
    assert "ix_doc_start" in names
    assert "ix_doc_window__from" not in names  # undeclared ones are dropped


def test_field_columns_match_json_extract(store: Store) -> None:
    # The index columns are filled by Python; they must hold exactly what
    # json_extract gives, or indexed and unindexed queries would disagree.
    odd_values = [
        "2026-11-01",
        "São João",
        7,
        2**70,
        -(2**63),
        1.5,
        -0.0,
        True,
        False,
        None,
        {"b": [1, "x", None]},
        [1, 2.5, "ç"],
    ]
    store.put_many(
        "activities",
        [
            (f"a{n}", {"start": value, "status": {"nested": value}})
            for n, value in enumerate(odd_values)
        ],
    )
    store.put("activities", "missing", {"other": 1})
    store.put("activities", "not-an-object", {"status": "x", "start": [0]})
    mismatches = store.fetchall(
        "SELECT id FROM documents WHERE \"field:start\" IS NOT json_extract(body, '$.start') "
        "OR \"field:status\" IS NOT json_extract(body, '$.status')"
    )
    assert [row[0] for row in mismatches] == []
    assert store.count("activities", Field("start") == 7) == 1


def test_other_store_on_the_file_keeps_columns_right(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    with Store.open(path, indexes={"activities": ("start",)}) as first:
        first.put("activities", "a1", activity(1, day=3))
        # A second store declares another field: the first one must fill
        # that column too from now on, or the second one's queries go wrong.
        with Store.open(path, indexes={"activities": ("start", "technician.name")}) as second:
            first.put("activities", "a2", {**activity(2), "technician": {"name": "Rui"}})
            assert [
                d["id"] for d in second.query("activities", Field("technician.name") == "Rui")
            ] == ["a2"]
            plan = " | ".join(second.explain("activities", Field("technician.name") == "Rui"))
            assert "USING INDEX ix_doc_technician__name" in plan, plan


def test_redeclared_field_is_backfilled(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    Store.open(path).close()
    with Store.open(path, indexes={"activities": ("status",)}) as store:
        # "start" is not declared now: its column is not maintained.
        store.put("activities", "a1", activity(1, day=9))
    with Store.open(path) as store:
        assert [d["id"] for d in store.query("activities", Field("start") >= "2026-11-09")] == [
            "a1"
        ]


def test_new_file_uses_16k_pages(store: Store) -> None:
    assert store.fetchall("PRAGMA page_size")[0][0] == 16384


# -- transactions -------------------------------------------------------------


def test_exception_in_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.put("activities", "a1", activity(1))
        store.set_meta("cursor", "c-1")
        raise RuntimeError("boom")
    assert store.get("activities", "a1") is None
    assert store.get_meta("cursor") is None
    assert not store.in_transaction


def test_transaction_commits_together(store: Store) -> None:
    with store.transaction():
        store.put_many("activities", [("a1", activity(1)), ("a2", activity(2))])
        store.set_meta("cursor", "c-2")
        assert store.in_transaction
    assert store.count("activities") == 2
    assert store.get_meta("cursor") == "c-2"


def test_nested_transaction_is_a_savepoint(store: Store) -> None:
    with store.transaction():
        store.put("activities", "outer", {})
        with pytest.raises(ValueError), store.transaction():
            store.put("activities", "inner", {})
            raise ValueError("inner fails")
        store.put("activities", "after", {})
    assert store.get("activities", "outer") == {}
    assert store.get("activities", "inner") is None
    assert store.get("activities", "after") == {}


def test_other_threads_wait_for_a_transaction(store: Store) -> None:
    seen: list[int] = []
    inside = threading.Event()

    def other_thread() -> None:
        inside.wait()
        # Must not see (or join) the open transaction of the main thread.
        seen.append(store.count("activities"))

    worker = threading.Thread(target=other_thread)
    worker.start()
    with pytest.raises(RuntimeError), store.transaction():
        store.put("activities", "a1", {})
        inside.set()
        worker.join(timeout=0.2)
        assert worker.is_alive()  # blocked on the store lock
        raise RuntimeError("roll back")
    worker.join(timeout=5)
    assert seen == [0]


def test_concurrent_writers_from_threads(store: Store) -> None:
    def writer(prefix: str) -> None:
        for n in range(50):
            with store.transaction():
                store.put("activities", f"{prefix}{n}", {"n": n})

    threads = [threading.Thread(target=writer, args=(p,)) for p in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.count("activities") == 200


# -- meta, clear --------------------------------------------------------------


def test_meta_round_trip(store: Store) -> None:
    assert store.get_meta("cursor", "none") == "none"
    store.set_meta("cursor", "c-1")
    store.set_meta("cursor", "c-2")
    assert store.get_meta("cursor") == "c-2"
    store.delete_meta("cursor")
    assert store.get_meta("cursor") is None


def test_clear_wipes_documents_outbox_and_meta(store: Store) -> None:
    store.put("activities", "a1", activity(1))
    store.set_meta("cursor", "c-1")
    Outbox(store).enqueue("confirm", {"activity": "a1"})
    store.clear()
    assert store.count("activities") == 0
    assert store.get_meta("cursor") is None
    assert Outbox(store).pending_count() == 0
    assert store.fetchall("PRAGMA integrity_check")[0][0] == "ok"


def test_clear_leaves_no_old_data_in_the_files(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    with Store.open(path) as store:
        store.put("activities", "a1", {"note": "SECRET-MARKER-123"})
        store.clear()
        files = [path, Path(f"{path}-wal")]
        leftovers = [f for f in files if f.exists() and b"SECRET-MARKER-123" in f.read_bytes()]
    assert leftovers == []


# -- migrations ---------------------------------------------------------------


def test_new_database_is_at_latest_version(store: Store) -> None:
    assert store.schema_version == len(MIGRATIONS)


def test_migrations_apply_in_order_once(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    Store.open(path).close()

    calls: list[int] = []

    def backfill(conn: sqlite3.Connection) -> None:
        calls.append(1)
        conn.execute("INSERT INTO notes (text) VALUES ('from migration')")

    newer = (*MIGRATIONS, ("CREATE TABLE notes (text TEXT)",), backfill)
    with Store.open(path, migrations=newer) as store:
        assert store.schema_version == len(MIGRATIONS) + 2
        assert store.fetchall("SELECT text FROM notes")[0][0] == "from migration"
    with Store.open(path, migrations=newer):
        pass
    assert calls == [1]


def test_failed_migration_keeps_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    Store.open(path).close()
    broken = (*MIGRATIONS, ("CREATE TABLE ok1 (x)", "THIS IS NOT SQL"))
    with pytest.raises(sqlite3.OperationalError):
        Store.open(path, migrations=broken)
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        tables = {row[0] for row in store.fetchall("SELECT name FROM sqlite_schema")}
        assert "ok1" not in tables


def test_database_from_a_newer_app_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(StoreError, match="newer"):
        Store.open(path)


def _make_version_1_file(path: Path) -> None:
    """A file as the first released schema left it: CHECK and expression indexes."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    for field in ("start", "status"):
        expr = f"json_extract(body, '$.{field}')"
        conn.execute(f"CREATE INDEX ix_doc_{field} ON documents (collection, {expr})")
    conn.executemany(
        "INSERT INTO documents (collection, id, body) VALUES (?, ?, ?)",
        [("activities", f"a{n}", json.dumps(activity(n))) for n in range(30)],
    )
    conn.execute("INSERT INTO meta (key, value) VALUES ('cursor', 'c-9')")
    conn.execute("PRAGMA user_version = 1")
    conn.close()


def test_version_1_file_upgrades_and_keeps_documents(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    _make_version_1_file(path)
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS) >= 2
        assert store.count("activities") == 30
        assert store.get("activities", "a7") == activity(7)
        assert store.get_meta("cursor") == "c-9"
        table_sql = store.fetchall("SELECT sql FROM sqlite_schema WHERE name = 'documents'")[0][0]
        assert "json_valid" not in table_sql
        assert store.fetchall("PRAGMA integrity_check")[0][0] == "ok"
        # The expression indexes were replaced by indexes on filled columns.
        plan = " | ".join(
            store.explain("activities", Field("start") >= "2026-11-10", order_by="start")
        )
        assert "USING INDEX ix_doc_start" in plan and "TEMP B-TREE" not in plan, plan
        upcoming = store.query("activities", Field("start") >= "2026-11-25", order_by="start")
        assert [d["start"][:10] for d in upcoming] == sorted(d["start"][:10] for d in upcoming)
        assert {d["id"] for d in upcoming} == {
            f"a{n}" for n in range(30) if activity(n)["start"] >= "2026-11-25"
        }
        store.put("activities", "new", activity(99, day=28))
        assert store.count("activities", Field("start") >= "2026-11-28") == 2


# -- crash safety -------------------------------------------------------------

CRASH_CHILD = textwrap.dedent(
    """
    import sys
    from app.sync.store import Store

    store = Store.open(sys.argv[1])
    n = 0
    while True:
        n += 1
        with store.transaction():
            store.put("activities", f"a{n % 50}", {"seq": n, "pad": "x" * 2000})
            store.set_meta("last", str(n))
        # Only after COMMIT returned do we report it.
        print(n, flush=True)
    """
)


def test_sigkill_mid_write_loses_no_acknowledged_write(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    Store.open(path).close()  # create and migrate before the child starts
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CRASH_CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )
    acknowledged = 0
    try:
        assert child.stdout is not None
        for line in child.stdout:
            acknowledged = int(line)
            if acknowledged >= 300:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    # Lines already in the pipe were acknowledged too: read what is left.
    # The last piece may be a half-printed number: only whole lines count.
    complete_lines = child.stdout.read().split("\n")[:-1]
    for line in complete_lines:
        acknowledged = int(line)
    assert acknowledged >= 300

    with Store.open(path) as store:
        assert store.fetchall("PRAGMA integrity_check")[0][0] == "ok"
        last = int(store.get_meta("last") or 0)
        assert last >= acknowledged
        # Every acknowledged write is present: each slot holds its latest
        # acknowledged sequence number or a later one.
        for n in range(max(1, acknowledged - 49), acknowledged + 1):
            doc = store.get("activities", f"a{n % 50}")
            assert doc is not None and doc["seq"] >= n


# -- cache location -----------------------------------------------------------


def test_data_dir_prefers_flet_storage(tmp_path: Path) -> None:
    target = tmp_path / "flet" / "data"
    found = paths.data_dir(
        env={"FLET_APP_STORAGE_DATA": str(target), "XDG_DATA_HOME": str(tmp_path / "x")},
        platform="linux",
        home=tmp_path,
    )
    assert found == target and target.is_dir()


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {"XDG_DATA_HOME": "{tmp}/xdg"}, "{tmp}/xdg/field-portal"),
        ("linux", {}, "{tmp}/.local/share/field-portal"),
        ("linux", {"XDG_DATA_HOME": "relative"}, "{tmp}/.local/share/field-portal"),
        ("darwin", {}, "{tmp}/Library/Application Support/field-portal"),
        ("win32", {"APPDATA": "{tmp}/Roaming"}, "{tmp}/Roaming/field-portal"),
    ],
)
def test_data_dir_per_platform(
    tmp_path: Path, platform: str, env: dict[str, str], expected: str
) -> None:
    env = {key: value.format(tmp=tmp_path) for key, value in env.items()}
    found = paths.data_dir(env=env, platform=platform, home=tmp_path)
    assert found == Path(expected.format(tmp=tmp_path))
    assert found.is_dir()
