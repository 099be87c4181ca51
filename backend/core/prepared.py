"""Reads rendered once per dialect and run straight on the driver's cursor.

The hot read routes (``backend.api.deps.hot_read``) answer most requests
with one indexed statement. SQLite runs it in about 5 µs, while
SQLAlchemy's execution path around it (events, the compiled-statement
cache, result objects, the implicit BEGIN and ROLLBACK) costs 25–35 µs of
Python per statement. A :class:`PreparedRead` keeps SQLAlchemy for what it
does best here, rendering the statement for the dialect and converting the
column types (UTC datetimes, booleans, JSON), and hands the SQL to the
driver itself.

Only for SELECTs whose parameters need no conversion (strings, integers).
They bypass SQLAlchemy's events (the write guard, statement spies in
tests). On a plain connection they run without a transaction of their own:
each statement reads one consistent snapshot, and callers must not rely on
two statements agreeing. On an ORM session they run in its transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class _Rendered:
    sql: str
    # Parameter names in placeholder order (qmark, format), or None when the
    # driver takes a mapping (named, pyformat).
    order: tuple[str, ...] | None
    # The values of the binds the statement carries itself (literals).
    fixed: dict[str, Any]
    # One converter per selected column (None: the driver's value is final).
    converters: tuple[Callable[[Any], Any] | None, ...]


class PreparedRead:
    """A Core SELECT, rendered once per dialect, executed on the DBAPI cursor."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._rendered: dict[tuple[type[Dialect], str], _Rendered] = {}

    def _render(self, dialect: Dialect) -> _Rendered:
        key = (type(dialect), dialect.paramstyle)
        rendered = self._rendered.get(key)
        if rendered is None:
            compiled = self.statement.compile(dialect=dialect)
            # (Private attributes of SQLAlchemy's compiled statement and types:
            # the bind and result converters it would apply itself.)
            if compiled._bind_processors:
                raise TypeError("PreparedRead takes only parameters the driver accepts as is")
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            converters = tuple(
                column.type._cached_result_processor(dialect, None)
                for column in self.statement.selected_columns
            )
            fixed = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
            rendered = _Rendered(compiled.string, order, fixed, converters)
            self._rendered[key] = rendered
        return rendered

    def rows(self, db: Connection | Session, params: dict[str, Any]) -> list[Sequence[Any]]:
        """Every row for ``params``, each value converted as SQLAlchemy would."""
        conn = db.connection() if isinstance(db, Session) else db
        rendered = self._render(conn.dialect)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(rendered.sql, self._args(rendered, params))
            return self._convert(rendered, cursor.fetchall())
        finally:
            cursor.close()

    @staticmethod
    def _args(rendered: _Rendered, params: dict[str, Any]) -> Any:
        values = {**rendered.fixed, **params}
        return values if rendered.order is None else [values[n] for n in rendered.order]

    @staticmethod
    def _convert(rendered: _Rendered, found: list[Sequence[Any]]) -> list[Sequence[Any]]:
        converters = rendered.converters
        if not any(converters):
            return found
        return [
            tuple(
                value if convert is None else convert(value)
                for convert, value in zip(converters, row, strict=True)
            )
            for row in found
        ]

    async def rows_async(
        self, conn: Any, dialect: Dialect, params: dict[str, Any]
    ) -> list[Sequence[Any]]:
        """Like ``rows``, on a driver's async connection (psycopg's) for ``dialect``."""
        rendered = self._render(dialect)
        async with conn.cursor() as cursor:
            await cursor.execute(rendered.sql, self._args(rendered, params))
            return self._convert(rendered, await cursor.fetchall())

    def first(self, db: Connection | Session, params: dict[str, Any]) -> Sequence[Any] | None:
        """The first row for ``params``, or None."""
        found = self.rows(db, params)
        return found[0] if found else None
