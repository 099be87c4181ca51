"""Engine and session factory; schema upgrades through Alembic."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the app's readers run while a booking commits; the busy timeout
    # (sqlite3's ``timeout``, set at connect) makes concurrent writers queue
    # instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


WRITE_OPTION = "portal_write"
# Set on the sessions that serve API requests (see ``guard_request_writes``).
REQUEST_OPTION = "portal_request"
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")

log = logging.getLogger("portal")


class UndeclaredWrite(RuntimeError):
    """A request wrote in a transaction that did not begin as a write."""


def guard_request_writes(engine: Engine, *, strict: bool) -> None:
    """Catch request code that writes without ``begin_write``.

    On SQLite such a write may fail under concurrency (its deferred
    transaction cannot always upgrade its lock). ``strict`` (the tests)
    raises; otherwise it is logged, once per statement.
    """
    seen: set[str] = set()

    @event.listens_for(engine, "before_cursor_execute")
    def _check(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        options = conn.get_execution_options()
        if not options.get(REQUEST_OPTION) or options.get(WRITE_OPTION):
            return
        if not statement.lstrip().upper().startswith(_WRITE_VERBS):
            return
        if strict:
            raise UndeclaredWrite(f"write without begin_write(): {statement[:80]}")
        if statement not in seen:
            seen.add(statement)
            log.warning("write without begin_write(): %s", statement[:200])


def _sqlite_begin(conn: Any) -> None:
    # Reads begin DEFERRED: in WAL they see a snapshot and never wait for the
    # write lock. A deferred transaction that reads and then writes can fail
    # to upgrade its lock (SQLITE_BUSY_SNAPSHOT) when another writer committed
    # in between, so a transaction that will write says so up front and takes
    # the write lock with IMMEDIATE: that serializes bookings and revision
    # numbers on SQLite.
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        # Straight to the driver: a deferred BEGIN takes no lock and cannot
        # wait or fail, and every read pays for this statement (SQLAlchemy's
        # execution path costs more than SQLite's work here).
        conn.connection.dbapi_connection.execute("BEGIN")


def make_engine(
    url: str, *, pool_size: int = 5, busy_timeout_s: float = 30, **kwargs: Any
) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and serialized write transactions.

    ``pool_size`` connections are kept and never exceeded: the request path is
    sized so that every request in flight can hold one (see
    ``backend/api/overload.py``), so a request never waits for a connection
    held by another one that waits for it in turn.
    """
    pool_args: dict[str, Any] = {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": 30}
    pool_args.update(kwargs)
    if url.startswith("sqlite"):
        if ":memory:" in url or url in ("sqlite://", "sqlite+pysqlite://"):
            # One shared in-memory database: its pool is not sized.
            pool_args = dict(kwargs)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
            **pool_args,
        )
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_pysqlite_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **pool_args)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Session factory that keeps loaded objects usable after commit.

    Sessions start as readers; ``begin_write`` turns one into a writer.
    """
    return sessionmaker(
        engine,
        expire_on_commit=False,
        info={"write_bind": engine.execution_options(**{WRITE_OPTION: True})},
    )


def hot_read_engine(engine: Engine) -> Engine:
    """Connections for the hot read routes (``backend.api.deps.hot_read``).

    Tagged as request connections, so a write through SQLAlchemy on one is
    caught (``guard_request_writes``). Their single statements run on the
    driver outside any transaction (``backend.core.prepared``); a follow-up
    read through SQLAlchemy (a pull) begins one as usual on SQLite. On
    PostgreSQL they are in autocommit: each statement stands alone (under
    READ COMMITTED each has its own snapshot anyway), which saves a BEGIN
    and a ROLLBACK round trip. SQLite is left as ``make_engine`` set it up:
    pysqlite's autocommit switch, undone on every return to the pool, would
    reset its transaction handling.
    """
    options: dict[str, Any] = {REQUEST_OPTION: True}
    if engine.dialect.name != "sqlite":
        options["isolation_level"] = "AUTOCOMMIT"
    return engine.execution_options(**options)


def request_write_engine(engine: Engine) -> Engine:
    """Write transactions of API requests made without an ORM session (``begin_write`` rules)."""
    return engine.execution_options(**{REQUEST_OPTION: True, WRITE_OPTION: True})


def write_bind(db: Session) -> Engine:
    """The engine ``db`` uses for write transactions."""
    bind = db.info.get("write_bind")
    if bind is None:
        bind = db.get_bind().execution_options(**{WRITE_OPTION: True})
        db.info["write_bind"] = bind
    return bind


def begin_write(db: Session) -> Session:
    """Make ``db``'s transactions write transactions, from now on.

    On SQLite they begin IMMEDIATE (take the write lock before the first
    read, so the data they decide on cannot change under them); elsewhere
    the option is inert and row or advisory locks do that job. Call it
    before the first read of a transaction that will write. A read
    transaction already open is ended first (it must hold no unsaved
    changes); the objects it loaded are reloaded on next access.
    """
    writer = write_bind(db)
    if db.bind is writer:
        return db
    if db.in_transaction():
        if db.new or db.dirty or db.deleted:
            raise RuntimeError("begin_write() after unsaved changes: call it before writing")
        db.rollback()
    db.bind = writer
    return db


def is_writer(db: Session) -> bool:
    """Whether ``db`` begins its transactions as writes (see ``begin_write``)."""
    return db.bind is not None and db.bind is db.info.get("write_bind")


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at our migration scripts, without an ini file."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database schema to the newest revision (never drops data)."""
    command.upgrade(alembic_config(url), "head")
