"""Feature values as DataFrame columns: ``query.to_dataframe(features=True)``.

One query reads the values of every record the query matches (the query itself is the
subquery); each feature becomes a column, and a ``dict`` feature one column per key
(``trace.peak_rss``), so that a Nextflow run's task metrics are one ``df()`` away. Dates
come back as dates; a record without a value has ``None`` (numbers: ``NaN``).
"""

from collections.abc import Iterable
from typing import Any

from .._dtypes import typed_value
from ..errors import UnknownFeature


def feature_columns(
    model: Any, ids: Any, wanted: bool | Iterable[str]
) -> dict[str, dict[int, Any]]:
    """Column name -> {record id: value} for the features of the records in ``ids`` (a
    subquery of their ids): every feature they have with ``wanted=True``, else the ones
    named (a column each, even with no value)."""
    table = model._feature_table
    owner = getattr(table, model._feature_owner)
    feature = table.feature.rel_model
    names = None if wanted is True else list(dict.fromkeys(wanted))  # type: ignore[arg-type]
    dtypes = _dtypes(feature, names)
    rows = table.select(owner, feature.name, table.value).join(feature).where(owner.in_(ids))
    if names is not None:
        rows = rows.where(feature.name.in_(names))
    values: dict[str, dict[int, Any]] = {name: {} for name in names or ()}
    for record_id, name, value in rows.tuples():  # a list's rows all hold the whole list
        values.setdefault(name, {})[record_id] = typed_value(dtypes[name], value)
    if names is None:  # every feature these records have, by name
        values = dict(sorted(values.items()))
    columns: dict[str, dict[int, Any]] = {}
    for name, by_id in values.items():
        if dtypes[name] == "dict":
            columns.update(_expanded(name, by_id))
        else:
            columns[name] = by_id
    return columns


def _dtypes(feature: Any, names: list[str] | None) -> dict[str, str]:
    query = feature.select(feature.name, feature.dtype)
    if names is not None:
        query = query.where(feature.name.in_(names))
    dtypes: dict[str, str] = dict(query.tuples())
    for name in names or ():
        if name not in dtypes:
            raise UnknownFeature(name)
    return dtypes


def _expanded(name: str, by_id: dict[int, Any]) -> dict[str, dict[int, Any]]:
    """A dict feature as one column per key, ``name.key``, keys in sorted order."""
    keys = sorted({key for value in by_id.values() if isinstance(value, dict) for key in value})
    return {
        f"{name}.{key}": {i: v[key] for i, v in by_id.items() if isinstance(v, dict) and key in v}
        for key in keys
    }
