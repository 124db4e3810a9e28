"""The one database connection that ``Writer.at_once`` writes share.

The threads of an engine's thread pool (new ones for every flow) would each open a
connection of their own just to start a run (0.3-0.7 ms of CPU each on SQLite). They
take turns with the writer on its lock instead (``Writer.turn``), so one connection,
used by one thread at a time, serves them all.
"""

import contextlib
import sqlite3
from typing import Any

import peewee


class SharedConnection:
    """A connection to one database, opened on first use and again after ``drop``."""

    def __init__(self) -> None:
        self._held: tuple[Any, Any] | None = None  # (database, connection)

    def get(self, db: Any) -> Any:
        """The connection to ``db`` (another database's is closed first)."""
        if self._held is not None and self._held[0] is db:
            return self._held[1]
        self.drop()
        if isinstance(db, peewee.SqliteDatabase):  # used by many threads, one at a time
            conn = sqlite3.connect(
                db.database,
                timeout=db.timeout,
                isolation_level=None,
                check_same_thread=False,
                **db.connect_params,
            )
            db._add_conn_hooks(conn)  # type: ignore[attr-defined]  # its pragmas, as peewee opens one
        else:  # psycopg2's connections may be shared between threads
            with peewee.__exception_wrapper__:  # type: ignore[attr-defined]
                conn = db._connect()
        self._held = (db, conn)
        return conn

    def drop(self) -> None:
        """Close the connection, if open (it may be broken: an outage)."""
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(Exception):
                held[1].close()


def in_memory(db: Any) -> bool:
    """An SQLite database in memory: another connection would open another database."""
    name = str(getattr(db, "database", "") or "")
    return isinstance(db, peewee.SqliteDatabase) and (
        name in ("", ":memory:") or "mode=memory" in name
    )
