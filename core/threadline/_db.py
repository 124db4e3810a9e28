"""Database connections: SQLite (embedded) and PostgreSQL through the same peewee code.

SQLite runs in WAL mode with a long busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so that concurrent writers queue instead of failing with "database is
locked". PostgreSQL serialises writers on one key with a transaction-scoped advisory lock.
Driver errors (sqlite3, psycopg2) arrive as peewee exceptions and are mapped to
``DatabaseError`` here, in one place, as peewee's own ``ExceptionWrapper`` maps drivers.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator

import peewee

from ._config import pg_params, redact_url, url_password
from .errors import ConfigError, DatabaseError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any

BUSY_TIMEOUT_S = 120
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "foreign_keys": 1,
    "busy_timeout": BUSY_TIMEOUT_S * 1000,
    "cache_size": -16000,
}
SYNCHRONOUS = ("normal", "full", "extra")  # THREADLINE_SQLITE_SYNCHRONOUS; NORMAL is safe in WAL


def _wrap(exc: Exception, url: str) -> DatabaseError:
    """One line naming the database (password masked) and the driver's first line."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "file is not a database" in message:
        message += " (not an SQLite file, or a damaged one)"
    password = url_password(url)
    if password:  # drivers may echo connection parameters
        message = message.replace(password, "***")
    return DatabaseError(f"database {redact_url(url)}: {message}")


class _Mapped:
    """Mixin: driver errors other than integrity violations become ``DatabaseError``; a
    read or a ``BEGIN`` that finds this thread's connection dead (PostgreSQL restarted,
    a network cut) runs once more on a new connection. Nothing else is retried: a write
    outside a transaction may have been done before the connection died."""

    url = ""

    def execute_sql(self, sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        run = super().execute_sql  # type: ignore[misc]
        again = sql.lstrip()[:6].upper() in ("SELECT", "WITH R", "PRAGMA")
        return self._mapped(lambda: run(sql, params, *args, **kwargs), again)

    def begin(self, *args: Any, **kwargs: Any) -> Any:
        run = super().begin  # type: ignore[misc]
        return self._mapped(lambda: run(*args, **kwargs), again=True)

    def commit(self) -> Any:
        return self._mapped(super().commit, again=False)  # type: ignore[misc]

    def connect(self, reuse_if_open: bool = False) -> Any:
        try:
            return super().connect(reuse_if_open)  # type: ignore[misc]
        except (peewee.DatabaseError, peewee.InterfaceError) as exc:
            raise _wrap(exc, self.url) from exc

    def _mapped(self, call: Any, again: bool) -> Any:
        try:
            return call()
        except peewee.IntegrityError:
            raise
        except (peewee.DatabaseError, peewee.InterfaceError) as exc:
            if again and self._reconnected():
                return self._mapped(call, again=False)
            raise _wrap(exc, self.url) from exc

    def _reconnected(self) -> bool:
        """A new connection for this thread if its own died outside a transaction
        (psycopg2 marks a lost connection ``closed``; SQLite's never are)."""
        state = self._state  # type: ignore[attr-defined]
        if state.conn is None or not getattr(state.conn, "closed", 0) or state.transactions:
            return False
        state.reset()  # forget the dead connection: closing it again would fail
        self.connect()
        return True


class SqliteDatabase(_Mapped, peewee.SqliteDatabase):
    pass


class PostgresqlDatabase(_Mapped, peewee.PostgresqlDatabase):
    pass


def open_database(url: str) -> peewee.Database:
    """A peewee database for ``url``; connections open lazily, one per thread."""
    db: SqliteDatabase | PostgresqlDatabase
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        db = SqliteDatabase(path, pragmas=_sqlite_pragmas(), timeout=BUSY_TIMEOUT_S)
    elif url.startswith(("postgresql://", "postgres://")):
        _require_psycopg2()
        params: dict[str, Any] = {"connect_timeout": "10", **pg_params(url)}  # + sslmode=...
        db = PostgresqlDatabase(params.pop("dbname"), **params)
    else:
        raise ConfigError(f"unsupported database URL {redact_url(url)!r}")
    db.url = url
    return db


def _sqlite_pragmas() -> dict[str, object]:
    """WAL and ``synchronous=NORMAL`` (a power cut may lose the last commits, never
    consistency); ``THREADLINE_SQLITE_SYNCHRONOUS=full`` syncs the WAL on every commit."""
    level = os.environ.get("THREADLINE_SQLITE_SYNCHRONOUS", "").strip().lower()
    if not level:
        return SQLITE_PRAGMAS
    if level not in SYNCHRONOUS:
        raise ConfigError(
            f"THREADLINE_SQLITE_SYNCHRONOUS must be normal, full or extra, not {level!r}"
        )
    return {**SQLITE_PRAGMAS, "synchronous": level}


def _require_psycopg2() -> None:
    try:
        import psycopg2  # noqa: F401 - the driver peewee uses for PostgreSQL
    except ImportError:
        raise ConfigError("PostgreSQL needs psycopg2: pip install 'threadline[postgres]'") from None


def sqlite_path(url: str) -> str:
    return url[len("sqlite:///") :]


def unwrap(db: Any) -> peewee.Database:
    """The real database behind a proxy (touching the proxy opens it if needed)."""
    if isinstance(db, peewee.Proxy):
        if db.obj is None:
            db.in_transaction  # noqa: B018 - the lazy proxy connects on attribute access
        return db.obj  # type: ignore[no-any-return]
    return db  # type: ignore[no-any-return]


def is_sqlite(db: Any) -> bool:
    return isinstance(unwrap(db), peewee.SqliteDatabase)


def _lock_id(name: str) -> int:
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def write_transaction(db: peewee.Database, lock: str | None = None) -> Iterator[None]:
    """A short write transaction; ``lock`` names a key that writers serialise on.

    SQLite: ``BEGIN IMMEDIATE`` takes the single writer lock up front (the busy timeout
    makes others wait). PostgreSQL: ``pg_advisory_xact_lock`` on a hash of ``lock``.
    Nested calls join the outer transaction.
    """
    db = unwrap(db)
    if db.in_transaction():
        if lock and not is_sqlite(db):
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_lock_id(lock),))  # type: ignore[no-untyped-call]
        yield
        return
    if is_sqlite(db):
        with db.atomic(lock_type="IMMEDIATE"):
            yield
    else:
        with db.atomic():
            if lock:
                db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_lock_id(lock),))  # type: ignore[no-untyped-call]
            yield
