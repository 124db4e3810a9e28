"""Lookups inside ``dict`` feature values: ``Run.filter(trace__peak_rss__gt=2**30)``.

A dict value is stored once, as JSON text, so filtering by one of its keys reads the key
with the database's JSON functions (SQLite's ``json_type``/``json_extract``, PostgreSQL's
``jsonb`` operators). The operand's type picks how the item is read: a number compares
with numbers only, text with strings only, a bool with ``true``/``false``; an item of
another JSON type (or a missing key) is NULL, so it matches only ``ne`` and ``isnull``.
Nested keys are further ``__`` parts: ``hparams__optimizer__lr__lt=0.01``.
"""

from __future__ import annotations

import datetime as dt

import peewee

from ..errors import InvalidInput

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any

_SQLITE_TYPES = {"number": "('integer', 'real')", "text": "('text')", "bool": "('true', 'false')"}
_POSTGRES_TYPES = {"number": "number", "text": "string", "bool": "boolean"}
_TEXT_ONLY = ("startswith", "endswith", "contains", "icontains")


def kind_of(name: str, op: str, value: Any) -> str | None:
    """``number``, ``text`` or ``bool``: how to read the item for this operand (``None``
    for ``isnull``, which asks only whether the key holds a value)."""
    if op == "isnull":
        return None
    values = list(value) if op == "in" else [value]
    kinds = {_kind(v) for v in values}
    if len(kinds) != 1 or None in kinds:
        raise InvalidInput(
            f"{name}: compare a dict item with numbers, text or booleans "
            f"(one kind at a time), not {value!r}"
        )
    kind = kinds.pop()
    if op in _TEXT_ONLY and kind != "text":
        raise InvalidInput(f"{name}: {op} needs text, not {value!r}")
    return kind


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str | dt.date):
        return "text"
    return None


def operand(value: Any, sqlite: bool) -> Any:
    """An operand as the item reads: booleans as 1/0, dates as ISO text; on PostgreSQL a
    number as ``numeric``, compared exactly (not as a double: 2**53 + 1 is not 2**53)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if not sqlite and isinstance(value, int | float):
        return peewee.Cast(peewee.Value(value), "numeric")
    return value


def check_path(name: str, path: list[str]) -> None:
    for key in path:
        if not key or '"' in key or "\\" in key:
            raise InvalidInput(
                f"{name}: dict keys in lookups cannot be empty or hold "
                f"quotes or backslashes: {key!r}"
            )


def item(column: Any, path: list[str], kind: str | None, sqlite: bool) -> Any:
    """The item at ``path`` of the JSON in ``column``, typed as ``kind`` or NULL. With
    ``kind=None``: a non-NULL marker where the key holds a value other than ``null``."""
    return _sqlite_item(column, path, kind) if sqlite else _postgres_item(column, path, kind)


def _sqlite_item(column: Any, path: list[str], kind: str | None) -> Any:
    where = peewee.Value("$" + "".join(f'."{key}"' for key in path), converter=False)
    json_type = peewee.fn.json_type(column, where)
    if kind is None:
        return peewee.Case(None, [(json_type != "null", 1)], None)
    typed = peewee.NodeList((json_type, peewee.SQL(f"IN {_SQLITE_TYPES[kind]}")))
    return peewee.Case(None, [(typed, peewee.fn.json_extract(column, where))], None)


def _postgres_item(column: Any, path: list[str], kind: str | None) -> Any:
    # ``-> 'key'`` with a text key reads objects only (as SQLite's path does): no array
    # indexing by a numeric key
    node: Any = peewee.Cast(column, "jsonb")
    for key in path[:-1]:
        node = peewee.NodeList((node, peewee.SQL("->"), _text(key)))
    last = _text(path[-1])
    text = peewee.NodeList((node, peewee.SQL("->>"), last), parens=True)
    json_type = peewee.fn.jsonb_typeof(peewee.NodeList((node, peewee.SQL("->"), last), parens=True))
    if kind is None:
        return peewee.Case(None, [(json_type != "null", 1)], None)
    value: Any = text
    if kind == "number":
        value = peewee.Cast(text, "numeric")
    elif kind == "bool":
        value = peewee.Cast(peewee.Cast(text, "boolean"), "integer")
    return peewee.Case(None, [(json_type == _POSTGRES_TYPES[kind], value)], None)


def _text(key: str) -> Any:
    return peewee.Cast(peewee.Value(key, converter=False), "text")
