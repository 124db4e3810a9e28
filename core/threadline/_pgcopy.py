"""Bulk inserts on PostgreSQL with ``COPY ... FROM STDIN`` instead of multi-row INSERTs.

A multi-row INSERT makes the driver quote every value into the statement text
(``mogrify``) and the server parse it back; ``COPY`` streams tab-separated text that the
server reads column by column. The text is built a column at a time: values of a type
that needs no quoting go through ``str`` in one pass, and text columns are escaped only
when they hold one of the characters ``COPY`` treats specially (backslash, tab, newline,
carriage return).

New records get their ids before they are copied: one ``nextval`` per row over
``generate_series`` reserves them from the table's own sequence (ids stay unique and keep
growing, as with INSERT), so nothing has to be read back.

Only values in database form (a field's ``db_value``) of the types below are copied;
``copy_columns`` returns ``False`` for anything else and the caller inserts as before.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any

_NULL = "\\N"
_SPECIAL = ("\\", "\t", "\n", "\r")
# characters psycopg2 reads from the buffer at a time (its default is 8,192): each read
# needs the GIL back, which another busy thread of the process holds for up to 5 ms
_READ = 1 << 22
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _texts(values: list[Any]) -> list[str]:
    """A text column: escaped only if some value holds a special character."""
    present = [v for v in values if v is not None]
    joined = "".join(present)
    if any(c in joined for c in _SPECIAL):
        return [_NULL if v is None else v.translate(_ESCAPES) for v in values]
    return [_NULL if v is None else v for v in values] if len(present) < len(values) else values


def _plain(values: list[Any], text: Callable[[Any], str]) -> list[str]:
    """A column whose values need no escaping once written by ``text``."""
    return [_NULL if v is None else text(v) for v in values]


def _booleans(values: list[Any]) -> list[str]:
    return [_NULL if v is None else ("t" if v else "f") for v in values]


# type -> how a column of it (and None) is written; floats: repr round-trips exactly and
# PostgreSQL reads its 'inf'/'nan'; datetimes: ISO with a space ('2026-01-01 09:00:00')
_PLAIN: dict[type, Callable[[Any], str]] = {
    int: int.__repr__,
    float: float.__repr__,
    dt.datetime: dt.datetime.__str__,
    dt.date: dt.date.isoformat,
}


def _column_text(values: list[Any]) -> list[str] | None:
    """One column as COPY text, or None if it holds a type not handled here."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if not kinds or kinds == {str}:
        return _texts(values)
    if kinds == {bool}:
        return _booleans(values)
    if kinds <= {int, float}:  # a float column may hold ints: both write as numbers
        return _plain(values, repr)
    if len(kinds) == 1:
        (kind,) = kinds
        if kind is dt.datetime and any(v.tzinfo for v in values if v is not None):
            return None  # an INSERT converts these to the session's time zone: left to it
        if kind in _PLAIN:
            return _plain(values, _PLAIN[kind])
    return None


def copy_columns(db: Any, table: str, columns: dict[str, list[Any]]) -> bool:
    """``COPY table (columns) FROM STDIN`` of these columns (column name -> values in
    database form, all of one length); ``False`` (nothing written) if a value's type is
    not handled here."""
    texts = [_column_text(values) for values in columns.values()]
    if any(text is None for text in texts):
        return False
    _copy(db, table, list(columns), texts)  # type: ignore[arg-type]  # no None left
    return True


def copy_new_rows(db: Any, table: str, columns: dict[str, list[Any]]) -> list[int] | None:
    """``copy_columns`` of new rows with ids reserved from the sequence of ``table``'s
    ``id`` column; their ids in row order, or None (nothing written) if a value's type is
    not handled here or the table has no such sequence."""
    texts = [_column_text(values) for values in columns.values()]
    count = len(next(iter(columns.values()), []))
    if any(text is None for text in texts) or not count or "id" in columns:
        return None
    cursor = db.cursor()
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [f'"{table}"'])
    sequence = cursor.fetchone()[0]
    if sequence is None:
        return None
    cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s) ORDER BY 1", [sequence, count])
    ids: list[int] = [row[0] for row in cursor.fetchall()]
    _copy(db, table, ["id", *columns], [list(map(str, ids)), *texts])  # type: ignore[list-item]
    return ids


def _copy(db: Any, table: str, names: list[str], texts: list[list[str]]) -> None:
    if not texts or not texts[0]:
        return
    buffer = io.StringIO("\n".join(map("\t".join, zip(*texts, strict=True))) + "\n")
    columns = ", ".join(f'"{name}"' for name in names)
    db.cursor().copy_expert(f'COPY "{table}" ({columns}) FROM STDIN', buffer, size=_READ)
