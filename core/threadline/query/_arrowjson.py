"""Feature values parsed by Arrow's JSON reader, as the frame columns of ``_frame.py``.

Each stored JSON text becomes one line ``{"v": <text>}``; the reader turns the lines into
typed arrays in C (a ``dict`` feature: a struct whose fields are its keys). Each array is
then put at its records' rows with ``take`` and given the dtype pandas infers from the
same values as Python objects (``[1, None]``: float64 with NaN; ``["a", None]``: str;
``[True, None]``: object). Whatever the reader types otherwise (dates, lists, nested
dicts, numbers too big for int64) or cannot read answers ``None``: the caller decodes the
texts with ``json`` instead, so both ways give the same frame.

Texts of the plainest shapes (strings without escapes, ints of up to 18 digits, bools)
skip the reader: Arrow's string kernels make the reader's array two to three times
faster (``_plain``). On SQLite the values arrive as three concatenated texts split by
Arrow (``concatenated``), not as one Python tuple per value.
"""

from __future__ import annotations

from ..errors import DatabaseError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any


_PLAIN = frozenset({"int", "float", "str", "bool"})


def parsed_columns(
    name: str, dtype: str, owners: Any, raw: Any, rows: Any
) -> dict[str, Any] | None:
    """Column name -> array aligned with ``rows`` (a pandas Index of record ids) for the
    texts ``raw`` of ``owners``; ``None`` where the reader cannot stand in for ``json``."""
    return placed_columns(name, dtype, parsed_array(dtype, raw), owners, rows)


def concatenated(db: Any, sql: str, params: Any) -> dict[int, tuple[Any, Any]] | None:
    """SQLite: the rows of ``sql`` (``o`` owner, ``f`` feature, ``v`` JSON text) grouped by
    feature as (owner ids, Arrow texts): ``grouped(concatenated_texts(...))``. ``None``
    (read the rows instead): see those two."""
    return grouped(concatenated_texts(db, sql, params))


def concatenated_texts(db: Any, sql: str, params: Any) -> tuple[Any, Any, Any] | None:
    """The rows of ``sql`` as three texts SQLite concatenates (owners, features, and the
    JSON texts separated by char(30); the i-th item of each is one row's: the aggregates
    step through the same rows): no Python object per value, and SQLite builds them
    without the GIL. ``None``: no pyarrow to split them, or more than SQLite holds in
    one string."""
    try:
        import pyarrow  # noqa: F401 - grouped() splits with it
    except ImportError:
        return None
    whole = f"SELECT group_concat(o), group_concat(f), group_concat(v, char(30)) FROM ({sql})"
    try:
        texts: tuple[Any, Any, Any] = db.execute_sql(whole, params).fetchone()
    except DatabaseError:
        return None
    return texts


def grouped(texts: tuple[Any, Any, Any] | None) -> dict[int, tuple[Any, Any]] | None:
    """``concatenated_texts`` split by Arrow and grouped by feature; ``None``: a text
    holding the separator (JSON never does unescaped), or more than Arrow holds in one
    string. No database access (a thread of its own may run it)."""
    if texts is None:
        return None
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    owners, features, values = texts
    if owners is None:
        return {}
    try:
        ids = [_split(x, ",", pa, pc) for x in (owners, features)]
        owner_ids, feature_ids = (pc.cast(x, pa.int64()).to_numpy() for x in ids)
        split = _split(values, "\x1e", pa, pc)
    except (pa.ArrowException, ValueError):
        return None
    if not len(owner_ids) == len(feature_ids) == len(split):
        return None
    order = np.argsort(feature_ids, kind="stable")
    found, starts = np.unique(feature_ids[order], return_index=True)
    owner_ids, split = owner_ids[order], split.take(pa.array(order))
    ends = [*starts[1:], len(order)]
    return {
        int(f): (owner_ids[start:end], split.slice(start, end - start))
        for f, start, end in zip(found, starts, ends, strict=True)
    }


def _split(text: str, separator: str, pa: Any, pc: Any) -> Any:
    return pc.split_pattern(pa.array([text], pa.string()), separator).flatten()


def parsed_array(dtype: str, raw: Any) -> Any:
    """The texts of one feature as one Arrow array, or ``None`` (json must read them)."""
    if dtype != "dict" and dtype not in _PLAIN:
        return None
    try:
        import pyarrow as pa
    except ImportError:  # pandas runs without it: json decodes
        return None
    try:
        texts = raw if isinstance(raw, pa.Array) else pa.array(raw, type=pa.string())
        parsed = _plain(dtype, texts) if dtype in _SHAPES else None
        return _parse(texts) if parsed is None else parsed
    except (pa.ArrowException, ValueError):
        return None


def placed_columns(
    name: str, dtype: str, parsed: Any, owners: Any, rows: Any
) -> dict[str, Any] | None:
    """``parsed_array``'s array as columns aligned with ``rows`` (``None``: json reads)."""
    if parsed is None:
        return None
    import pyarrow as pa

    take = _positions(owners, rows, pa)
    if dtype != "dict":
        if dtype == "int" and not pa.types.is_int64(parsed.type):
            return None  # beyond int64: Python keeps the ints
        column = _inferred(parsed.take(take), pa)
        return None if column is None else {name: column}
    if pa.types.is_null(parsed.type):  # no record has a dict: no columns, as with json
        return {}
    if not pa.types.is_struct(parsed.type):
        return None
    placed = parsed.take(take).flatten()  # a missing dict: every key missing
    columns = {}
    for field, values in sorted(zip(parsed.type, placed, strict=True), key=lambda f: f[0].name):
        column = _inferred(values, pa)
        if column is None:
            return None
        columns[f"{name}.{field.name}"] = column
    return columns


# What every text of a feature must look like to be read without the JSON reader (JSON
# as ``json.dumps`` writes it): a string without escapes, an int of at most 18 digits
# (always an int64), a bool. The array is the reader's (same type and values), made
# two to three times faster; anything else goes to the reader.
_SHAPES = {
    "str": r'^"[^"\\\x00-\x1f]*"$',
    "int": r"^-?(0|[1-9][0-9]{0,17})$",
    "bool": r"^(true|false)$",
}


def _plain(dtype: str, texts: Any) -> Any:
    """The array the JSON reader makes of ``texts``, or ``None`` (not all of that shape)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if texts.null_count or not pc.all(pc.match_substring_regex(texts, _SHAPES[dtype])).as_py():
        return None
    if dtype == "str":
        return pc.utf8_slice_codeunits(texts, 1, -1)  # the quotes off
    if dtype == "int":
        return pc.cast(texts, pa.int64())
    return pc.equal(texts, "true")


def _parse(texts: Any) -> Any:
    """The texts as one Arrow array (``None``: a NULL text or a line count that differs)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    if texts.null_count:
        return None
    lines = pc.binary_join_element_wise(pa.scalar('{"v":'), texts, pa.scalar("}"), "")
    whole = pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines)
    data = pc.binary_join(whole, "\n")[0].as_buffer()
    options = pj.ReadOptions(use_threads=False, block_size=data.size + 1)  # one block
    table = pj.read_json(pa.BufferReader(data), read_options=options)
    if table.num_rows != len(texts) or table.column_names != ["v"]:
        return None
    return table.column("v").combine_chunks()


def _positions(owners: Any, rows: Any, pa: Any) -> Any:
    """For each of ``rows``, the index of its value in ``owners`` (null: it has none)."""
    import numpy as np

    at = rows.get_indexer(owners)
    kept = at >= 0
    index = np.full(len(rows), -1, dtype=np.int64)
    index[at[kept]] = np.nonzero(kept)[0]  # a record listed twice: its last value
    return pa.array(index, mask=index < 0)


def _inferred(values: Any, pa: Any) -> Any:
    """The array pandas makes of ``values.to_pylist()``, or ``None`` for other types."""
    import numpy as np

    kind = values.type
    if values.null_count == len(values):
        return np.full(len(values), None, dtype=object)
    if pa.types.is_int64(kind) or pa.types.is_float64(kind):
        return values.to_numpy(zero_copy_only=False)  # with a missing value: float64, NaN
    if pa.types.is_string(kind):
        return values.to_pandas().array
    if pa.types.is_boolean(kind):
        if values.null_count:
            return np.array(values.to_pylist(), dtype=object)
        return values.to_numpy(zero_copy_only=False)
    return None
