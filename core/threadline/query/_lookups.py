"""Django-style lookups turned into peewee expressions (``Query.filter`` builds on them).

``Artifact.filter(key__startswith="raw/", size__gt=1e6, run__transform__key="qc")``:
each keyword is split on ``__``; leading parts walk relations (foreign keys, backrefs and
link tables, each as an ``IN (subquery)``), the last part may be an operator, and a name
that is no field of the model is a feature (``sample="S1"`` or ``features__sample="S1"``);
further parts after a ``dict`` feature are keys inside it (``trace__peak_rss__gt=1e9``).
Artifacts in the trash or archive are hidden unless ``visibility`` is given.
"""

from __future__ import annotations

import peewee

from .. import _context
from .._db import is_sqlite
from ..errors import InvalidInput, UnknownFeature
from . import _json

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any

OPERATORS = (
    "exact",
    "ne",
    "in",
    "gt",
    "gte",
    "lt",
    "lte",
    "startswith",
    "endswith",
    "contains",
    "icontains",
    "isnull",
)


def _is_sqlite() -> bool:
    return is_sqlite(_context.instance().db)


def _pattern(column: Any, value: str, where: str, case: bool = True) -> Any:
    """Case-sensitive (or not) prefix/suffix/substring match; wildcards in ``value`` are literal.

    SQLite's ``LIKE`` ignores case, so case-sensitive matches there use ``GLOB`` with
    ``*?[]`` escaped as one-character sets. Elsewhere ``LIKE``/``ILIKE`` with an explicit
    ``ESCAPE`` (SQLite has no default escape character, PostgreSQL's may be changed).
    """
    if _is_sqlite() and case:
        escaped = "".join(f"[{c}]" if c in "*?[]" else c for c in value)
        glob = {"start": f"{escaped}*", "end": f"*{escaped}", "any": f"*{escaped}*"}[where]
        return peewee.Expression(column, "GLOB", glob)
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = {"start": f"{escaped}%", "end": f"%{escaped}", "any": f"%{escaped}%"}[where]
    op = "LIKE" if case or _is_sqlite() else "ILIKE"
    # a NodeList, not Expression(column, "LIKE", ...): peewee renders that as GLOB on SQLite
    return peewee.NodeList(
        (
            column,
            peewee.SQL(op),
            peewee.Value(like, converter=False),
            peewee.SQL("ESCAPE"),
            peewee.Value("\\", converter=False),
        ),
        parens=True,
    )


def compare(column: Any, op: str, value: Any) -> Any:
    """``column <op> value`` as a peewee expression (``ne`` also matches NULL)."""
    simple = {"exact": "__eq__", "gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}
    if op == "exact" and value is None:
        return column.is_null()
    if op == "ne":
        return column.is_null(False) if value is None else (column != value) | column.is_null()
    if op in simple:
        return getattr(column, simple[op])(value)
    if op == "in":
        return column.in_(list(value))
    if op == "isnull":
        return column.is_null(bool(value))
    if op in ("startswith", "endswith", "contains"):
        where = {"startswith": "start", "endswith": "end", "contains": "any"}[op]
        return _pattern(column, str(value), where)
    if op == "icontains":
        return _pattern(column, str(value), "any", case=False)
    raise InvalidInput(f"unknown lookup operator {op!r}; use one of {', '.join(OPERATORS)}")


def resolve(model: Any, lookup: str, value: Any) -> Any:
    """One ``name__part__op=value`` keyword as an expression on ``model``."""
    parts = lookup.split("__")
    if parts[-1] == "in":
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            raise InvalidInput(f"{lookup} needs a list of values, not {value!r}")
        value = list(value)
    return _resolve(model, parts, value, lookup)


def _resolve(model: Any, parts: list[str], value: Any, lookup: str) -> Any:
    head, rest = parts[0], parts[1:]
    fields = model._meta.fields
    if head == "transform" and "transform" not in fields and "run" in fields:
        return _resolve(model, ["run", *parts], value, lookup)  # an output's transform
    if head in fields:
        field = fields[head]
        if isinstance(field, peewee.ForeignKeyField) and rest and rest[0] not in OPERATORS:
            rel = field.rel_model
            inner = rel.select(rel.id).where(_resolve(rel, rest, value, lookup))
            return field == inner if _one_row(rel, rest, value) else field.in_(inner)
        if rest and (rest[0] not in OPERATORS or len(rest) > 1):
            raise InvalidInput(
                f"unknown lookup {'__'.join(rest)!r} on {model.__name__}.{head} "
                f"({lookup}); operators: {', '.join(OPERATORS)}"
            )
        return compare(field, rest[0] if rest else "exact", value)
    if head in model._links:
        through, own, other = model._links[head]
        target = getattr(through, other).rel_model
        rest = _default_field(target, rest, value)
        inner = target.select(target.id).where(_resolve(target, rest, value, lookup))
        linked = through.select(getattr(through, own)).where(getattr(through, other).in_(inner))
        return model.id.in_(linked)
    for fk in model._meta.backrefs:
        if fk.backref == head:
            rest = _default_field(fk.model, rest, value)
            return model.id.in_(fk.model.select(fk).where(_resolve(fk.model, rest, value, lookup)))
    if head == "features" and rest:
        head, rest = rest[0], rest[1:]
    return _feature(model, head, rest, value, lookup)


def _one_row(model: Any, rest: list[str], value: Any) -> bool:
    """Whether ``rest=value`` matches at most one record of ``model`` (equality on a unique
    field): then the relation is ``fk = (subquery)``, not ``fk IN (subquery)``. The same
    rows; SQLite then reads ``run_parent_id`` in id order (no sort for ``ORDER BY id``:
    105,000 runs of one workflow, 70 ms less)."""
    if value is None or rest[1:] not in ([], ["exact"]):
        return False
    field = model._meta.fields.get(rest[0])
    return field is not None and bool(field.unique or field.primary_key)


def _default_field(target: Any, rest: list[str], value: Any) -> list[str]:
    """``labels="qc"`` means ``labels__name="qc"``; ``labels=label`` means by id."""
    if rest and rest[0] not in OPERATORS:
        return rest
    sample = value[0] if rest and rest[0] == "in" and value else value
    name = "name" if isinstance(sample, str) and "name" in target._meta.fields else "id"
    return [name, *rest]


def _feature(model: Any, name: str, rest: list[str], value: Any, lookup: str) -> Any:
    """Records whose feature ``name`` matches; list features match by element.

    ``ne`` means: has the feature, and no element equals the value.
    """
    table = getattr(model, "_feature_table", None)
    if table is None:
        raise InvalidInput(f"{model.__name__} has no field {name!r} ({lookup})")
    feature_model = table.feature.rel_model
    feature = feature_model.get_or_none(feature_model.name == name)
    if feature is None:
        raise UnknownFeature(
            name, f"{model.__name__} has no field {name!r} and no feature {name!r} ({lookup})"
        )
    if feature.dtype == "dict" and rest and (rest[-1] not in OPERATORS or len(rest) > 1):
        return _dict_item(model, table, feature.id, rest, value, lookup)
    op = rest[0] if rest else "exact"
    if len(rest) > 1 or op not in OPERATORS:
        raise InvalidInput(
            f"unknown lookup {'__'.join(rest)!r} on feature {name!r} ({lookup}); "
            f"operators: {', '.join(OPERATORS)}"
        )
    owner = getattr(table, model._feature_owner)
    base = table.select(owner).where(table.feature == feature.id)
    if op == "isnull":
        return ~model.id.in_(base) if value else model.id.in_(base)
    numeric = feature.dtype.removeprefix("list[").rstrip("]") in ("int", "float", "bool")
    if numeric and op in ("startswith", "endswith", "contains", "icontains"):
        raise InvalidInput(f"feature {name!r} is {feature.dtype}: {op} needs a text feature")
    column = table.num if numeric else table.text
    as_column = [
        _feature_operand(name, feature.dtype, v, numeric)
        for v in (value if op == "in" else [value])
    ]
    if op == "ne":
        return model.id.in_(base) & ~model.id.in_(base.where(column == as_column[0]))
    return model.id.in_(base.where(compare(column, op, as_column if op == "in" else as_column[0])))


def _dict_item(
    model: Any, table: Any, feature_id: int, rest: list[str], value: Any, lookup: str
) -> Any:
    """Records whose dict feature holds ``value`` at the key path ``rest`` (then an
    optional operator): see ``_json``."""
    op = rest[-1] if rest[-1] in OPERATORS else "exact"
    path = rest[:-1] if rest[-1] in OPERATORS else rest
    _json.check_path(lookup, path)
    if value is None and op in ("exact", "ne"):
        op, value = "isnull", op == "exact"
    if op == "in" and not value:
        return model.id.in_([])  # nothing is in an empty list
    kind = _json.kind_of(lookup, op, value)
    sqlite = _is_sqlite()
    column = _json.item(table.value, path, kind, sqlite)
    owner = getattr(table, model._feature_owner)
    base = table.select(owner).where(table.feature == feature_id)
    if op == "isnull":
        has = model.id.in_(base.where(column.is_null(False)))
        return ~has if value else has
    operands = [_json.operand(v, sqlite) for v in (value if op == "in" else [value])]
    return model.id.in_(base.where(compare(column, op, operands if op == "in" else operands[0])))


def _feature_operand(name: str, dtype: str, value: Any, numeric: bool) -> Any:
    """A filter value as the stored column holds it: a float, or text (ISO dates, names)."""
    if value is None:
        return None
    if numeric:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"feature {name!r} is {dtype}: cannot compare it with {value!r}"
            ) from None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, peewee.Model) and hasattr(value, "name"):
        return value.name  # a Label
    return value if isinstance(value, str) else str(value)


def intersected(model: Any, conditions: list[Any]) -> list[Any]:
    """Two or more ``id IN (subquery)`` conditions (features, backrefs, links) as one.

    ``id IN (s1) AND id IN (s2)`` makes the planner scan every record (PostgreSQL) or
    probe the table once per row of ``s1`` (SQLite); the ids in all of them, computed
    first, are one index lookup each: ``id IN (s1 INTERSECT s2)`` on SQLite and
    ``id = ANY(ARRAY(s1 INTERSECT s2))`` on PostgreSQL (which would otherwise still
    scan). Other conditions are kept as they are.
    """
    subqueries = [c.rhs for c in conditions if _is_id_in(model, c)]
    if len(subqueries) < 2:
        return conditions
    kept = [c for c in conditions if not _is_id_in(model, c)]
    common = subqueries[0]
    for subquery in subqueries[1:]:
        common = common.intersect(subquery)
    if _is_sqlite():
        return [*kept, model.id.in_(common)]
    ids = peewee.NodeList((peewee.SQL("ARRAY"), peewee.EnclosedNodeList([common])))
    return [*kept, model.id == peewee.fn.ANY(ids)]


def _is_id_in(model: Any, condition: Any) -> bool:
    return (
        isinstance(condition, peewee.Expression)
        and condition.op == peewee.OP.IN
        and condition.lhs is model.id
        and isinstance(condition.rhs, peewee.SelectQuery)
    )
