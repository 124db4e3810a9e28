"""Columnar reads for ``to_dataframe``: rows turned into typed pandas columns a column at
a time, never one Python object per value where it can be helped.

On an SQLite file the query runs through the ADBC SQLite driver (``adbc-driver-sqlite``,
part of the ``tables`` extra), which fills Arrow arrays in C; strings stay Arrow strings
(pandas' ``str`` dtype), numbers and booleans become nullable pandas arrays straight from
the Arrow buffers. Everywhere else (PostgreSQL, an in-memory database, a thread inside a
transaction, whose uncommitted rows only its own connection sees, a parameter the driver
would bind differently, any driver error) the rows come from the DB-API cursor as tuples.
Both paths give the same frame: same columns, dtypes and values.

Each call opens its own ADBC connection in autocommit mode and closes it (no snapshot,
nothing kept between calls).
"""

import json
import os
from typing import Any

import peewee

_SAFE_PARAMS = (str, int, float, bool, type(None))  # bound as SQLite binds them
_MAX_PARAMS = 999
_BATCH_ROWS = str(1 << 30)  # one batch: the driver infers each column's type from all rows
_ISO_US = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$"  # str(datetime) with microseconds
_ISO_US_LENGTH = 26


def column(values: Any, field: Any, pd: Any) -> Any:
    """One column of Python values as a typed pandas array (nullable dtypes)."""
    if isinstance(field, peewee.DateTimeField):
        return pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601")
    if isinstance(field, peewee.BooleanField):
        return pd.array(values, dtype="boolean")
    if isinstance(field, peewee.IntegerField | peewee.AutoField | peewee.ForeignKeyField):
        return pd.array(values, dtype="Int64")
    if isinstance(field, peewee.FloatField):
        return pd.array(values, dtype="Float64")
    if type(field).__module__ != "peewee":  # our own fields (JSON text)
        return pd.array(_python_values(values, field), dtype=object)
    return pd.array(values, dtype=object)


def _python_values(values: Any, field: Any) -> list[Any]:
    """``field.python_value`` of each value; the texts of a JSON field decoded in one
    ``json.loads`` call (one value per text, else each on its own)."""
    if type(field).__name__ != "JSONField":
        return [field.python_value(v) for v in values]
    texts = [v for v in values if v is not None]
    try:
        decoded = json.loads("[" + ",".join(texts) + "]")
    except (TypeError, ValueError):
        decoded = None
    if decoded is None or len(decoded) != len(texts):
        return [field.python_value(v) for v in values]
    found = iter(decoded)
    return [None if v is None else next(found) for v in values]


def arrow_table(db: Any, sql: str, params: Any) -> Any:
    """The query's rows as an Arrow table, or ``None`` where the columnar path cannot
    serve it (then the caller reads the cursor)."""
    if not _columnar_ok(db, params):
        return None
    try:
        with _connection(db.database) as connection, connection.cursor() as cursor:
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": _BATCH_ROWS})
            cursor.execute(sql, tuple(params))
            return cursor.fetch_arrow_table()
    except Exception:  # any driver trouble (a function only peewee's connection has, ...)
        return None  # the cursor path answers instead


def arrow_column(values: Any, field: Any, pd: Any) -> Any:
    """One Arrow column as the same pandas array ``column()`` makes of its values."""
    import pyarrow as pa

    kind = values.type
    if values.null_count == len(values):
        return _missing(len(values), field, pd)
    if type(field).__module__ == "peewee" and not isinstance(field, peewee.DateTimeField):
        if pa.types.is_string(kind) and not _numeric(field):
            return values.to_pandas().array  # pandas' str dtype, missing as NaN, as inferred
        if pa.types.is_int64(kind) and not isinstance(field, peewee.FloatField):
            data = values.fill_null(0).to_numpy()
            mask = values.is_null().to_numpy(zero_copy_only=False)
            if isinstance(field, peewee.BooleanField):
                return pd.arrays.BooleanArray(data != 0, mask)
            if _numeric(field):
                return pd.arrays.IntegerArray(data, mask)
        if pa.types.is_float64(kind) and isinstance(field, peewee.FloatField):
            data = values.fill_null(0.0).to_numpy()
            return pd.arrays.FloatingArray(data, values.is_null().to_numpy(zero_copy_only=False))
    if pa.types.is_string(kind) and isinstance(field, peewee.DateTimeField):
        return _datetimes(values, field, pd)
    if pa.types.is_string(kind):
        return column(values.to_numpy(zero_copy_only=False), field, pd)
    return column(values.to_pylist(), field, pd)


def _datetimes(values: Any, field: Any, pd: Any) -> Any:
    """Stored dates as pandas parses them (``column()``), by Arrow's parser where every
    text has peewee's form with microseconds (pandas: microsecond unit, no zone)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    present = values.drop_null()
    lengths = pc.utf8_length(present)
    same = (
        pc.all(pc.equal(lengths, _ISO_US_LENGTH)).as_py()
        and pc.all(pc.match_substring_regex(present, _ISO_US)).as_py()
    )
    if not same:
        return column(values.to_numpy(zero_copy_only=False), field, pd)
    return pd.Series(values.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False))


def _missing(n: int, field: Any, pd: Any) -> Any:
    """``column([None] * n, field, pd)``, made without ``n`` Python objects."""
    import numpy as np

    mask = np.ones(n, dtype=bool)
    if isinstance(field, peewee.DateTimeField):
        return pd.Series(np.full(n, np.datetime64("NaT", "s")))
    if isinstance(field, peewee.BooleanField):
        return pd.arrays.BooleanArray(np.zeros(n, dtype=bool), mask)
    if isinstance(field, peewee.FloatField):
        return pd.arrays.FloatingArray(np.zeros(n), mask)
    if _numeric(field):
        return pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), mask)
    return pd.array(np.full(n, field.python_value(None), dtype=object), dtype=object)


def _numeric(field: Any) -> bool:
    return isinstance(
        field,
        peewee.IntegerField | peewee.AutoField | peewee.ForeignKeyField | peewee.FloatField,
    )


def _columnar_ok(db: Any, params: Any) -> bool:
    if not isinstance(db, peewee.SqliteDatabase) or db.in_transaction():
        return False
    path = db.database
    if not isinstance(path, str) or path.startswith(("file:", ":memory:")) or path == "":
        return False
    if not os.path.isabs(path) or len(params) > _MAX_PARAMS:
        return False
    if any(type(p) not in _SAFE_PARAMS for p in params):
        return False
    try:
        import adbc_driver_sqlite.dbapi  # noqa: F401
    except ImportError:
        return False
    return True


def _connection(path: str) -> Any:
    """A new read connection to ``path`` (about 0.2 ms; one per call, so nothing is kept
    across threads, forks or a database file replaced at the same path)."""
    import adbc_driver_sqlite.dbapi as adbc

    return adbc.connect(path, autocommit=True)
