"""Columns for ``to_dataframe``: the cursor's rows turned into typed pandas columns a
column at a time, with as few Python steps per value as the column allows.

A column with no value is made whole (no ``None`` per row to convert); a JSON field's
texts are decoded in one ``json.loads`` call. The frame
is the one a value-by-value conversion gives (tests/core/test_query.py compares them).

Not used: reading SQLite through the ADBC SQLite driver, though it fills Arrow arrays in
C. Its wheel links its own copy of SQLite; two copies in one process on the same
database file do not see each other's POSIX locks, and closing one copy's connection
drops the other's (SQLite's "How To Corrupt" note on multiple copies of SQLite): a read
through it returned a row set missing a committed row.

``paused_gc`` holds Python's cyclic garbage collector while a read builds its many
short-lived objects (rows, values, records): none of them form cycles, yet every few
hundred allocations trigger a collection, and a full one scans the whole heap of the process.
It is safe across threads (a count of the reads in progress, the application's own
``gc.disable()``/``gc.enable()`` left alone).
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import peewee

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any


_pausing = threading.Lock()  # guards the two below
_pauses = 0  # reads holding the collector now, in every thread
_resume_at = 0  # threshold0 when the first of them began


@contextmanager
def paused_gc() -> Iterator[None]:
    """No automatic collection inside, in any thread, until the last read that paused it
    ends (reading a 100,000-task run's frame spent about 400 ms of its 2 s in
    collections; a 10,000-hop walk in a process holding 74,000 objects 76-120 ms of 300).

    The pause is ``threshold0 = 0`` (Python's documented "disables collection"), never
    ``gc.disable()``: the collector's on/off switch belongs to the application, so a
    thread that turns it off (or on) during another thread's read keeps what it set.
    Pauses are counted across threads under a lock: the first to begin sets threshold0
    to 0, the last to end puts back the value the first found, unless someone set
    another threshold meanwhile (then theirs stays).
    """
    global _pauses, _resume_at
    with _pausing:
        if _pauses == 0:
            _resume_at = gc.get_threshold()[0]
            _set_threshold0(0)
        _pauses += 1
    try:
        yield
    finally:
        with _pausing:
            _pauses -= 1
            if _pauses == 0 and gc.get_threshold()[0] == 0:
                _set_threshold0(_resume_at)


def _set_threshold0(value: int) -> None:
    gc.set_threshold(value, *gc.get_threshold()[1:])


def column(values: Any, field: Any, pd: Any) -> Any:
    """One column of Python values as a typed pandas array (nullable dtypes)."""
    if values and values[0] is None and values.count(None) == len(values):
        return _missing(len(values), field, pd)
    if isinstance(field, peewee.DateTimeField):
        return pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601")
    if isinstance(field, peewee.BooleanField):
        return _whole(values, pd, boolean=True) or pd.array(values, dtype="boolean")
    if isinstance(field, peewee.IntegerField | peewee.AutoField | peewee.ForeignKeyField):
        return _whole(values, pd, boolean=False) or pd.array(values, dtype="Int64")
    if isinstance(field, peewee.FloatField):
        return pd.array(values, dtype="Float64")
    if type(field).__module__ != "peewee":  # our own fields (JSON text)
        return pd.array(_python_values(values, field), dtype=object)
    return pd.array(values, dtype=object)


def _whole(values: Any, pd: Any, boolean: bool) -> Any:
    """A column without ``None`` as the masked array ``pd.array`` makes of it, from one
    numpy conversion (``None``: a missing value, or values that are not all int64,
    or not all 0/1 for a boolean; ``pd.array`` then decides, as before). A ``None``
    makes numpy's array one of objects, so no search for it comes first."""
    import numpy as np

    array = np.array(values)
    mask = np.zeros(len(array), dtype=bool)
    if array.dtype == np.bool_ and boolean:
        return pd.arrays.BooleanArray(array, mask)
    if array.dtype != np.int64:
        return None
    if not boolean:
        return pd.arrays.IntegerArray(array, mask)
    if ((array == 0) | (array == 1)).all():
        return pd.arrays.BooleanArray(array.astype(bool), mask)
    return None


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
