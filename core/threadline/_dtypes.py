"""Feature dtypes: their names, which values they accept, and how stored values read back.

Pure rules with no database access (the tables in ``models/feature.py``, the pandera
validation and the query layer all apply them): ``normalize_dtype`` spells a dtype one
way, ``check_value`` turns a value into what its dtype stores (or raises
``InvalidFeatureValue``), ``infer_dtype`` picks a new feature's dtype from a first value,
``typed_value`` turns a stored value back into its Python type.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re

from .errors import InvalidFeatureValue, InvalidInput

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    Protocol = object  # the protocol classes below are types only

DTYPES = ("int", "float", "str", "bool", "date", "datetime", "dict")
_LIST = re.compile(r"^list\[(\w+|cat\[Label\])\]$")
_CAT = re.compile(r"^cat(\[Label\])?$")
_PY_DTYPES = {
    int: "int",
    float: "float",
    str: "str",
    bool: "bool",
    dict: "dict",
    dt.date: "date",
    dt.datetime: "datetime",
}


def normalize_dtype(dtype: Any) -> str:
    """``str``/``"str"``/``list[int]``/``"cat[Label]"`` -> the canonical dtype string."""
    if isinstance(dtype, type) and dtype in _PY_DTYPES:
        return _PY_DTYPES[dtype]
    text = getattr(dtype, "__name__", None) if not isinstance(dtype, str) else dtype
    if getattr(dtype, "__origin__", None) is list:
        text = f"list[{normalize_dtype(dtype.__args__[0])}]"
    if not isinstance(text, str):
        raise InvalidInput(f"unsupported feature dtype {dtype!r}")
    if text in DTYPES or _CAT.match(text):
        return "cat[Label]" if text.startswith("cat") else text
    inner = _LIST.match(text) or re.match(r"^list\[(cat)\]$", text)
    if inner and (inner.group(1) in DTYPES or _CAT.match(inner.group(1))):
        return "list[cat[Label]]" if inner.group(1).startswith("cat") else text
    raise InvalidInput(
        f"unsupported feature dtype {dtype!r}: use one of {', '.join(DTYPES)}, "
        "list[...] or cat[Label]"
    )


# a value of exactly this type is already what its dtype stores (the common case; dicts
# are still scanned for NaN and infinities, which JSON cannot hold)
EXACT = {"str": str, "int": int, "float": float, "bool": bool}


def _json_safe(value: Any) -> bool:
    """Whether a dict or list holds no NaN or infinite float at any depth."""
    items = value.values() if isinstance(value, dict) else value
    for item in items:
        kind = type(item)
        if kind is float and not math.isfinite(item):
            return False
        if (kind is dict or kind is list) and not _json_safe(item):
            return False
    return True


class FeatureLike(Protocol):
    """What value checking reads of a feature: a ``tl.Feature`` or a ``Spec``."""

    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    @property
    def coerce(self) -> bool: ...


class Spec:
    """A feature's rules without its record (list elements, pandera probes, ``uns`` keys)."""

    __slots__ = ("coerce", "dtype", "name")

    def __init__(self, name: str, dtype: str, coerce: bool = False) -> None:
        self.name, self.dtype, self.coerce = name, dtype, coerce


def check_value(feature: FeatureLike, value: Any) -> Any:
    """``value`` as the feature's dtype (coerced when the feature allows), or an error."""
    dtype = feature.dtype
    if type(value) is EXACT.get(dtype):
        return value
    inner = _LIST.match(dtype)
    if inner:
        if not isinstance(value, list | tuple):
            raise InvalidFeatureValue(feature.name, value, dtype)
        elem = Spec(feature.name, inner.group(1), feature.coerce)
        try:
            return [check_value(elem, v) for v in value]
        except InvalidFeatureValue:
            raise InvalidFeatureValue(feature.name, value, dtype) from None
    checker = _CHECKS.get("cat" if dtype.startswith("cat") else dtype)
    ok, result = checker(value, feature.coerce) if checker else (False, None)
    if not ok:
        raise InvalidFeatureValue(feature.name, value, dtype)
    return result


def is_label(value: Any) -> bool:
    """A ``tl.Label`` record (known by its class: this layer sits below the tables)."""
    return type(value).__name__ == "Label" and isinstance(getattr(value, "name", None), str)


def _is_bool(v: Any) -> bool:
    kind = type(v)
    numpy_bool = kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_")
    return isinstance(v, bool) or numpy_bool


def _check_int(v: Any, coerce: bool) -> tuple[bool, Any]:
    if isinstance(v, numbers.Integral) and not _is_bool(v):
        return True, int(v)  # numpy integers too
    if coerce and isinstance(v, str | float) and not _is_bool(v):
        try:
            number = float(v)
            return number == int(number), int(number)
        except (ValueError, OverflowError):  # "abc", "nan", "inf"
            return False, None
    return False, None


def _check_float(v: Any, coerce: bool) -> tuple[bool, Any]:
    if isinstance(v, numbers.Real) and not _is_bool(v):
        return True, float(v)
    if coerce and isinstance(v, str):
        try:
            return True, float(v)
        except ValueError:
            return False, None
    return False, None


_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


def _check_bool(v: Any, coerce: bool) -> tuple[bool, Any]:
    if _is_bool(v):
        return True, bool(v)
    text = str(v).strip().lower() if coerce and isinstance(v, str | int) else None
    if text in _TRUE or text in _FALSE:
        return True, text in _TRUE
    return False, None


def _check_temporal(kind: type[dt.date]) -> Any:
    def check(v: Any, coerce: bool) -> tuple[bool, Any]:
        exact = isinstance(v, kind) and (kind is dt.datetime or not isinstance(v, dt.datetime))
        if exact:
            return True, v.isoformat()
        if coerce and isinstance(v, str):
            try:
                return True, kind.fromisoformat(v).isoformat()
            except ValueError:
                return False, None
        return False, None

    return check


_CHECKS: dict[str, Any] = {
    "int": _check_int,
    "float": _check_float,
    "str": lambda v, c: (isinstance(v, str) or (c and v is not None), str(v)),
    "bool": _check_bool,
    "dict": lambda v, c: (isinstance(v, dict) and _json_safe(v), v),
    "date": _check_temporal(dt.date),
    "datetime": _check_temporal(dt.datetime),
    "cat": lambda v, c: (isinstance(v, str) or is_label(v), getattr(v, "name", v)),
}


def columns_for(value: Any) -> dict[str, Any]:
    """The comparable columns of one scalar value."""
    if isinstance(value, bool):
        return {"num": float(value), "text": None}
    if isinstance(value, int | float):
        return {"num": float(value), "text": None}
    if isinstance(value, str):
        return {"num": None, "text": value[:1024]}
    return {"num": None, "text": None}


def infer_dtype(value: Any) -> str:
    """The dtype a new feature gets from its first value (``create_features=True``)."""
    if isinstance(value, list | tuple):
        inner = {infer_dtype(v) for v in value} or {"str"}
        if inner == {"int", "float"}:
            inner = {"float"}
        if len(inner) != 1 or next(iter(inner)).startswith("list"):
            raise InvalidInput(
                f"cannot infer a feature dtype for {value!r}: mixed element "
                "types; create the feature with an explicit dtype"
            )
        return f"list[{inner.pop()}]"
    if is_label(value):
        return "cat[Label]"
    if _is_bool(value):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    for py_type in (str, dict, dt.datetime, dt.date):  # datetime before its base, date
        if isinstance(value, py_type):
            return _PY_DTYPES[py_type]
    raise InvalidInput(f"cannot infer a feature dtype for {value!r}")


_TEMPORAL: dict[str, type[dt.date]] = {"date": dt.date, "datetime": dt.datetime}


def typed_value(dtype: str, value: Any) -> Any:
    """A stored value as the Python type of its dtype (dates come back as dates)."""
    kind = _TEMPORAL.get(dtype.removeprefix("list[").removesuffix("]"))
    if kind is None or value is None:
        return value
    if isinstance(value, list):
        return [kind.fromisoformat(v) for v in value]
    return kind.fromisoformat(value)
