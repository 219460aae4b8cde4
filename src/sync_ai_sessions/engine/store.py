"""Rows in a tool's SQLite database (the engine's store operations, and `undo`'s inverses): connections
and the few statements, with table and column names always quoted."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any

from sync_ai_sessions.adapters.base import (
    Row,
)


def open_store(db: Path, *, write: bool = False) -> sqlite3.Connection:
    """A connection to a tool's database: read-only, or for writing (waits up to 10 s for the tool's lock)."""
    if write:
        con = sqlite3.connect(db, timeout=10, isolation_level=None)
    else:
        con = sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True, timeout=10, isolation_level=None)
    con.row_factory = sqlite3.Row
    return con


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def where_key(key: dict[str, Any]) -> str:
    """The row whose `key` columns hold these values; `IS`, not `=`, so that a NULL matches a NULL (a table
    of the tool's may have no primary key: its rows are then named by all their columns)."""
    return " AND ".join(f"{quote_ident(k)} IS ?" for k in key)


_BLOB = "$b64"


def to_journal(values: dict[str, Any]) -> dict[str, Any]:
    """A row's values as JSON can hold them: a BLOB becomes {"$b64": ...} (see `from_journal`)."""
    return {k: {_BLOB: base64.b64encode(v).decode()} if isinstance(v, bytes) else v for k, v in values.items()}


def from_journal(values: dict[str, Any]) -> dict[str, Any]:
    """The row's values as they were, from `to_journal`'s form."""
    return {k: base64.b64decode(v[_BLOB]) if isinstance(v, dict) and set(v) == {_BLOB} else v
            for k, v in values.items()}


def table_columns(con: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in con.execute(f"PRAGMA table_info({quote_ident(table)})")]


def fetch_row(con: sqlite3.Connection, row: Row) -> dict[str, Any] | None:
    where = where_key(row.key)
    cur = con.execute(f"SELECT * FROM {quote_ident(row.table)} WHERE {where}", [row.values[k] for k in row.key])
    r = cur.fetchone()
    return dict(r) if r is not None else None


def comparable(existing: dict[str, Any], row: Row) -> dict[str, Any]:
    """`existing` cut to the columns `row` carries (what the import would write)."""
    return {k: existing.get(k) for k in row.values}


def insert_row(con: sqlite3.Connection, row: Row) -> None:
    cols = list(row.values)
    names = ", ".join(map(quote_ident, cols))
    con.execute(f"INSERT INTO {quote_ident(row.table)} ({names}) VALUES ({', '.join('?' * len(cols))})",
                [row.values[c] for c in cols])


def update_row(con: sqlite3.Connection, table: str, key: dict[str, Any], values: dict[str, Any]) -> None:
    sets = ", ".join(f"{quote_ident(c)} = ?" for c in values)
    where = where_key(key)
    con.execute(f"UPDATE {quote_ident(table)} SET {sets} WHERE {where}", [*values.values(), *key.values()])


def delete_row(con: sqlite3.Connection, table: str, key: dict[str, Any]) -> None:
    where = where_key(key)
    con.execute(f"DELETE FROM {quote_ident(table)} WHERE {where}", list(key.values()))
