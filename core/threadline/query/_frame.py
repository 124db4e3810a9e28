"""Feature values as DataFrame columns: ``query.to_dataframe(features=True)``.

One query reads the values of every record the query matches (the query itself is the
subquery); each feature becomes a column, and a ``dict`` feature one column per key
(``trace.peak_rss``), so that a Nextflow run's task metrics are one ``df()`` away. Dates
come back as dates; a record without a value has ``None`` (numbers: ``NaN``).

Built for size (a 100,000-task run is 400,000 values): the rows come straight from the
cursor as tuples and are grouped by feature with one numpy sort. The JSON texts of a
plain (``int``, ``float``, ``str``, ``bool``) or ``dict`` feature are parsed by Arrow's
JSON reader into typed arrays (a dict's keys become columns), placed at their records'
rows with ``take``: no Python object per value (``_arrowjson.py``). Each column has the
dtype pandas infers from the Python values (``[1, None]``: float64 with NaN), so the
frame is the one the Python path builds; any other feature, or JSON the reader types
otherwise (dates, nested values), is decoded by one ``json.loads`` call and placed by
position.

The values are read first, on the caller's connection and in the same read transaction
as the records' rows (one snapshot, ``Query.to_dataframe``); on SQLite as three texts
SQLite concatenates, split by Arrow (``concatenated``: no Python object per value). A
thread of their own parses them (``in_background``; Arrow holds no GIL) while the
caller reads the rows: on a machine with a free core the parsing costs no wall time. A
small frame's values (under ``SMALL_ROWS`` rows, or ``SMALL_TEXT`` characters of JSON)
are parsed on the caller's thread: starting and joining a thread costs more there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import partial
from itertools import repeat

from .._db import is_sqlite, unwrap
from .._dtypes import typed_value
from ..errors import UnknownFeature
from ._arrowjson import concatenated_texts, grouped, parsed_array, placed_columns

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any


def feature_columns(
    model: Any, ids: Any, wanted: bool | Iterable[str]
) -> Callable[[Any], dict[str, Any]]:
    """Starts reading the feature values of the records in ``ids`` (a subquery of their
    ids): every feature they have with ``wanted=True``, else the ones named (a column
    each, even with no value). Returns the function that makes their columns (name ->
    values) in the order of the record ids it is given."""
    table = model._feature_table
    owner = getattr(table, model._feature_owner)
    names = None if wanted is True else list(dict.fromkeys(wanted))  # type: ignore[arg-type]
    features = _features(table.feature.rel_model, names)  # name -> (id, dtype)
    values = (owner.alias("o"), table.feature.alias("f"), table.value.alias("v"))
    query = table.select(*values).where(owner.in_(ids))
    if names is not None:
        query = query.where(table.feature.in_([features[n][0] for n in names]))
    db, dtypes = unwrap(table._meta.database), dict(features.values())
    texts = concatenated_texts(db, *query.sql()) if is_sqlite(db) else None
    if texts is None:
        found = db.execute_sql(*query.sql()).fetchall()
        rows = _by_feature(found)
        reading = parse(partial(_parsed, rows, dtypes), small=len(found) < SMALL_ROWS)
    else:  # split, grouped and parsed meanwhile; the rows read again if they cannot be
        small = len(texts[2] or "") < SMALL_TEXT
        reading = parse(partial(_split_up, texts, dtypes), small=small)
    again = partial(_rows_read_again, db, query.sql(), dtypes)
    return partial(_columns, names, features, reading, again)


SMALL_ROWS = 5_000  # fewer values than this are parsed on the caller's thread
SMALL_TEXT = 64 * 1024  # the same for SQLite's concatenated JSON texts (characters)


def parse(work: Callable[[], Any], small: bool) -> Callable[[], Any]:
    """``work()`` now, for a small frame (a thread costs more than it saves there: 20
    runs with 3 features, 3.9 ms -> 3.2 ms, bench/README.md), else ``in_background``;
    either way the function returned gives its result."""
    if not small:
        return in_background(work)
    done = work()
    return lambda: done


def in_background(work: Callable[[], Any]) -> Callable[[], Any]:
    """``work()`` in a thread of its own, started now; the function returned waits for
    its result (or raises its error)."""
    import threading

    done: list[Any] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as exc:  # raised again in the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=run, name="threadline-feature-values", daemon=True)
    thread.start()

    def result() -> Any:
        thread.join()
        if failed:
            raise failed[0]
        return done[0]

    return result


def _parsed(groups: dict[int, tuple[Any, Any]], dtypes: dict[int, str]) -> Any:
    return groups, {f: parsed_array(dtypes[f], groups[f][1]) for f in groups if f in dtypes}


def _split_up(texts: tuple[Any, Any, Any], dtypes: dict[int, str]) -> Any:
    groups = grouped(texts)
    return None if groups is None else _parsed(groups, dtypes)


def _rows_read_again(db: Any, sql: tuple[str, Any], dtypes: dict[int, str]) -> Any:
    """The values as rows, on the caller's connection (in the frame's transaction)."""
    return _parsed(_by_feature(db.execute_sql(*sql).fetchall()), dtypes)


def _columns(
    names: list[str] | None,
    features: dict[str, tuple[int, str]],
    reading: Callable[[], Any],
    again: Callable[[], Any],
    record_ids: Any,
) -> dict[str, Any]:
    import pandas as pd

    groups, parsed = reading() or again()
    shown = names if names is not None else sorted(n for n, f in features.items() if f[0] in groups)
    rows = pd.Index(record_ids)
    columns: dict[str, Any] = {}
    for name in shown:
        feature_id, dtype = features[name]
        owners, raw = groups.get(feature_id, ([], []))
        placed = placed_columns(name, dtype, parsed.get(feature_id), owners, rows)
        if placed is not None:
            columns.update(placed)
            continue
        texts = raw if isinstance(raw, list) else raw.to_pylist()
        values = json.loads("[" + ",".join(texts) + "]")  # one call for the whole column
        if dtype == "dict":
            dicts = [v if type(v) is dict else _NO_DICT for v in values]
            columns.update(_expanded(name, _placed(owners, dicts, rows, _NO_DICT)))
            continue
        if _temporal(dtype):
            values = [typed_value(dtype, value) for value in values]
        columns[name] = _placed(owners, values, rows, None)
    return columns


_NO_DICT: dict[str, Any] = {}  # the value of a dict feature a record does not have


def _features(feature: Any, names: list[str] | None) -> dict[str, tuple[int, str]]:
    query = feature.select(feature.name, feature.id, feature.dtype)
    if names is not None:
        query = query.where(feature.name.in_(names))
    found = {name: (feature_id, dtype) for name, feature_id, dtype in query.tuples()}
    for name in names or ():
        if name not in found:
            raise UnknownFeature(name)
    return found


def _by_feature(rows: list[tuple[int, int, str]]) -> dict[int, tuple[Any, list[str]]]:
    """Feature id -> (owner ids, stored JSON texts), grouped by numpy in one sort; a
    list's rows all hold the whole list."""
    import numpy as np

    if not rows:
        return {}
    owners, feature_ids, raw = zip(*rows, strict=True)
    by_feature = np.fromiter(feature_ids, dtype=np.int64, count=len(rows))
    order = np.argsort(by_feature, kind="stable")
    found, starts = np.unique(by_feature[order], return_index=True)
    owner_ids = np.fromiter(owners, dtype=np.int64, count=len(rows))[order]
    texts = np.fromiter(raw, dtype=object, count=len(rows))[order]
    ends = [*starts[1:], len(rows)]
    return {
        int(f): (owner_ids[start:end], texts[start:end].tolist())
        for f, start, end in zip(found, starts, ends, strict=True)
    }


def _temporal(dtype: str) -> bool:
    return dtype.removeprefix("list[").removesuffix("]") in ("date", "datetime")


def _placed(owners: Any, values: list[Any], rows: Any, missing: Any) -> list[Any]:
    """``values`` (of ``owners``) at their records' rows (``rows``: the frame's record
    ids as a pandas Index); ``missing`` elsewhere."""
    import numpy as np

    at = rows.get_indexer(owners)
    column = np.full(len(rows), missing, dtype=object)
    kept = at >= 0
    column[at[kept]] = np.fromiter(values, dtype=object, count=len(values))[kept]
    placed: list[Any] = column.tolist()
    return placed


def _expanded(name: str, dicts: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """A dict feature as one column per key, ``name.key``, keys in sorted order."""
    keys = sorted(set().union(*dicts))
    return {f"{name}.{key}": list(map(dict.get, dicts, repeat(key))) for key in keys}
