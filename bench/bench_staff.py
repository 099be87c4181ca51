"""Benchmark the staff console's client search and bulk portal access at 100,000 clients.

Usage:
    python bench/bench_staff.py                         # SQLite, 100,000 clients
    python bench/bench_staff.py --postgres URL          # and PostgreSQL (URL is WIPED)
    python bench/bench_staff.py --clients 20000 --queries 300   # quicker

Data: one business unit with ``--clients`` clients (French names with
accents, one email and one mobile number each, a profile document in the
feed as every client with access has) plus a second unit with a tenth as
many (so the unit filter has something to filter). They are bulk-inserted
with Core ``INSERT``s and the name search index is built with
``backend.staff_models.index_client_names``, the function the ORM events
call when a client is saved. One "probe" client of the big unit is made
through the ORM with a visible activity, its feed projected and a client
session opened.

The API runs in-process behind ``httpx.ASGITransport`` and is called with an
admin API key, as the console would (its session token costs the same).
Measured in the same run, on each database:

1. ``GET /staff/business-units/{bu}/clients?q=`` latency, p50/p99 over
   ``--queries`` requests mixing name prefixes (one and two words, accents
   typed or not), full names, emails and their prefixes, phones typed in the
   local format and their prefixes, ids, and second pages (goal: p99 ≤ 50 ms);
2. ``POST /staff/business-units/{bu}/portal-access/bulk``: dry run, disable
   all, the same again (idempotent: 0 affected), enable all — time and SQL
   statement count (goal ≤ 2 s); after disabling, the probe's ``/sync``
   answers 401 (its session ended); after enabling, the probe signs in again
   and its ``/sync`` lists its profile and activity.

On PostgreSQL the database of ``--postgres`` has its ``public`` schema DROPPED
and recreated: give it a throwaway database. It prints figures; it asserts
only the functional checks (counts, 401, documents), never times.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
from sqlalchemy import create_engine, event, insert, text  # noqa: E402

from backend.api.main import create_app  # noqa: E402
from backend.contacts import normalize_email, normalize_phone  # noqa: E402
from backend.core.config import Settings  # noqa: E402
from backend.core.db import begin_write  # noqa: E402
from backend.models import (  # noqa: E402
    Activity,
    ActivityStep,
    ActivityType,
    BusinessUnit,
    Client,
    ClientContact,
    FeedEntry,
    Site,
    Technician,
)
from backend.services import client_search, feed, staff_auth  # noqa: E402
from backend.services.sessions import create_session  # noqa: E402
from backend.staff_models import ApiKey, index_client_names  # noqa: E402


def _words(text_: str) -> list[str]:
    return text_.split()


FIRST = _words(
    "Élodie Hélène Zoé Loïc Jérôme Gaëlle Noël Anaïs Benoît Cécile Clément Mathéo Léa Chloé "
    "Agnès Inès Maëlle Raphaël Sébastien Frédéric Thérèse Françoise Jean Marie Pierre Paul "
    "Louis Lucas Hugo Arthur Jules Adam Nathan Camille Emma Louise Alice Manon Sarah Julie "
    "Laura Marine Nicolas Julien Thomas Antoine Maxime Alexandre Guillaume Vincent Olivier "
    "Christophe Stéphane Laurent Philippe Michel Alain Bernard Catherine Isabelle Nathalie"
)
LAST = _words(
    "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
    "Lefèvre Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André Lefebvre "
    "Mercier Dupont Lambert Bonnet François Martinez Legrand Garnier Faure Rousseau Blanc "
    "Guérin Muller Henry Roussel Nicolas Perrin Morin Mathieu Clément Gauthier Dumont Lopez "
    "Fontaine Chevalier Robin Masson Sanchez Gérard Nguyen Boyer Denis Lemaire Duval Joly "
    "Gautier Roger Roche Roy Noël Meyer Lucas Meunier Jean Pérez Marchand Dufour Blanchard "
    "Marie Barbier Brun Dumas Brunet Schmitt Leroux Colin Fernandez Pierre Renard Arnaud "
    "Rolland Caron Aubert Giraud Leclerc Vidal Bourgeois Renaud Lemoine Picard Gaillard "
    "Philippe Leclercq Lacroix Fabre Dupuis Olivier Rodriguez Da-Silva Hubert Louis Charles "
    "Guillot Rivière Le-Gall Guillaume Adam Rey Moulin Gonzalez Berger Lecomte Ménard "
    "Fleury Deschamps Carpentier Julien Bénard Paris Maillard Marchal Aubry Vasseur Le-Roux "
    "Renault Jacquet Collet Prévost Poirier Charpentier Royer Huet Baron Dupuy Pons Paris "
    "Lemaître"
)

QUERY_KINDS = (
    "name prefix (3 letters)",
    "last name",
    "first name + last-name prefix",
    "name typed without accents",
    "email",
    "email prefix",
    "phone (local format)",
    "phone prefix",
    "id",
    "second page of a prefix",
)


@dataclass
class World:
    """What the benchmark built: ids, credentials and the big unit's contacts."""

    bu_id: int
    probe_id: int
    probe_token: str
    api_key: str
    rows: list[tuple[int, str, str, str]] = field(default_factory=list)  # id, name, email, phone


def _ascii(text_: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text_)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _unit(name: str) -> BusinessUnit:
    return BusinessUnit(
        name=name,
        phone="+33 4 72 00 00 00",
        email="office@bench.example",
        address="1 rue de la République, 69002 Lyon",
        description="Heating and plumbing.",
    )


def _probe(db: Any, bu: BusinessUnit, now: datetime) -> Client:
    """A client made the ORM way, with one activity the portal shows."""
    client = Client(business_unit_id=bu.id, name="Probe Àlbane Quinconce", preferred_language="fr")
    client.contacts.append(ClientContact(kind="email", value=normalize_email("probe@bench.test")))
    client.contacts.append(ClientContact(kind="phone", value=normalize_phone("0799999999")))
    client.sites.append(
        Site(
            label="Home",
            street="10 rue Mercière",
            postal_code="69002",
            city="Lyon",
            latitude=45.7625,
            longitude=4.8320,
        )
    )
    db.add(client)
    tech = Technician(
        business_unit_id=bu.id,
        first_name="Karim",
        last_name="Benali",
        skills=["boiler"],
        home_latitude=45.75,
        home_longitude=4.85,
        working_hours={str(d): [[480, 1080]] for d in range(5)},
    )
    kind = ActivityType(
        business_unit_id=bu.id,
        name="Boiler service",
        default_duration_min=60,
        required_skills=["boiler"],
        portal_shown=True,
        title_template="{type.name} – {site.city}",
        portal_actions=[],
    )
    db.add_all([tech, kind])
    db.flush()
    start = now + timedelta(days=3)
    activity = Activity(
        business_unit_id=bu.id,
        client_id=client.id,
        site_id=client.sites[0].id,
        type_id=kind.id,
        status="scheduled",
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=1),
        window_start=start,
        window_end=start + timedelta(hours=2),
        technician_id=tech.id,
        description="Annual boiler service.",
    )
    db.add(activity)
    db.flush()
    db.add(ActivityStep(activity_id=activity.id, at=now, code="created", note=""))
    db.flush()
    return client


def _bulk_clients(
    conn: Any, bu_id: int, first_id: int, count: int, rng: random.Random, tag: str
) -> list[tuple[int, str, str, str]]:
    """Insert ``count`` clients with an email, a phone and a profile document; index names."""
    made: list[tuple[int, str, str, str]] = []
    batch = 5000
    for start in range(0, count, batch):
        clients, contacts, entries, index_rows = [], [], [], []
        for n in range(start, min(count, start + batch)):
            cid = first_id + n
            first, last = rng.choice(FIRST), rng.choice(LAST)
            name = f"{first} {last}".replace("-", " ")
            email = f"{_ascii(first).lower()}.{_ascii(last).lower()}.{tag}{n}@example.com"
            phone = f"+33{6 if tag == 'a' else 7}{10_000_000 + n:08d}"  # unique, normalised
            clients.append(
                {"id": cid, "business_unit_id": bu_id, "name": name, "preferred_language": "fr"}
            )
            contacts.append({"client_id": cid, "kind": "email", "value": email, "label": ""})
            contacts.append({"client_id": cid, "kind": "phone", "value": phone, "label": ""})
            body = {
                "id": cid,
                "name": name,
                "preferred_language": "fr",
                "contacts": [{"kind": "email", "value": email}, {"kind": "phone", "value": phone}],
                "sites": [],
            }
            entries.append(
                {
                    "client_id": cid,
                    "kind": "profile",
                    "key": "me",
                    "rev": 1,
                    "deleted": False,
                    "digest": feed.digest_of(body),
                    "body": body,
                }
            )
            index_rows.append((cid, bu_id, name))
            made.append((cid, name, email, phone))
        conn.execute(insert(Client), clients)
        conn.execute(insert(ClientContact), contacts)
        conn.execute(insert(FeedEntry), entries)
        index_client_names(conn, index_rows)
    return made


def build(app: Any, settings: Settings, count: int, seed: int) -> World:
    """The two units, the probe, the bulk clients and an admin API key."""
    now = datetime.now(UTC)
    rng = random.Random(seed)
    with app.state.sessionmaker() as db:
        begin_write(db)
        bu, other = _unit("Bench Heating"), _unit("Other Heating")
        db.add_all([bu, other])
        db.flush()
        probe = _probe(db, bu, now)
        feed.refresh_client(db, probe.id)
        token = create_session(db, settings, probe.id, "code", now)
        key, prefix = staff_auth.new_api_key()
        db.add(
            ApiKey(
                name="bench",
                prefix=prefix,
                key_hash=staff_auth.api_key_digest(settings.resolved_secret_key(), key),
                role="admin",
                business_unit_ids=[bu.id, other.id],
                created_at=now,
            )
        )
        db.commit()
        world = World(bu.id, probe.id, token, key)
        other_id = other.id
    engine = app.state.engine
    with engine.begin() as conn:
        first_id = world.probe_id + 1
        world.rows = _bulk_clients(conn, world.bu_id, first_id, count, rng, "a")
        _bulk_clients(conn, other_id, first_id + count, count // 10, rng, "b")
        if engine.dialect.name == "postgresql":
            # Explicit ids do not move the sequence; later ORM inserts must not collide.
            conn.execute(text("SELECT setval('clients_id_seq', (SELECT max(id) FROM clients))"))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))  # fresh statistics, as a live database would have
    return world


def queries(world: World, total: int, rng: random.Random) -> list[tuple[str, dict[str, str]]]:
    """``total`` search requests (kind, params), the kinds in turn."""
    out: list[tuple[str, dict[str, str]]] = []
    for n in range(total):
        kind = QUERY_KINDS[n % len(QUERY_KINDS)]
        cid, name, email, phone = rng.choice(world.rows)
        first, last = name.split(" ", 1)
        local = "0" + phone[3:]
        spaced = " ".join(local[i : i + 2] for i in range(0, 10, 2))
        q = {
            "name prefix (3 letters)": last[:3],
            "last name": last,
            "first name + last-name prefix": f"{first} {last[:4]}",
            "name typed without accents": _ascii(name).lower(),
            "email": email,
            "email prefix": email[:6],
            "phone (local format)": spaced,
            "phone prefix": spaced[:8],
            "id": str(cid),
            "second page of a prefix": last[:2],
        }[kind]
        out.append((kind, {"q": q, "limit": "50"}))
    return out


def pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


class StatementCounter:
    """Counts SQL statements sent on an engine while enabled."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        self.enabled = False
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        if self.enabled:
            self.count += 1


async def measure(app: Any, world: World, total: int, seed: int) -> dict[str, Any]:
    """Search latency then the bulk changes; returns the figures."""
    rng = random.Random(seed + 1)
    transport = httpx.ASGITransport(app=app)
    staff = {"Authorization": f"Bearer {world.api_key}"}
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        url = f"/staff/business-units/{world.bu_id}/clients"

        async def search(params: dict[str, str]) -> tuple[float, dict[str, Any]]:
            started = time.perf_counter()
            answer = await http.get(url, params=params, headers=staff)
            elapsed = time.perf_counter() - started
            answer.raise_for_status()
            return elapsed, answer.json()

        for _kind, params in queries(world, 50, rng):  # warm caches and the key's last_used
            await search(params)
        samples: dict[str, list[float]] = {k: [] for k in QUERY_KINDS}
        empty = 0
        for kind, params in queries(world, total, rng):
            if kind == "second page of a prefix":
                _, first_page = await search(params)
                if first_page["next"] is None:
                    empty += 1
                    continue
                params = {**params, "after": first_page["next"]}
            elapsed, page = await search(params)
            samples[kind].append(elapsed)
            if not page["items"]:
                empty += 1
        every = [s for values in samples.values() for s in values]
        results["search"] = {
            "n": len(every),
            "p50": statistics.median(every),
            "p99": pct(every, 0.99),
            "max": max(every),
            "empty": empty,
            "by_kind": {k: (statistics.median(v), pct(v, 0.99)) for k, v in samples.items() if v},
        }

        # The same searches without HTTP: the query's own cost, apart from the
        # request handling and the machine's load.
        direct: list[float] = []
        with app.state.sessionmaker() as db:
            for kind, params in queries(world, total, rng):
                after = 0
                if kind == "second page of a prefix":
                    _, nxt = client_search.search(db, world.bu_id, params["q"], 50, 0)
                    after = nxt or 0
                started = time.perf_counter()
                client_search.search(db, world.bu_id, params["q"], 50, after)
                direct.append(time.perf_counter() - started)
        results["search_sql"] = {
            "p50": statistics.median(direct),
            "p99": pct(direct, 0.99),
            "max": max(direct),
        }

        counter = StatementCounter(app.state.engine)
        bulk_url = f"/staff/business-units/{world.bu_id}/portal-access/bulk"

        async def bulk(enable: bool, dry_run: bool = False) -> tuple[float, int, int]:
            counter.count, counter.enabled = 0, True
            started = time.perf_counter()
            answer = await http.post(
                bulk_url, json={"enable": enable, "dry_run": dry_run}, headers=staff
            )
            elapsed = time.perf_counter() - started
            counter.enabled = False
            answer.raise_for_status()
            return elapsed, int(answer.json()["affected"]), counter.count

        client_count = len(world.rows) + 1  # the probe too
        probe = {"Authorization": f"Bearer {world.probe_token}"}
        before = await http.get("/sync", headers=probe)
        assert before.status_code == 200, before.text
        results["dry_run"] = await bulk(False, dry_run=True)
        assert results["dry_run"][1] == client_count, results["dry_run"]
        results["disable"] = await bulk(False)
        assert results["disable"][1] == client_count, results["disable"]
        after_off = await http.get("/sync", headers=probe)
        results["probe_after_disable"] = after_off.status_code
        assert after_off.status_code == 401, after_off.text
        results["disable_again"] = await bulk(False)
        assert results["disable_again"][1] == 0
        results["enable"] = await bulk(True)
        assert results["enable"][1] == client_count, results["enable"]
        with app.state.sessionmaker() as db:
            begin_write(db)
            settings = app.state.settings
            token = create_session(db, settings, world.probe_id, "code", datetime.now(UTC))
            db.commit()
        stale = await http.get("/sync", headers=probe)
        assert stale.status_code == 401  # the ended session stays ended
        fresh = await http.get("/sync", headers={"Authorization": f"Bearer {token}"})
        assert fresh.status_code == 200, fresh.text
        kinds = sorted({d["kind"] for d in fresh.json()["changes"] if not d.get("deleted")})
        assert "activity" in kinds and "profile" in kinds, kinds
        results["probe_after_enable"] = kinds
    return results


def run(label: str, url: str, data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key="bench-secret-key",
        log_messages=False,
    )
    started = time.perf_counter()
    app = create_app(settings)
    try:
        world = build(app, settings, args.clients, args.seed)
        built = time.perf_counter() - started
        # The benchmark's own 100,000 rows of test data are not the server's: keep
        # the garbage collector from scanning them during the timed requests.
        gc.collect()
        gc.freeze()
        print(f"[{label}] built {args.clients + args.clients // 10 + 1:,} clients in {built:.1f} s")
        results = asyncio.run(measure(app, world, args.queries, args.seed))
    finally:
        app.state.engine.dispose()
        reader = getattr(app.state, "hot_reader", None)
        if reader is not None:
            reader.close()
    results["built_s"] = built
    return results


def report(label: str, r: dict[str, Any]) -> None:
    s = r["search"]
    print(
        f"[{label}] search over {s['n']} requests: p50 {s['p50'] * 1000:.1f} ms, "
        f"p99 {s['p99'] * 1000:.1f} ms, max {s['max'] * 1000:.1f} ms "
        f"(goal p99 <= 50 ms: {'met' if s['p99'] <= 0.05 else 'MISSED'}); "
        f"{s['empty']} answered no client"
    )
    for kind, (p50, p99) in s["by_kind"].items():
        print(f"    {kind:32s} p50 {p50 * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms")
    d = r["search_sql"]
    print(
        f"[{label}] the same searches without HTTP (client_search.search): "
        f"p50 {d['p50'] * 1000:.1f} ms, p99 {d['p99'] * 1000:.1f} ms, max {d['max'] * 1000:.1f} ms"
    )
    for step in ("dry_run", "disable", "disable_again", "enable"):
        seconds, affected, statements = r[step]
        print(
            f"[{label}] bulk {step:13s}: {seconds * 1000:8.1f} ms, {affected:,} affected, "
            f"{statements} SQL statements"
        )
    worst = max(r["disable"][0], r["enable"][0])
    print(
        f"[{label}] bulk goal <= 2 s: {'met' if worst <= 2 else 'MISSED'}; probe's /sync after "
        f"disabling: {r['probe_after_disable']}; after enabling and signing in again: "
        f"documents {', '.join(r['probe_after_enable'])}"
    )


def wipe_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", help="a THROWAWAY PostgreSQL database URL (wiped)")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    print(
        f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{args.clients:,} clients in the searched unit, {args.queries} searches, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    figures: dict[str, Any] = {}
    runs: list[tuple[str, Callable[[Path], str]]] = []
    if not args.skip_sqlite:
        runs.append(("sqlite", lambda d: f"sqlite:///{d / 'bench.db'}"))
    if args.postgres:

        def pg(_d: Path) -> str:
            wipe_postgres(args.postgres)
            return args.postgres

        runs.append(("postgresql", pg))
    for label, make_url in runs:
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp)
            figures[label] = run(label, make_url(data_dir), data_dir, args)
        report(label, figures[label])
    if "sqlite" in figures and "postgresql" in figures:
        ratio = figures["postgresql"]["search"]["p99"] / figures["sqlite"]["search"]["p99"]
        print(f"search p99 PostgreSQL / SQLite: {ratio:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
