"""The app's offline document store: JSON documents in one SQLite file.

Documents live in a single ``documents`` table keyed by ``(collection, id)``;
the body is JSON text. Fields that views filter or sort on are *declared*
per collection (see ``DEFAULT_INDEXES``). Each declared field gets a plain
column (``"field:start"``) that Python fills from the document at write time,
and an index on ``(collection, "field:start")``, so "upcoming activities
ordered by start" is an index range scan with no sort. Python fills the
column because SQLite would otherwise parse every body again per index
(``json_extract``) on each insert: a large share of a bulk insert's time.

Invariant: a field column that has its ``ix_doc_`` index holds exactly
``json_extract(body, '$.field')`` for *every* row of every collection. Writers
discover those columns from the file itself (re-read when the schema changes),
not from their own declaration, so two stores opened on one file with
different declarations still keep each other's columns right. A column whose
index was dropped is no longer maintained; declaring the field again
back-fills it before the index is rebuilt.

Durability: WAL journal with ``synchronous=FULL``, so a committed write
survives a crash of the process and of the machine.

Threading: the app calls the store through ``asyncio.to_thread``, so calls
arrive on arbitrary worker threads. We keep **one connection** opened with
``check_same_thread=False`` and serialise every use of it with a re-entrant
lock. A ``transaction()`` holds that lock until it ends, so another thread's
write waits instead of slipping into our transaction. One connection (rather
than one per thread) keeps ``clear()``, migrations and index setup simple and
means there is only ever one writer; the app's workload is small enough that
serialised access is not a bottleneck.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

JsonDoc: TypeAlias = dict[str, Any]
# A migration is a list of SQL statements, or a function for data rewrites.
Migration: TypeAlias = Sequence[str] | Callable[[sqlite3.Connection], None]

# Fields each collection is queried by; each becomes an SQLite index.
DEFAULT_INDEXES: Mapping[str, Sequence[str]] = {
    "activities": ("start", "status"),
}

# Ordered schema migrations; migration N (0-based) brings user_version to N+1.
# Never edit or reorder a released entry: append a new one.
MIGRATIONS: tuple[Migration, ...] = (
    (
        """
        CREATE TABLE documents (
            collection TEXT NOT NULL,
            id TEXT NOT NULL,
            body TEXT NOT NULL CHECK (json_valid(body)),
            PRIMARY KEY (collection, id)
        )
        """,
        """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            mutation_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL CHECK (json_valid(payload)),
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'rejected')),
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            last_error TEXT,
            result TEXT CHECK (result IS NULL OR json_valid(result)),
            reason TEXT,
            finished_at TEXT
        )
        """,
        "CREATE INDEX ix_outbox_status_seq ON outbox (status, seq)",
    ),
    # 2: drop CHECK (json_valid(body)). Bodies come from our own encoder, and
    # once the declared fields stopped being json_extract expression indexes
    # the CHECK was the only thing still parsing every body on insert (about
    # 10% of a bulk insert). SQLite cannot drop a constraint in place, so
    # rebuild the table; DROP TABLE also drops the old expression indexes,
    # which Store.open then recreates over field columns.
    (
        """
        CREATE TABLE documents_v2 (
            collection TEXT NOT NULL,
            id TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (collection, id)
        )
        """,
        "INSERT INTO documents_v2 (collection, id, body) "
        "SELECT collection, id, body FROM documents",
        "DROP TABLE documents",
        "ALTER TABLE documents_v2 RENAME TO documents",
    ),
    # 3: downloaded files (reports, quotes) kept for offline reading, one per
    # (activity, document key): a newer version replaces the older in place.
    (
        """
        CREATE TABLE files (
            activity_id TEXT NOT NULL,
            doc_key TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            data BLOB NOT NULL,
            last_used TEXT NOT NULL,
            PRIMARY KEY (activity_id, doc_key)
        )
        """,
        "CREATE INDEX ix_files_last_used ON files (last_used)",
    ),
)

# Prefix of the indexes this module manages from the declared fields; anything
# with this prefix that is no longer declared is dropped on open.
_INDEX_PREFIX = "ix_doc_"
# Prefix of the columns holding declared fields' values ("field:window.from").
# A quoted name keeps the dotted path as is, so no two fields can collide.
_COLUMN_PREFIX = "field:"
# Page size for new files (existing files keep theirs: changing it needs a
# VACUUM outside WAL mode). 16 KiB pages hold ~20 documents instead of ~5, so
# a bulk insert builds and logs a quarter as many pages; measured ~30 ms less
# CPU for 10,000 documents (docs/PERFORMANCE_STORE.md).
_PAGE_SIZE = 16384
_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class StoreError(Exception):
    """Raised for misuse of the store or a database it cannot open."""


def _field_expr(field: str, indexed: Collection[str] = ()) -> str:
    """SQL for a document field: its column when indexed, else ``json_extract``."""
    if field == "id":
        return "id"
    if not _FIELD_RE.match(field):
        # Field names are spliced into SQL (column names, JSON paths), so
        # only plain dotted identifiers are allowed.
        raise StoreError(f"invalid field name: {field!r}")
    if field in indexed:
        return _column(field)
    return f"json_extract(body, '$.{field}')"


def _column(field: str) -> str:
    """Quoted column name for a declared field (already validated)."""
    return f'"{_COLUMN_PREFIX}{field}"'


def _index_name(field: str) -> str:
    return _INDEX_PREFIX + field.replace(".", "__")


def _index_value(doc: Mapping[str, Any], path: Sequence[str]) -> Any:
    """What ``json_extract(body, '$.a.b')`` returns for ``doc``; ``path`` is ``("a", "b")``.

    Must agree exactly with SQLite (tests compare both on the same rows):
    missing key or non-object on the path -> NULL, true/false -> 1/0,
    integers beyond 64 bits -> REAL, objects and arrays -> their JSON text.
    Runs for every declared field of every written document, so the common
    cases (a dict on the path, a str value) are tested first and by exact type.
    """
    value: Any = doc
    for key in path:
        if type(value) is not dict and not isinstance(value, Mapping):
            return None
        value = value.get(key)
    kind = type(value)
    if kind is str or kind is float or value is None:
        return value
    if kind is bool:
        return int(value)
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else float(value)
    if isinstance(value, str | float):  # subclasses
        return value
    return _dumps(value)


def _sql_value(value: Any) -> Any:
    """Convert a Python filter value to what json_extract yields for it."""
    if isinstance(value, bool):
        return int(value)  # json_extract returns 1/0 for true/false
    if value is None or isinstance(value, int | float | str):
        return value
    raise StoreError(f"unsupported filter value: {value!r}")


@dataclass(frozen=True)
class Condition:
    """One filter term, built with ``Field``: ``Field('start') >= '2026-01-01'``."""

    field: str
    op: str
    value: Any

    def sql(self, indexed: Collection[str] = ()) -> tuple[str, list[Any]]:
        """Return the SQL fragment and its parameters; ``indexed``: fields with a column."""
        expr = _field_expr(self.field, indexed)
        if self.op == "in":
            values = [_sql_value(v) for v in self.value]
            if not values:
                return "0", []
            return f"{expr} IN ({', '.join('?' * len(values))})", values
        if self.value is None:
            if self.op == "=":
                return f"{expr} IS NULL", []
            if self.op == "!=":
                return f"{expr} IS NOT NULL", []
            raise StoreError(f"cannot compare with None using {self.op}")
        return f"{expr} {self.op} ?", [_sql_value(self.value)]


class Field:
    """A document field in a filter; comparison operators build a ``Condition``."""

    __slots__ = ("name",)
    __hash__ = None  # type: ignore[assignment]  # == builds a Condition

    def __init__(self, name: str) -> None:
        _field_expr(name)  # validate early, where the mistake is made
        self.name = name

    def __eq__(self, value: object) -> Condition:  # type: ignore[override]
        return Condition(self.name, "=", value)

    def __ne__(self, value: object) -> Condition:  # type: ignore[override]
        return Condition(self.name, "!=", value)

    def __lt__(self, value: Any) -> Condition:
        return Condition(self.name, "<", value)

    def __le__(self, value: Any) -> Condition:
        return Condition(self.name, "<=", value)

    def __gt__(self, value: Any) -> Condition:
        return Condition(self.name, ">", value)

    def __ge__(self, value: Any) -> Condition:
        return Condition(self.name, ">=", value)

    def in_(self, values: Iterable[Any]) -> Condition:
        """Match documents whose field equals one of ``values``."""
        return Condition(self.name, "in", tuple(values))


Where: TypeAlias = Condition | Sequence[Condition] | None
OrderBy: TypeAlias = str | Sequence[str] | None


def _build_select(
    columns: str,
    collection: str,
    where: Where,
    order_by: OrderBy,
    limit: int | None,
    indexed: Collection[str],
) -> tuple[str, list[Any]]:
    conditions = [where] if isinstance(where, Condition) else list(where or ())
    clauses = ["collection = ?"]
    params: list[Any] = [collection]
    for condition in conditions:
        clause, values = condition.sql(indexed)
        clauses.append(clause)
        params.extend(values)
    sql = f"SELECT {columns} FROM documents WHERE {' AND '.join(clauses)}"
    keys = [order_by] if isinstance(order_by, str) else list(order_by or ())
    if keys:
        terms = []
        for key in keys:
            descending = key.startswith("-")
            name = key.removeprefix("-")
            terms.append(f"{_field_expr(name, indexed)} {'DESC' if descending else 'ASC'}")
        sql += " ORDER BY " + ", ".join(terms)
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return sql, params


class Store:
    """A JSON document store on one SQLite file; see the module docstring."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        """Wrap an open connection; use ``Store.open`` instead."""
        self._conn = conn
        self._lock = threading.RLock()
        self._depth = 0  # transaction nesting; only touched under the lock
        self.path = path
        # Indexed field columns as last read from the file, and the schema
        # version they were read at (-1: not read yet); see _indexed_fields.
        self._fields: tuple[str, ...] = ()
        self._upsert_sql = ""
        self._fields_version = -1

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        indexes: Mapping[str, Sequence[str]] = DEFAULT_INDEXES,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> Store:
        """Open (creating if needed) the store at ``path``, migrate it, ensure indexes."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: the sqlite3 module must not open transactions
        # behind our back; transaction() issues BEGIN IMMEDIATE itself.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        try:
            conn.row_factory = sqlite3.Row
            # Only takes effect on a new, empty file; must precede WAL, which
            # writes the first page.
            conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"could not enable WAL on {path} (got {mode})")
            # FULL also fsyncs the WAL on every commit: an acknowledged write
            # survives power loss, not just a process crash.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            store = cls(conn, path)
            store._migrate(migrations)
            store._ensure_indexes(indexes)
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- schema -----------------------------------------------------------

    @property
    def schema_version(self) -> int:
        """The applied schema version (``PRAGMA user_version``)."""
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        version = self.schema_version
        if version > len(migrations):
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this app "
                f"({len(migrations)}); refusing to open it"
            )
        for number, migration in enumerate(migrations[version:], start=version + 1):
            # Each migration commits with its version bump, so a failure
            # leaves the database at the last fully applied version.
            with self.transaction():
                if callable(migration):
                    migration(self._conn)
                else:
                    for statement in migration:
                        self._conn.execute(statement)
                # PRAGMA takes no parameters; number is an int we produced.
                self._conn.execute(f"PRAGMA user_version = {int(number)}")

    def _ensure_indexes(self, indexes: Mapping[str, Sequence[str]]) -> None:
        # Indexes are on (collection, field column) across the whole table and
        # the column is filled for every row, so one index per field name
        # serves every collection that declares it.
        wanted: dict[str, str] = {}
        for fields in indexes.values():
            for field in fields:
                _field_expr(field)  # validate before it is spliced into SQL
                wanted[_index_name(field)] = field
        with self.transaction():
            existing = {
                row[0]
                for row in self._conn.execute(
                    "SELECT name FROM sqlite_schema WHERE type = 'index' "
                    "AND tbl_name = 'documents' AND name LIKE ?",
                    (_INDEX_PREFIX + "%",),
                )
            }
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(documents)")}
            for name in sorted(existing - wanted.keys()):
                self._conn.execute(f'DROP INDEX "{name}"')
            for name, field in wanted.items():
                if name in existing:
                    continue  # its column is current: every writer maintains it
                column = _column(field)
                if _COLUMN_PREFIX + field not in columns:
                    self._conn.execute(f"ALTER TABLE documents ADD COLUMN {column}")
                # Back-fill: the column is new, or was left stale while the
                # field was not declared.
                self._conn.execute(
                    f"UPDATE documents SET {column} = json_extract(body, '$.{field}')"
                )
                self._conn.execute(f'CREATE INDEX "{name}" ON documents (collection, {column})')

    def _indexed_fields(self) -> tuple[str, ...]:
        """Fields whose column is indexed in the file; call with the lock held.

        Re-read only when SQLite's schema version moved (another store on the
        file re-declared its indexes), so the common case costs one PRAGMA.
        """
        version = int(self._conn.execute("PRAGMA schema_version").fetchone()[0])
        if version != self._fields_version:
            rows = self._conn.execute(
                "SELECT info.name FROM sqlite_schema AS ix, pragma_index_info(ix.name) AS info "
                "WHERE ix.type = 'index' AND ix.tbl_name = 'documents' AND ix.name LIKE ? "
                "AND info.name LIKE ?",
                (_INDEX_PREFIX + "%", _COLUMN_PREFIX + "%"),
            )
            self._fields = tuple(sorted(row[0].removeprefix(_COLUMN_PREFIX) for row in rows))
            names = ["collection", "id", "body", *map(_column, self._fields)]
            updates = [f"{name} = excluded.{name}" for name in names[2:]]
            self._upsert_sql = (
                f"INSERT INTO documents ({', '.join(names)}) "
                f"VALUES ({', '.join('?' * len(names))}) "
                f"ON CONFLICT (collection, id) DO UPDATE SET {', '.join(updates)}"
            )
            self._fields_version = version
        return self._fields

    # -- transactions -----------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run a block atomically: BEGIN IMMEDIATE … COMMIT, or ROLLBACK on error.

        Nested use (same thread) becomes a SAVEPOINT: an exception inside the
        inner block undoes only that block if the outer block catches it.
        Other threads wait until the outermost block ends.
        """
        with self._lock:
            depth = self._depth
            if depth == 0:
                # IMMEDIATE takes the write lock now, so the block cannot fail
                # half-way with SQLITE_BUSY when it first writes.
                self._conn.execute("BEGIN IMMEDIATE")
            else:
                self._conn.execute(f"SAVEPOINT sp{depth}")
            self._depth = depth + 1
            try:
                yield
                if depth == 0:
                    self._conn.execute("COMMIT")
                else:
                    self._conn.execute(f"RELEASE sp{depth}")
            except BaseException:
                self._rollback(depth)
                raise
            finally:
                self._depth = depth

    def _rollback(self, depth: int) -> None:
        # Some errors (disk full, I/O) make SQLite roll back by itself; a
        # second ROLLBACK would then raise and hide the original error.
        if not self._conn.in_transaction:
            return
        if depth == 0:
            self._conn.execute("ROLLBACK")
        else:
            self._conn.execute(f"ROLLBACK TO sp{depth}")
            self._conn.execute(f"RELEASE sp{depth}")

    @property
    def in_transaction(self) -> bool:
        """True when the calling thread is inside ``transaction()``."""
        # Only the lock owner can observe depth > 0 without racing; a
        # non-blocking acquire tells us whether that is us.
        if not self._lock.acquire(blocking=False):
            return False
        try:
            return self._depth > 0
        finally:
            self._lock.release()

    # -- low-level access for sibling modules (outbox) -----------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write statement on the store's connection; return rows changed.

        For ``app.sync`` modules that share this database (the outbox). Wrap
        several calls in ``transaction()`` to make them atomic.
        """
        with self._lock:
            return self._conn.execute(sql, params).rowcount

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run one read statement on the store's connection; return all rows."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- documents --------------------------------------------------------

    def put(self, collection: str, id: str, doc: Mapping[str, Any]) -> None:
        """Insert or replace document ``id`` in ``collection``."""
        self.put_many(collection, [(id, doc)])

    def put_many(self, collection: str, docs: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        """Insert or replace many ``(id, doc)`` pairs in one transaction; return the count."""
        # Encode before taking the write lock: other threads may read meanwhile.
        pairs = [(id, doc, _dumps(doc)) for id, doc in docs]
        # The transaction makes "which columns to fill" and the write one
        # atomic step: no other store can add an indexed column in between.
        with self.transaction():
            paths = [field.split(".") for field in self._indexed_fields()]
            rows = [
                (collection, id, body, *[_index_value(doc, path) for path in paths])
                for id, doc, body in pairs
            ]
            self._conn.executemany(self._upsert_sql, rows)
        return len(rows)

    def get(self, collection: str, id: str) -> JsonDoc | None:
        """Return document ``id`` from ``collection``, or None."""
        rows = self.fetchall(
            "SELECT body FROM documents WHERE collection = ? AND id = ?", (collection, id)
        )
        return json.loads(rows[0][0]) if rows else None

    def delete(self, collection: str, id: str) -> bool:
        """Delete document ``id``; return whether it existed."""
        return (
            self.execute("DELETE FROM documents WHERE collection = ? AND id = ?", (collection, id))
            > 0
        )

    def query(
        self,
        collection: str,
        where: Where = None,
        order_by: OrderBy = None,
        limit: int | None = None,
    ) -> list[JsonDoc]:
        """Return documents of ``collection`` matching every condition in ``where``.

        ``order_by`` is a field name or a list of them; prefix ``-`` for
        descending; ``"id"`` is the document id. Filtering and ordering on a
        declared field use its index.
        """
        with self._lock:
            sql, params = _build_select(
                "body", collection, where, order_by, limit, self._indexed_fields()
            )
            rows = self._conn.execute(sql, params).fetchall()
        return [json.loads(row[0]) for row in rows]

    def count(self, collection: str, where: Where = None) -> int:
        """Return how many documents of ``collection`` match ``where``."""
        with self._lock:
            sql, params = _build_select(
                "COUNT(*)", collection, where, None, None, self._indexed_fields()
            )
            return int(self._conn.execute(sql, params).fetchone()[0])

    def explain(
        self,
        collection: str,
        where: Where = None,
        order_by: OrderBy = None,
        limit: int | None = None,
    ) -> list[str]:
        """Return SQLite's EXPLAIN QUERY PLAN lines for the equivalent ``query``."""
        with self._lock:
            sql, params = _build_select(
                "body", collection, where, order_by, limit, self._indexed_fields()
            )
            rows = self._conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        return [row["detail"] for row in rows]

    # -- meta -------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """Return the meta value for ``key`` (sync cursor, last-sync time…)."""
        rows = self.fetchall("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        """Set the meta value for ``key``; join a transaction to save it with data."""
        self.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def delete_meta(self, key: str) -> None:
        """Remove ``key`` from meta (no error if absent)."""
        self.execute("DELETE FROM meta WHERE key = ?", (key,))

    # -- downloaded files ---------------------------------------------------

    def put_file(
        self, activity_id: str, doc_key: str, sha256: str, data: bytes, used_at: str
    ) -> None:
        """Keep ``data`` as the file of (activity, key), replacing an older version."""
        self.execute(
            "INSERT INTO files (activity_id, doc_key, sha256, size, data, last_used) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (activity_id, doc_key) DO UPDATE SET "
            "sha256 = excluded.sha256, size = excluded.size, data = excluded.data, "
            "last_used = excluded.last_used",
            (activity_id, doc_key, sha256, len(data), data, used_at),
        )

    def get_file(self, activity_id: str, doc_key: str, sha256: str) -> bytes | None:
        """The kept bytes of (activity, key) when they are version ``sha256``, else None."""
        rows = self.fetchall(
            "SELECT data FROM files WHERE activity_id = ? AND doc_key = ? AND sha256 = ?",
            (activity_id, doc_key, sha256),
        )
        return bytes(rows[0]["data"]) if rows else None

    def touch_file(self, activity_id: str, doc_key: str, used_at: str) -> None:
        """Record that (activity, key) was opened now (eviction keeps recent files)."""
        self.execute(
            "UPDATE files SET last_used = ? WHERE activity_id = ? AND doc_key = ?",
            (used_at, activity_id, doc_key),
        )

    def kept_files(self) -> list[sqlite3.Row]:
        """(activity_id, doc_key, sha256, size, last_used) of every kept file, oldest use first."""
        return self.fetchall(
            "SELECT activity_id, doc_key, sha256, size, last_used FROM files "
            "ORDER BY last_used, activity_id, doc_key"
        )

    def delete_file(self, activity_id: str, doc_key: str) -> None:
        """Forget the kept file of (activity, key) (no error if there is none)."""
        self.execute(
            "DELETE FROM files WHERE activity_id = ? AND doc_key = ?", (activity_id, doc_key)
        )

    def clear_files(self) -> None:
        """Forget every kept file (the server's documents went with the session)."""
        self.execute("DELETE FROM files")

    # -- sign out ---------------------------------------------------------

    def clear(self) -> None:
        """Delete every document, outbox item and meta value (sign out)."""
        with self.transaction():
            self._conn.execute("DELETE FROM documents")
            self._conn.execute("DELETE FROM outbox")
            self._conn.execute("DELETE FROM meta")
            self._conn.execute("DELETE FROM files")
        # Freed pages (and the WAL) would otherwise keep the previous user's
        # data on disk: rebuild the file, then fold and empty the WAL.
        with self._lock:
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# Compact and strict: NaN/Infinity are not JSON (SQLite's JSON functions
# reject them). One shared encoder: json.dumps with options builds a new one
# per call, which is a measurable share of put_many's time. check_circular=False
# saves ~10% of encoding: documents are decoded JSON (sync pages) or built by
# the app, so they have no cycles; a cyclic one would still fail, with
# RecursionError instead of ValueError, before anything is written.
_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
)


def _dumps(doc: Mapping[str, Any]) -> str:
    return _ENCODER.encode(doc)
