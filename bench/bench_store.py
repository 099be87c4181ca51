"""Benchmark the app's SQLite document store against TinyDB (JSON file storage).

Usage:
    python bench/bench_store.py            # 10,000 activities, 100 updates, 20 crash trials
    python bench/bench_store.py --quick    # smaller sizes for a fast check

Both stores get the same documents in the same run. Phases:

1. insert N activity documents (ours: one ``put_many`` transaction; TinyDB:
   one ``insert_multiple``);
2. update 100 of them one by one (ours: each a committed transaction;
   TinyDB: each an ``update`` call, which rewrites the whole file);
3. query the upcoming ones (start >= now, ordered by start), all of them and
   the first 50 (what a screen shows).

The insert is repeated (fresh files, alternating order) and reported as the
median, with the range of per-run ratios; ours is also shown including the
WAL checkpoint that SQLite runs later.

Crash demo (deterministic): a child makes 5 acknowledged writes, then SIGKILLs
itself at a fixed point inside one more write: TinyDB after half of its file
rewrite (an insert of one document, and an update of the first document);
ours after the INSERT but before COMMIT, and as COMMIT of a big transaction
starts executing. The parent reopens each file and reports whether it opens,
its integrity, and whether every acknowledged and original document is there.

Then random crash trials: a child process does committed single-document
updates and prints each acknowledged one; the parent SIGKILLs it at a random
moment, reopens the file and checks that it opens and holds every
acknowledged write. ``--trials 0`` skips these (the demo still runs).

This prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import tinydb  # noqa: E402
from tinydb import Query, TinyDB  # noqa: E402
from tinydb.storages import JSONStorage  # noqa: E402

from app.sync.store import Field, Store  # noqa: E402

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
STATUSES = ("planned", "confirmed", "in_progress", "done", "cancelled")
STREETS = ("Rua Augusta", "Avenida da Liberdade", "Rua do Ouro", "Calçada do Combro")
TECHNICIANS = ("Ana Sousa", "Bruno Lima", "Carla Reis", "Duarte Melo", "Eva Costa")


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO string, so text order equals time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def make_activity(n: int, rng: random.Random) -> dict[str, Any]:
    """A realistic activity document (about 1 KB of JSON)."""
    start = NOW + timedelta(days=rng.randint(-30, 60), minutes=30 * rng.randint(16, 36))
    end = start + timedelta(minutes=30 * rng.randint(1, 6))
    return {
        "id": f"act-{n:06d}",
        "title": f"Maintenance visit #{n}",
        "status": rng.choice(STATUSES),
        "start": iso(start),
        "end": iso(end),
        "window": {"from": iso(start - timedelta(hours=1)), "to": iso(end + timedelta(hours=1))},
        "technician": {"id": f"tech-{n % 40}", "name": rng.choice(TECHNICIANS)},
        "site": {
            "id": f"site-{n % 900}",
            "address": f"{rng.choice(STREETS)} {rng.randint(1, 300)}, 1100-{n % 1000:03d} Lisboa",
            "lat": 38.7 + rng.random() / 10,
            "lon": -9.1 - rng.random() / 10,
        },
        "steps": [
            {"n": k, "label": f"Step {k}: check component {k}", "done": rng.random() < 0.3}
            for k in range(1, rng.randint(3, 7))
        ],
        "notes": "Client asked to call 15 minutes before arrival.",
        "rev": 1,
    }


@dataclass
class Timing:
    """One measured phase for both stores."""

    phase: str
    ours: float
    tiny: float
    detail: str = ""

    @property
    def ratio(self) -> float:
        """How many times faster ours is (TinyDB time / our time)."""
        return self.tiny / self.ours if self.ours > 0 else float("inf")


def fmt_s(seconds: float) -> str:
    """Human-readable duration."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run fn once; return (seconds, result)."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


# -- speed ---------------------------------------------------------------------


def run_speed(
    workdir: Path, docs: list[dict[str, Any]], updates: int, repeats: int
) -> list[Timing]:
    """Insert, update one by one, and query both stores; return the timings."""
    rng = random.Random(7)
    ours_path = workdir / "speed.sqlite3"
    tiny_path = workdir / "speed.json"
    timings: list[Timing] = []
    # The insert is one short burst, so a busy neighbour can swing a single
    # figure by 2×: repeat it on fresh files, alternating which store goes
    # first, and report medians. The last files are kept for the next phases.
    ours_runs, tiny_runs, ckpt_runs = [], [], []
    for rep in range(repeats):
        for leftover in (*workdir.glob("speed.sqlite3*"), tiny_path):
            leftover.unlink(missing_ok=True)
        store = Store.open(ours_path)
        tiny_db = TinyDB(tiny_path)
        # cache_size=0: TinyDB would otherwise answer a repeated query from memory.
        tiny = tiny_db.table("activities", cache_size=0)

        def insert_ours(store: Store = store) -> float:
            ours_s, _ = timed(lambda: store.put_many("activities", [(d["id"], d) for d in docs]))
            # Also time copying the WAL into the main file, which SQLite does
            # on a later commit or on close: reported, so nothing is hidden.
            ckpt_s, _ = timed(lambda: store.fetchall("PRAGMA wal_checkpoint(PASSIVE)"))
            ckpt_runs.append(ours_s + ckpt_s)
            return ours_s

        def insert_tiny(tiny: Any = tiny) -> list[int]:
            tiny_s, ids = timed(lambda: tiny.insert_multiple(docs))
            tiny_runs.append(tiny_s)
            return ids

        if rep % 2 == 0:
            ours_runs.append(insert_ours())
            tiny_ids = insert_tiny()
        else:
            tiny_ids = insert_tiny()
            ours_runs.append(insert_ours())
        if rep < repeats - 1:
            store.close()
            tiny_db.close()
    per_run = sorted(t / o for o, t in zip(ours_runs, tiny_runs, strict=True))
    timings.append(
        Timing(
            f"insert {len(docs):,} docs",
            statistics.median(ours_runs),
            statistics.median(tiny_runs),
            f"one batch each, median of {repeats}; per-run ratio "
            f"{per_run[0]:.2f}–{per_run[-1]:.2f}",
        )
    )
    timings.append(
        Timing(
            "  same, ours + WAL checkpoint",
            statistics.median(ckpt_runs),
            statistics.median(tiny_runs),
            "ours: put_many, then copy the WAL into the main file",
        )
    )

    picks = rng.sample(range(len(docs)), updates)
    ours_each: list[float] = []
    for k in picks:
        doc_id = docs[k]["id"]

        def update_ours(doc_id: str = doc_id) -> None:
            # Read-modify-write, committed (fsync) before the next one starts.
            with store.transaction():
                doc = store.get("activities", doc_id)
                assert doc is not None
                doc["status"] = "confirmed"
                doc["rev"] += 1
                store.put("activities", doc_id, doc)

        ours_each.append(timed(update_ours)[0])
    tiny_each: list[float] = []
    for k in picks:
        tiny_each.append(
            timed(
                lambda k=k: tiny.update(
                    {"status": "confirmed", "rev": docs[k]["rev"] + 1}, doc_ids=[tiny_ids[k]]
                )
            )[0]
        )
    timings.append(
        Timing(
            f"update {updates} docs one by one",
            sum(ours_each),
            sum(tiny_each),
            f"per update: ours median {fmt_s(statistics.median(ours_each))}, "
            f"TinyDB median {fmt_s(statistics.median(tiny_each))}",
        )
    )

    now = iso(NOW)
    q = Query()

    def ours_upcoming(limit: int | None) -> list[dict[str, Any]]:
        return store.query("activities", Field("start") >= now, order_by="start", limit=limit)

    def tiny_upcoming(limit: int | None) -> list[dict[str, Any]]:
        # TinyDB has no ordering: search, then sort in Python.
        found = sorted(tiny.search(q.start >= now), key=lambda d: d["start"])
        return found if limit is None else found[:limit]

    for limit in (None, 50):
        ours_runs, tiny_runs = [], []
        for _ in range(repeats):
            s, ours_rows = timed(lambda limit=limit: ours_upcoming(limit))
            ours_runs.append(s)
            s, tiny_rows = timed(lambda limit=limit: tiny_upcoming(limit))
            tiny_runs.append(s)
        # Same answer from both, or the comparison means nothing. Documents
        # with equal start may come in either order, so compare per start.
        if sorted((d["start"], d["id"]) for d in ours_rows) != sorted(
            (d["start"], d["id"]) for d in tiny_rows
        ) or [d["start"] for d in ours_rows] != [d["start"] for d in tiny_rows]:
            raise RuntimeError("the two stores returned different results")
        label = "all upcoming" if limit is None else "first 50 upcoming"
        timings.append(
            Timing(
                f"query {label}",
                statistics.median(ours_runs),
                statistics.median(tiny_runs),
                f"{len(ours_rows):,} rows, median of {repeats}",
            )
        )

    store.close()
    tiny_db.close()
    sizes = {
        "ours": sum(p.stat().st_size for p in workdir.glob("speed.sqlite3*")),
        "tiny": tiny_path.stat().st_size,
    }
    print(f"file sizes: ours {sizes['ours'] / 1e6:.1f} MB, TinyDB {sizes['tiny'] / 1e6:.1f} MB")
    return timings


# -- crash safety --------------------------------------------------------------

# Both children update document (n % SLOTS) to seq=n, then print n once the
# write call has returned (ours: COMMIT done; TinyDB: write+flush+fsync done).
# The notes field changes length both ways, as real edits do: a TinyDB file
# that shrinks is only cut to size after the fsync (its truncate comes last).
SLOTS = 100

CHILD_OURS = """
import sys
from app.sync.store import Store
store = Store.open(sys.argv[1])
ids = [row[0] for row in store.fetchall(
    "SELECT id FROM documents WHERE collection = 'activities' ORDER BY id LIMIT ?",
    (int(sys.argv[2]),))]
print("ready", flush=True)
n = 0
while True:
    n += 1
    doc_id = ids[n % len(ids)]
    with store.transaction():
        doc = store.get("activities", doc_id)
        doc["seq"] = n
        doc["notes"] = "x" * (n * 7919 % 400)
        store.put("activities", doc_id, doc)
    print(n, flush=True)
"""

CHILD_TINY = """
import sys
from tinydb import TinyDB
table = TinyDB(sys.argv[1]).table("activities", cache_size=0)
print("ready", flush=True)
n = 0
while True:
    n += 1
    table.update({"seq": n, "notes": "x" * (n * 7919 % 400)}, doc_ids=[1 + n % int(sys.argv[2])])
    print(n, flush=True)
"""


@dataclass
class Trial:
    """Outcome of one SIGKILL trial."""

    acknowledged: int
    opens: bool
    all_present: bool
    error: str = ""


def kill_mid_write(script: str, path: Path, rng: random.Random, max_delay: float) -> int:
    """Run the child, SIGKILL it at a random moment; return the last acknowledged n."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(path), str(SLOTS)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )
    assert child.stdout is not None
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        # Keep the pipe drained so the child never blocks on print.
        buffer = ""
        assert child.stdout is not None
        while chunk := child.stdout.read(1):
            buffer += chunk
            if chunk == "\n":
                lines.append(buffer.strip())
                buffer = ""
                ready.set()
        # A final chunk without newline is a half-printed number: not acknowledged.

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not ready.wait(timeout=60):
        child.kill()
        raise RuntimeError("child did not start")
    time.sleep(rng.uniform(0.05, max_delay))
    child.send_signal(signal.SIGKILL)
    child.wait()
    reader.join(timeout=10)
    numbers = [int(line) for line in lines if line.isdigit()]
    return numbers[-1] if numbers else 0


def check_ours(path: Path, acknowledged: int) -> Trial:
    """Reopen our store and check every acknowledged write."""
    try:
        store = Store.open(path)
    except (sqlite3.Error, OSError) as exc:
        return Trial(acknowledged, False, False, f"{type(exc).__name__}: {exc}")
    try:
        integrity = store.fetchall("PRAGMA integrity_check")[0][0]
        ids = [
            row[0]
            for row in store.fetchall(
                "SELECT id FROM documents WHERE collection = 'activities' ORDER BY id LIMIT ?",
                (SLOTS,),
            )
        ]
        seqs = [(store.get("activities", doc_id) or {}).get("seq", 0) for doc_id in ids]
    finally:
        store.close()
    return Trial(
        acknowledged,
        integrity == "ok",
        all_acknowledged_present(seqs, acknowledged),
        "" if integrity == "ok" else f"integrity_check: {integrity}",
    )


def check_tiny(path: Path, acknowledged: int) -> Trial:
    """Reopen the TinyDB file and check every acknowledged write."""
    try:
        db = TinyDB(path)
        # One read of the file; table.get per slot would re-read it each time.
        by_id = {doc.doc_id: doc for doc in db.table("activities").all()}
        seqs = [by_id.get(1 + slot, {}).get("seq", 0) for slot in range(SLOTS)]
        db.close()
    except (ValueError, OSError) as exc:  # json.JSONDecodeError is a ValueError
        return Trial(acknowledged, False, False, f"{type(exc).__name__}: {str(exc)[:60]}")
    return Trial(acknowledged, True, all_acknowledged_present(seqs, acknowledged))


def all_acknowledged_present(seqs: list[int], acknowledged: int) -> bool:
    """Write n went to slot n % SLOTS; that slot must hold n or a later write."""
    for n in range(max(1, acknowledged - SLOTS + 1), acknowledged + 1):
        if seqs[n % SLOTS] < n:
            return False
    return True


class WindowTimedStorage(JSONStorage):
    """TinyDB's JSONStorage.write, timing the span in which the file is unsafe."""

    windows: list[float]

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        # Same steps as JSONStorage.write (TinyDB 4.9): serialise, overwrite in
        # place, flush, fsync, truncate. From the first byte written until the
        # truncate, a kill can leave a mix of new and old text.
        serialized = json.dumps(data, **self.kwargs)
        started = time.perf_counter()
        self._handle.seek(0)
        self._handle.write(serialized)
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.truncate()
        self.windows.append(time.perf_counter() - started)


def tinydb_unsafe_window(template: Path, workdir: Path, samples: int) -> tuple[float, float]:
    """Return (median update time, median unsafe-write time) for TinyDB updates."""
    path = workdir / "window.json"
    shutil.copy(template, path)
    WindowTimedStorage.windows = []
    db = TinyDB(path, storage=WindowTimedStorage)
    table = db.table("activities", cache_size=0)
    totals = []
    for n in range(1, samples + 1):
        totals.append(
            timed(
                lambda n=n: table.update({"seq": n, "notes": "x" * (n * 7919 % 400)}, doc_ids=[n])
            )[0]
        )
    db.close()
    return statistics.median(totals), statistics.median(WindowTimedStorage.windows)


def run_crash(
    workdir: Path, docs: list[dict[str, Any]], trials: int, max_delay: float
) -> dict[str, list[Trial]]:
    """SIGKILL both stores' writers ``trials`` times; return the outcomes."""
    ours_template = workdir / "crash-template.sqlite3"
    tiny_template = workdir / "crash-template.json"
    with Store.open(ours_template) as store:
        store.put_many("activities", [(d["id"], d) for d in docs])
    tiny_db = TinyDB(tiny_template)
    tiny_db.table("activities").insert_multiple(docs)
    tiny_db.close()

    update_s, window_s = tinydb_unsafe_window(tiny_template, workdir, samples=10)
    print(
        f"  TinyDB update: median {fmt_s(update_s)}, of which the file is being "
        f"overwritten in place for {fmt_s(window_s)} ({window_s / update_s:.0%}): "
        "a kill in that span can corrupt it"
    )
    rng = random.Random(11)
    results: dict[str, list[Trial]] = {"ours": [], "tiny": []}
    for trial in range(trials):
        path = workdir / f"crash-{trial}.sqlite3"
        shutil.copy(ours_template, path)
        acknowledged = kill_mid_write(CHILD_OURS, path, rng, max_delay)
        results["ours"].append(check_ours(path, acknowledged))

        path = workdir / f"crash-{trial}.json"
        shutil.copy(tiny_template, path)
        acknowledged = kill_mid_write(CHILD_TINY, path, rng, max_delay)
        results["tiny"].append(check_tiny(path, acknowledged))
        print(
            f"  trial {trial + 1:2d}: ours ack={results['ours'][-1].acknowledged:5d} "
            f"ok={results['ours'][-1].opens and results['ours'][-1].all_present}  |  "
            f"TinyDB ack={results['tiny'][-1].acknowledged:4d} opens={results['tiny'][-1].opens} "
            f"all={results['tiny'][-1].all_present} {results['tiny'][-1].error}",
            flush=True,
        )
    return results


# -- deterministic crash demo ----------------------------------------------------

# Each child makes ACKED committed writes (printing "ack <id>" after each has
# returned), then starts one more write and SIGKILLs itself in the middle of
# it, at a point chosen in advance, so the outcome does not depend on luck.
ACKED = 5

DEMO_TINY = """
import os, signal, sys
from tinydb import TinyDB
from tinydb.storages import JSONStorage

class KillHalfway:
    # Stands in for the storage's file object: the next write puts half of
    # its text into the file, then the process dies.
    def __init__(self, handle):
        self._handle = handle
    def write(self, text):
        self._handle.write(text[: len(text) // 2])
        self._handle.flush()  # that half reaches the OS, as a crash leaves it
        os.kill(os.getpid(), signal.SIGKILL)
    def __getattr__(self, name):
        return getattr(self._handle, name)

db = TinyDB(sys.argv[1])  # default JSONStorage: seek(0), write, flush, fsync, truncate
table = db.table("activities", cache_size=0)
for n in range(int(sys.argv[2])):
    table.insert({"id": f"new-{n}", "seq": n})
    print("ack", f"new-{n}", flush=True)
storage = db.storage
assert isinstance(storage, JSONStorage)
storage._handle = KillHalfway(storage._handle)
print("writing", flush=True)
if sys.argv[3] == "insert":
    # One more document: TinyDB appends it at the end of the JSON text.
    table.insert({"id": "doomed", "seq": -1})
else:
    # A one-document edit near the start of the file: everything after it
    # moves, as any edit that changes a document's length does.
    table.update({"status": "confirmed", "notes": "Gate code 4711. " * 8}, doc_ids=[1])
print("not reached", flush=True)
"""

DEMO_OURS = """
import os, signal, sys, threading
from app.sync.store import Store

store = Store.open(sys.argv[1])
for n in range(int(sys.argv[2])):
    store.put("activities", f"new-{n}", {"id": f"new-{n}", "seq": n})
    print("ack", f"new-{n}", flush=True)

def die():
    os.kill(os.getpid(), signal.SIGKILL)

print("writing", flush=True)
if sys.argv[3] == "before-commit":
    # The INSERT has run (its pages are in the cache and possibly spilled to
    # the WAL); the process dies before COMMIT.
    with store.transaction():
        store.put("activities", "doomed", {"id": "doomed", "seq": -1})
        die()
else:
    # Die while COMMIT itself runs: a big transaction (every document
    # rewritten, ~10 MB of WAL) and a timer armed by SQLite's trace callback
    # when it starts executing COMMIT. The harness reaches into the
    # connection only to install that hook.
    def on_sql(sql):
        if sql == "COMMIT":
            threading.Timer(float(sys.argv[4]), die).start()
    docs = [(row[0], {"id": row[0], "seq": -1, "pad": "y" * 900})
            for row in store.fetchall("SELECT id FROM documents")]
    store._conn.set_trace_callback(on_sql)
    with store.transaction():
        store.put_many("activities", docs)
    print("committed", flush=True)  # the kill came too late: still a valid outcome
    die()
"""


@dataclass
class Demo:
    """Outcome of one deterministic mid-write kill."""

    store: str
    scenario: str
    acked: int
    opens: bool
    integrity: str
    acked_present: int
    original_present: int
    original_total: int
    killed_write: str  # what became of the write that was interrupted
    error: str = ""

    @property
    def lost_committed(self) -> bool:
        """True when any acknowledged or pre-existing document is gone."""
        return (
            not self.opens
            or self.acked_present < self.acked
            or self.original_present < self.original_total
        )


def run_child(script: str, args: list[str]) -> list[str]:
    """Run a demo child to its self-inflicted death; return its output lines."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
        check=False,
    )
    if done.returncode != -signal.SIGKILL:
        raise RuntimeError(f"demo child did not die by SIGKILL: {done.returncode} {done.stderr}")
    return done.stdout.splitlines()


def demo_ours(
    template: Path, workdir: Path, originals: list[str], scenario: str, delay: float
) -> Demo:
    """Kill our store's writer at ``scenario``; reopen and count what survived."""
    path = workdir / f"demo-{scenario}.sqlite3"
    for _attempt in range(5):
        shutil.copy(template, path)
        for wal in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            wal.unlink(missing_ok=True)
        lines = run_child(DEMO_OURS, [str(path), str(ACKED), scenario, str(delay)])
        # On a busy machine the timer can fire after COMMIT returned; that
        # outcome is valid but shows nothing, so try again (reported if not).
        if "committed" not in lines:
            break
    acked = [line.split()[1] for line in lines if line.startswith("ack ")]
    try:
        store = Store.open(path)
    except (sqlite3.Error, OSError) as exc:
        return Demo("ours", scenario, len(acked), False, "-", 0, 0, len(originals), "?", str(exc))
    try:
        integrity = str(store.fetchall("PRAGMA integrity_check")[0][0])
        seq_of = {
            row[0]: row[1]
            for row in store.fetchall("SELECT id, json_extract(body, '$.seq') FROM documents")
        }
    finally:
        store.close()
    if scenario == "before-commit":
        killed = "rolled back" if "doomed" not in seq_of else "PRESENT (never committed!)"
    else:
        rewritten = sum(1 for doc_id in originals if seq_of.get(doc_id) == -1)
        if rewritten == 0:
            killed = "rolled back (all of it)"
        elif rewritten == len(originals):
            killed = "committed (all of it)"
        else:
            killed = f"TORN: {rewritten} of {len(originals)}"
        if "committed" in lines:
            killed += ", kill came after COMMIT"
    return Demo(
        "ours",
        scenario,
        len(acked),
        True,
        integrity,
        sum(doc_id in seq_of for doc_id in acked),
        sum(doc_id in seq_of for doc_id in originals),
        len(originals),
        killed,
    )


def demo_tiny(template: Path, workdir: Path, originals: list[str], write: str) -> Demo:
    """Kill TinyDB's writer half-way through its file rewrite; reopen and count.

    ``write`` is ``insert`` (one more document) or ``update`` (edit the first).
    """
    path = workdir / f"demo-tiny-{write}.json"
    shutil.copy(template, path)
    lines = run_child(DEMO_TINY, [str(path), str(ACKED), write])
    acked = [line.split()[1] for line in lines if line.startswith("ack ")]
    scenario = f"{write}, half of file written"
    try:
        db = TinyDB(path)
        docs = db.table("activities").all()
        db.close()
    except (ValueError, OSError) as exc:  # json.JSONDecodeError is a ValueError
        error = f"{type(exc).__name__}: {str(exc)[:70]}"
        return Demo("TinyDB", scenario, len(acked), False, "-", 0, 0, len(originals), "?", error)
    present = {doc.get("id") for doc in docs}
    return Demo(
        "TinyDB",
        scenario,
        len(acked),
        True,
        "n/a",
        sum(doc_id in present for doc_id in acked),
        sum(doc_id in present for doc_id in originals),
        len(originals),
        ("present" if "doomed" in present else "absent")
        if write == "insert"
        else ("applied" if docs[0].get("status") == "confirmed" else "not applied"),
    )


def commit_time(template: Path, workdir: Path) -> float:
    """How long the demo's big COMMIT takes here, to place the kill inside it."""
    path = workdir / "demo-commit-probe.sqlite3"
    shutil.copy(template, path)
    with Store.open(path) as store:
        docs = [
            (row[0], {"id": row[0], "seq": -1, "pad": "y" * 900})
            for row in store.fetchall("SELECT id FROM documents")
        ]
        started: list[float] = []

        def on_sql(sql: str) -> None:
            if sql == "COMMIT":
                started.append(time.perf_counter())

        store._conn.set_trace_callback(on_sql)  # harness only, as in the child
        with store.transaction():
            store.put_many("activities", docs)
        return time.perf_counter() - started[-1]


def run_demo(workdir: Path, docs: list[dict[str, Any]]) -> list[Demo]:
    """Kill each store's writer at fixed points in the middle of a write."""
    originals = [d["id"] for d in docs]
    ours_template = workdir / "demo-template.sqlite3"
    tiny_template = workdir / "demo-template.json"
    with Store.open(ours_template) as store:
        store.put_many("activities", [(d["id"], d) for d in docs])
    tiny_db = TinyDB(tiny_template)
    tiny_db.table("activities").insert_multiple(docs)
    tiny_db.close()

    commit_s = commit_time(ours_template, workdir)
    # Timer 0: the timer thread kills as soon as it gets the GIL, which the
    # writer releases while SQLite executes the COMMIT.
    delay = 0.0
    print(f"  our big COMMIT takes {fmt_s(commit_s)} here; the kill fires as it starts")
    return [
        demo_tiny(tiny_template, workdir, originals, "insert"),
        demo_tiny(tiny_template, workdir, originals, "update"),
        demo_ours(ours_template, workdir, originals, "before-commit", 0.0),
        demo_ours(ours_template, workdir, originals, "during-commit", delay),
    ]


def print_demo(demos: list[Demo]) -> None:
    """The crash-demo summary table."""
    print("\ncrash demo (SIGKILL at a fixed point in the middle of a write):")
    print(
        f"{'store':7} {'killed':30} {'opens':>5} {'integrity':>9} {'acked present':>13} "
        f"{'original present':>17}  {'interrupted write':38} lost committed data?"
    )
    for d in demos:
        print(
            f"{d.store:7} {d.scenario:30} {'yes' if d.opens else 'NO':>5} {d.integrity:>9} "
            f"{f'{d.acked_present}/{d.acked}':>13} "
            f"{f'{d.original_present:,}/{d.original_total:,}':>17}  {d.killed_write:38} "
            f"{'YES' if d.lost_committed else 'no'}"
        )
        if d.error:
            print(f"        reopen error: {d.error}")


# -- main ----------------------------------------------------------------------


def machine() -> str:
    """One line describing where the figures come from."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"TinyDB {tinydb.__version__}"
    )


def main() -> None:
    """Parse arguments, run both benchmarks and print the summary table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--docs", type=int, help="documents to insert (default 10,000)")
    parser.add_argument("--trials", type=int, help="SIGKILL trials per store (default 20)")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temp dir)")
    args = parser.parse_args()

    n_docs = args.docs or (2_000 if args.quick else 10_000)
    updates = 20 if args.quick else 100
    trials = args.trials if args.trials is not None else (5 if args.quick else 20)
    repeats = 3 if args.quick else 5
    rng = random.Random(42)
    docs = [make_activity(n, rng) for n in range(n_docs)]
    avg = sum(len(json.dumps(d)) for d in docs) / n_docs

    print(f"machine: {machine()}")
    print(f"data: {n_docs:,} activities, ~{avg:.0f} bytes of JSON each; now = {iso(NOW)}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        workdir = Path(tmp)
        print(f"work dir: {workdir}\n")
        timings = run_speed(workdir, docs, updates, repeats)
        print()
        print(f"{'phase':38} {'ours':>10} {'TinyDB':>10} {'TinyDB/ours':>12}  notes")
        for t in timings:
            print(
                f"{t.phase:38} {fmt_s(t.ours):>10} {fmt_s(t.tiny):>10} "
                f"{t.ratio:>11.1f}×  {t.detail}"
            )

        print(f"\ncrash demo: SIGKILL in the middle of a write, {n_docs:,} docs in the file")
        demos = run_demo(workdir, docs)
        if trials == 0:
            print_demo(demos)
            return
        print(f"\ncrash safety: {trials} random SIGKILL trials per store")
        # TinyDB's writes take longer, so give its child time for a few writes.
        results = run_crash(workdir, docs, trials, max_delay=1.5)

    print()
    print(f"{'store':8} {'trials':>6} {'opens':>6} {'all acked present':>18} {'lost/corrupt':>13}")
    for name, label in (("ours", "ours"), ("tiny", "TinyDB")):
        rows = results[name]
        opens = sum(r.opens for r in rows)
        present = sum(r.opens and r.all_present for r in rows)
        print(f"{label:8} {len(rows):>6} {opens:>6} {present:>18} {len(rows) - present:>13}")
    errors = sorted({r.error for r in results["tiny"] if r.error})
    if errors:
        print("TinyDB errors on reopen: " + "; ".join(errors))

    print_demo(demos)

    print("\ngoals: updates ≥100× faster, insert and query no slower")
    update = timings[2]
    verdict = "met" if update.ratio >= 100 else "NOT met"
    print(f"  single-document updates: {update.ratio:.0f}× ({verdict})")
    for t in timings[:2] + timings[3:]:
        verdict = "met" if t.ratio >= 1 else "NOT met"
        print(f"  {t.phase}: {t.ratio:.1f}× ({verdict})")


if __name__ == "__main__":
    main()
