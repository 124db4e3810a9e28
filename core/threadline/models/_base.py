"""The base every table shares: the database proxy, uids, timestamps, JSON columns."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import math
import operator
import os
import string

import peewee

from .. import _context
from .._db import is_sqlite, unwrap, write_transaction
from .._pgcopy import copy_columns, copy_new_rows
from ..errors import DatabaseError
from ..query import QueryMixin

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    import random
    from collections.abc import Iterator
    from typing import Any, ClassVar


class _LazyDatabase(peewee.DatabaseProxy):
    """A proxy that opens the resolved instance the first time anything touches it."""

    def __getattr__(self, attr: str) -> Any:
        if self.obj is None and attr not in ("obj", "_callbacks"):
            _context.instance()
        return super().__getattr__(attr)


database = _LazyDatabase()

_ALPHABET = string.ascii_letters + string.digits


class _UidSource:
    """Random bits for uids: a generator seeded from ``os.urandom`` once per process (and
    again in a forked child). Reading ``os.urandom`` for every uid is a system call that
    releases the GIL; in a busy multi-threaded host (Prefect's event threads) getting it
    back cost about 1 ms per uid. The generator is made on the first uid (``random`` is
    2.8 M instructions to import, which a process that only reads never needs)."""

    def __init__(self) -> None:
        self.pid = -1
        self.generator: random.Random | None = None

    def bits(self, count: int) -> int:
        if self.pid != os.getpid() or self.generator is None:
            import random  # on the first uid of this process (see above)

            self.pid, self.generator = os.getpid(), random.Random(os.urandom(32))
        return self.generator.getrandbits(count)


_uid_source = _UidSource()


# random bytes to base62 digits: 0-247 map to one of 62 characters four times over (uniform);
# 248-255 are dropped, so 8 spare bytes per uid (dropping 9 of 24 bytes is about 1e-9 likely)
_DIGIT_OF_BYTE = bytes(ord(_ALPHABET[b % 62]) if b < 248 else 0 for b in range(256))
_UNUSED_BYTES = bytes(range(248, 256))


def new_uid(length: int = 16) -> str:
    """A random base62 identifier (16 chars, ~95 bits)."""
    while True:
        spare = length + 8
        raw = _uid_source.bits(8 * spare).to_bytes(spare, "big")
        digits = raw.translate(_DIGIT_OF_BYTE, _UNUSED_BYTES)
        if len(digits) >= length:
            return digits[:length].decode()


def new_uids(count: int, length: int = 16) -> list[str]:
    """``count`` uids as ``new_uid`` makes them, from one draw of random bits (a bulk
    insert's rows): the same uniform base62 digits, cut into uids one after another."""
    uids: list[str] = []
    while len(uids) < count:
        spare = (length + 8) * (count - len(uids))
        raw = _uid_source.bits(8 * spare).to_bytes(spare, "big")
        digits = raw.translate(_DIGIT_OF_BYTE, _UNUSED_BYTES).decode()
        uids += [digits[i : i + length] for i in range(0, len(digits) - length + 1, length)]
    return uids[:count]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


_JSON_SCALARS = frozenset({str, int, float, bool})
_encode_json = json.JSONEncoder().encode  # what json.dumps(value) uses without options
_encode_sorted = json.JSONEncoder(sort_keys=True, default=str).encode  # made once, not per call
# exact types whose JSON text these give as JSONEncoder().encode does (ensure_ascii)
_JSON_TEXT: dict[type, Any] = {str: json.encoder.encode_basestring_ascii, int: int.__repr__}
# the same for the scalars of a dict's values (floats only where finite: json writes NaN)
_ITEM_TEXT: dict[type, Any] = {
    **_JSON_TEXT,
    float: float.__repr__,
    bool: {True: "true", False: "false"}.__getitem__,
    type(None): lambda _: "null",
}
_SAME_KEYS = 4  # dicts with the same keys written a column at a time from this many on


def json_dict_texts(dicts: list[dict[Any, Any]]) -> list[str]:
    """``JSONField.db_value`` of many dicts, the same texts (keys sorted, ``json``'s
    separators and escapes). Dicts with the same keys in the same order (a bulk ingest's
    feature dicts) whose keys are strings and values plain scalars are written a column
    at a time: each key's text once, each column's values by one ``map``, each dict by
    one ``%`` of a template. Anything else goes through ``json`` as before."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, value in enumerate(dicts):
        groups.setdefault(tuple(value), []).append(i)
    texts = [""] * len(dicts)
    for keys, where in groups.items():
        members = [dicts[i] for i in where]
        written = _same_keys(keys, members) if len(members) >= _SAME_KEYS else None
        for i, text in zip(where, written or map(_encode_sorted, members), strict=True):
            texts[i] = text
    return texts


def _same_keys(keys: tuple[Any, ...], members: list[dict[Any, Any]]) -> list[str] | None:
    """The texts of dicts with these keys, or None where a key or value is not plain."""
    if not all(type(key) is str for key in keys):
        return None
    order = sorted(keys)
    columns = [_item_texts(list(map(operator.itemgetter(key), members))) for key in order]
    if None in columns:
        return None
    escape = json.encoder.encode_basestring_ascii
    template = "{" + ", ".join(escape(key).replace("%", "%%") + ": %s" for key in order) + "}"
    return (
        list(map(template.__mod__, zip(*columns, strict=True))) if order else ["{}"] * len(members)
    )


def _item_texts(column: list[Any]) -> list[str] | None:
    """The JSON texts of one key's values, or None if one is not a plain scalar."""
    kinds = set(map(type, column))
    if not kinds <= _ITEM_TEXT.keys():
        return None
    if float in kinds and not all(math.isfinite(v) for v in column if type(v) is float):
        return None
    if len(kinds) == 1:
        return list(map(_ITEM_TEXT[kinds.pop()], column))
    return [_ITEM_TEXT[type(v)](v) for v in column]


class JSONField(peewee.TextField):
    """JSON stored as text, identical on SQLite and PostgreSQL."""

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        if type(value) in _JSON_SCALARS:  # the common case, on json's fast path
            return _encode_json(value)
        return _encode_sorted(value)

    def python_value(self, value: Any) -> Any:
        return None if value is None else json.loads(value)


class _InheritedId(peewee.AutoField):
    """``BaseModel.id``. peewee deep-copies the parent's primary key into every table
    class it makes (some 45 ``deepcopy`` calls, 0.14 M instructions a table); a new
    ``AutoField()`` bound as this one is holds the same state (what peewee reads of the
    copy, then binds to the new table: model, name, column name)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> peewee.AutoField:
        field = peewee.AutoField()
        field.bind(self.model, self.name, set_attribute=False)
        return field


class BaseModel(QueryMixin, peewee.Model):
    """A table, with the query entry points of ``threadline.query``."""

    # Lookups through link tables: name -> (link model, its field to us, its field to other)
    _links: ClassVar[dict[str, tuple[Any, str, str]]] = {}
    id = _InheritedId()  # what peewee adds by itself, declared for the type checker
    # the table of feature values of this table's records, and its field naming the record
    _feature_table: ClassVar[Any] = None
    _feature_owner: ClassVar[str] = ""
    _dirty: set[str]  # peewee's names of fields changed since the record was read

    class Meta:
        database = database
        legacy_table_names = False

    def insert_now(self) -> None:
        """INSERT this new row with SQL built once per table (the hot path of saves).

        Same result as ``save(force_insert=True)`` without rebuilding the statement
        through peewee's query builder on every call.
        """
        db = unwrap(self._meta.database)
        names = tuple(n for n in self._meta.sorted_field_names if n != "id" and n in self.__data__)
        sql = _insert_sql(type(self), names, db.param, is_sqlite(db))
        fields = self._meta.fields
        cursor = db.execute_sql(sql, [fields[n].db_value(self.__data__[n]) for n in names])
        self.id = cursor.lastrowid if is_sqlite(db) else cursor.fetchone()[0]
        self._dirty.clear()

    def __str__(self) -> str:
        # peewee's metaclass builds ``__repr__`` as ``<Model: str(self)>``
        return ", ".join(f"{name}={getattr(self, name)!r}" for name in self._repr_fields())

    def _repr_fields(self) -> list[str]:
        return ["id"]


def insert_columns(model: type[BaseModel], columns: dict[str, list[Any]]) -> None:
    """INSERT many rows, given column by column (field name -> values), with one prepared
    statement (SQLite's executemany; psycopg2's execute_values on PostgreSQL).

    For bulk paths (feature values of thousands of records): peewee's ``insert_many``
    rebuilds the statement value by value, which costs more than the database's work.
    """
    db = unwrap(model._meta.database)
    names = tuple(columns)
    values = [_column_values(model._meta.fields[n], columns[n]) for n in names]
    if not values or not values[0]:
        return
    with peewee.__exception_wrapper__:  # type: ignore[attr-defined]  # driver errors as peewee's
        if is_sqlite(db):  # executemany steps one prepared statement: the fastest there
            params = list(zip(*values, strict=True))
            db.cursor().executemany(_insert_sql(model, names, db.param, True), params)
        elif not copy_columns(db, model._meta.table_name, _by_column(model, names, values)):
            from psycopg2.extras import execute_values  # many rows per statement

            execute_values(
                db.cursor(),
                _insert_sql(model, names, "%s", True, many=True),
                list(zip(*values, strict=True)),
                page_size=1000,
            )


def insert_records(model: type[BaseModel], rows: list[dict[str, Any]]) -> list[Any]:
    """INSERT many new records (field name -> value; defaults for fields left out or None)
    with one statement and return them with their ids, in order.

    The ids are read back in one query: every id handed out after the largest one seen
    before the insert (ids only grow, on SQLite and PostgreSQL alike), matched by uid.
    """
    if not rows:
        return []
    data = _with_defaults(model, rows)
    names = list(dict.fromkeys(itertools.chain.from_iterable(data)))  # the rows' keys
    db = unwrap(model._meta.database)
    table = model._meta.table_name
    with write_transaction(db):
        ids = {} if is_sqlite(db) else _copy_new(model, data, names)  # PostgreSQL: COPY
        if not ids:
            before = db.execute_sql(f'SELECT MAX("id") FROM "{table}"').fetchone()[0] or 0
            insert_columns(model, {name: [row.get(name) for row in data] for name in names})
            ids = dict(
                db.execute_sql(
                    f'SELECT "uid", "id" FROM "{table}" WHERE "id" > {db.param}', [before]
                ).fetchall()
            )
        if len(ids) < len(data) or any(row["uid"] not in ids for row in data):
            raise DatabaseError(
                f"{table}: the ids of new rows were not above the largest "
                "id before them (rows inserted with explicit ids?)"
            )
    for row in data:
        row["id"] = ids[row["uid"]]
    return _records(model, data)


def _with_defaults(model: type[BaseModel], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's values in front of the defaults of the fields it leaves out or None: the
    dicts peewee's ``get_default_dict`` and the row would make (same keys, same order),
    with a callable default called only for the rows that need it (uids drawn together)."""
    meta = model._meta
    given = [{k: v for k, v in row.items() if v is not None} for row in rows]
    made: list[tuple[str, Iterator[Any]]] = []  # field, fresh defaults for rows without it
    for name, default in meta._default_callable_list:  # type: ignore[attr-defined]
        missing = sum(name not in row for row in given)
        fresh = new_uids(missing) if default is new_uid else [default() for _ in range(missing)]
        made.append((name, iter(fresh)))
    static: dict[str, Any] = meta._default_by_name  # type: ignore[attr-defined]
    data = []
    for row in given:
        values = static.copy()
        for name, column in made:  # in the defaults' order, as get_default_dict has them
            values[name] = None if name in row else next(column)
        values.update(row)
        data.append(values)
    return data


def _records(model: type[BaseModel], data: list[dict[str, Any]]) -> list[Any]:
    """Records holding these rows (``__data__``), as ``model(__no_default__=1)`` makes
    them; without its per-record ``__setattr__`` calls where the model keeps peewee's
    ``__init__`` (the same three attributes, set directly)."""
    records = []
    if model.__init__ is not peewee.Model.__init__:
        for row in data:
            record = model(__no_default__=1)  # peewee's way to build a record without defaults
            record.__data__, record._dirty = row, set()
            records.append(record)
        return records
    new = object.__new__
    for row in data:
        record = new(model)
        record.__dict__.update(__data__=row, _dirty=set(), __rel__={})
        records.append(record)
    return records


def _by_column(model: type[BaseModel], names: Any, values: list[Any]) -> dict[str, list[Any]]:
    return {model._meta.fields[n].column_name: v for n, v in zip(names, values, strict=True)}


def _copy_new(model: type[BaseModel], data: list[dict[str, Any]], names: list[str]) -> Any:
    """PostgreSQL: the rows copied with ids reserved from the sequence (``_pgcopy``),
    uid -> id; empty (nothing written) where COPY cannot take them."""
    fields = model._meta.fields
    columns = [
        _column_values(fields[n], list(map(dict.get, data, itertools.repeat(n)))) for n in names
    ]
    db = unwrap(model._meta.database)
    with peewee.__exception_wrapper__:  # type: ignore[attr-defined]  # driver errors as peewee's
        ids = copy_new_rows(db, model._meta.table_name, _by_column(model, names, columns))
    return {} if ids is None else {row["uid"]: i for row, i in zip(data, ids, strict=True)}


# value types each field stores unchanged (a float column turns ints into floats itself)
_PLAIN_VALUES = {
    peewee.IntegerField: frozenset({type(None), int}),
    peewee.BigIntegerField: frozenset({type(None), int}),
    peewee.ForeignKeyField: frozenset({type(None), int}),
    peewee.DoubleField: frozenset({type(None), int, float}),
    peewee.FloatField: frozenset({type(None), int, float}),
    peewee.CharField: frozenset({type(None), str}),
    peewee.TextField: frozenset({type(None), str}),
    peewee.BooleanField: frozenset({type(None), bool}),
    peewee.DateTimeField: frozenset({type(None), dt.datetime}),  # its db_value keeps these
}


def _column_values(field: peewee.Field, values: list[Any]) -> list[Any]:
    """One column in database form; plain numbers and text in a plain column go as they
    are (converting a million values one by one costs more than inserting them)."""
    plain = _PLAIN_VALUES.get(type(field))  # exact types: subclasses may convert
    if plain is not None and set(map(type, values)) <= plain:
        return values
    encode: Any = field.db_value
    if type(field) is JSONField:  # text and whole numbers as json writes them, inline
        text = _JSON_TEXT
        found = [None if v is None else (t(v) if (t := text.get(type(v))) else v) for v in values]
        dicts = [i for i, v in enumerate(values) if type(v) is dict]  # written together
        for i, written in zip(dicts, json_dict_texts([values[i] for i in dicts]), strict=True):
            found[i] = written
        return [v if v is None or type(v) is str else encode(v) for v in found]
    return [encode(v) for v in values]


@functools.cache
def _insert_sql(
    model: type[BaseModel], names: tuple[str, ...], param: str, without_id: bool, many: bool = False
) -> str:
    """The INSERT statement; ``without_id`` leaves out PostgreSQL's ``RETURNING id``
    (SQLite reports the id as ``lastrowid``, and bulk inserts need no ids); ``many``:
    ``VALUES %s``, which psycopg2's ``execute_values`` fills with many rows."""
    columns = ", ".join(f'"{model._meta.fields[n].column_name}"' for n in names)
    marks = param if many else "(" + ", ".join([param] * len(names)) + ")"
    returning = "" if without_id else " RETURNING id"
    return f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES {marks}{returning}'
