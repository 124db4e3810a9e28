"""Reading and writing feature values and labels: ``record.features``, ``record.labels``,
and their bulk forms for many records at once (``check_values``, ``write_values_many``).
"""

from __future__ import annotations

from .._db import unwrap, write_transaction
from .._dtypes import EXACT, _json_safe, check_value, columns_for, infer_dtype, typed_value
from ..errors import InvalidInput, UnknownFeature
from ._base import BaseModel, insert_columns, utcnow
from .feature import ArtifactLabel, Feature, Label, RunLabel

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any


def check_values(
    values: dict[str, Any], create_features: bool = False, known: dict[str, Feature] | None = None
) -> list[tuple[Feature, Any]]:
    """Resolve each feature and check its value; nothing is written.

    With ``create_features``, a missing feature comes back unsaved (``id is None``) with
    the dtype inferred from its value; ``write_values`` saves it. ``known`` carries the
    features resolved so far across calls (many records annotated at once), so that a
    feature is looked up, or inferred, once.
    """
    return check_values_many([values], create_features, known)[0]


def check_values_many(
    many: list[dict[str, Any]],
    create_features: bool = False,
    known: dict[str, Feature] | None = None,
) -> list[list[tuple[Feature, Any]]]:
    """``check_values`` of each dict of values (those of many records), each feature's
    rule read once: its exact type, and whether it is a ``dict`` feature (whose dicts
    are stored as they are when they hold no NaN or infinity, as ``check_value`` says)."""
    known = {} if known is None else known
    rules: dict[str, tuple[Feature, type | None, bool]] = {}
    out = []
    for values in many:
        checked = []
        for name, value in values.items():
            rule = rules.get(name)
            if rule is None:
                feature = known.get(name)
                if feature is None:
                    feature = known[name] = _resolve(name, value, create_features)
                dtype = feature.dtype
                rule = rules[name] = (feature, EXACT.get(dtype), dtype == "dict")
            feature, exact, is_dict = rule
            kind = type(value)
            if kind is not exact and not (is_dict and kind is dict and _json_safe(value)):
                value = check_value(feature, value)  # else already as stored
            checked.append((feature, value))
        out.append(checked)
    return out


def _resolve(name: str, value: Any, create_features: bool) -> Feature:
    """The feature ``name``; an unsaved one inferred from ``value`` if asked."""
    feature: Feature | None = Feature.get_or_none(Feature.name == name)
    if feature is None:
        if not create_features:
            raise UnknownFeature(name)
        feature = Feature(name=name, dtype=infer_dtype(value))
    return feature


_CHUNK = 500  # rows per statement: well under SQLite's and PostgreSQL's parameter limits


def _delete_values(table: type[BaseModel], owner: str, feature_id: int, ids: list[int]) -> None:
    """Remove ``feature_id``'s rows of these owners (plain SQL: thousands of ids at once)."""
    db = unwrap(table._meta.database)
    marks = ", ".join([db.param] * len(ids))
    column = getattr(table, owner).column_name
    db.execute_sql(
        f'DELETE FROM "{table._meta.table_name}" WHERE "feature_id" = {db.param} '
        f'AND "{column}" IN ({marks})',
        [feature_id, *ids],
    )


def _owners_with_values(table: type[BaseModel], owner: str, ids: list[int]) -> set[int]:
    """Which of these records have any feature value yet: none above the largest owner id
    in the table (records made since, such as a batch of new runs: one index lookup), the
    others one query per chunk."""
    db = unwrap(table._meta.database)
    column = getattr(table, owner).column_name
    top = db.execute_sql(f'SELECT MAX("{column}") FROM "{table._meta.table_name}"').fetchone()[0]
    found: set[int] = set()
    for chunk in _chunks([i for i in ids if top is not None and i <= top]):
        marks = ", ".join([db.param] * len(chunk))
        cursor = db.execute_sql(
            f'SELECT DISTINCT "{column}" FROM "{table._meta.table_name}" '
            f'WHERE "{column}" IN ({marks})',
            chunk,
        )
        found.update(row[0] for row in cursor.fetchall())
    return found


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _add_rows(rows: list[tuple[Any, ...]], record_id: int, feature_id: int, value: Any) -> None:
    """A value's rows (owner, feature, value, num, text): one per element of a list (an
    empty list is one row that matches no element), with its comparable ``num`` or
    ``text``."""
    elements = value if isinstance(value, list) else (value,)
    for element in elements or (None,):
        if isinstance(element, str):
            num, text = None, element[:1024]
        elif isinstance(element, int | float):
            num, text = float(element), None
        else:
            comparable = columns_for(element)
            num, text = comparable["num"], comparable["text"]
        rows.append((record_id, feature_id, value, num, text))


def write_values_many(items: list[tuple[BaseModel, list[tuple[Feature, Any]]]]) -> None:
    """Write checked values for many artifacts (or many runs) in one transaction.

    Each record's earlier value of a feature is replaced; categorical values make their
    labels and link them. Features that ``check_values`` left unsaved are created first.
    """
    items = [(record, checked) for record, checked in items if checked]
    if not items:
        return
    facts = _feature_facts(items)
    model = type(items[0][0])
    table, owner = model._feature_table, model._feature_owner
    link = ArtifactLabel if owner == "artifact" else RunLabel
    rows: list[tuple[Any, ...]] = []
    labelled: list[tuple[int, int, str]] = []
    for record, checked in items:
        record_id = record.id
        for feature, value in checked:
            feature_id, categorical = facts[id(feature)]
            kind = type(value)  # exact str, int and float: one row, as _add_rows makes it
            if kind is str:
                rows.append((record_id, feature_id, value, None, value[:1024]))
            elif kind is int or kind is float:
                rows.append((record_id, feature_id, value, float(value), None))
            elif kind is dict:  # one row with neither (as columns_for gives a dict)
                rows.append((record_id, feature_id, value, None, None))
            else:
                _add_rows(rows, record_id, feature_id, value)
            if categorical:
                names = value if isinstance(value, list) else [value]
                labelled.extend((record_id, feature_id, name) for name in names)
    fields = (owner, "feature", "value", "num", "text")  # every record has a row or more
    columns = {f: list(c) for f, c in zip(fields, zip(*rows, strict=True), strict=True)}
    with write_transaction(table._meta.database):
        annotated = _owners_with_values(table, owner, list({r.id for r, _ in items}))
        if annotated:  # new records have nothing to replace
            _delete_earlier(table, link, owner, items, facts, annotated)
        insert_columns(table, columns)
        _link_labels(link, owner, labelled)


def _feature_facts(
    items: list[tuple[BaseModel, list[tuple[Feature, Any]]]],
) -> dict[int, tuple[int, bool]]:
    """Each feature object's id and whether it is categorical, by ``id()`` of the object;
    features not saved yet are saved first."""
    facts: dict[int, tuple[int, bool]] = {}
    for _, checked in items:
        for feature, _ in checked:
            if id(feature) not in facts:
                if feature.id is None:
                    feature.save()
                facts[id(feature)] = (feature.id, "cat" in feature.dtype)
    return facts


def _delete_earlier(
    table: type[BaseModel],
    link: type[BaseModel],
    owner: str,
    items: list[tuple[BaseModel, list[tuple[Feature, Any]]]],
    facts: dict[int, tuple[int, bool]],
    annotated: set[int],
) -> None:
    """Remove the earlier values (and label links) of the features given anew to the
    records that have values."""
    owners: dict[int, list[int]] = {}
    for record, checked in items:
        if record.id in annotated:
            for feature, _ in checked:
                owners.setdefault(facts[id(feature)][0], []).append(record.id)
    for feature_id, ids in owners.items():
        for chunk in _chunks(ids):
            _delete_values(table, owner, feature_id, chunk)
            _delete_values(link, owner, feature_id, chunk)


def _link_labels(link: type[BaseModel], owner: str, labelled: list[tuple[int, int, str]]) -> None:
    names = sorted({name for _, _, name in labelled})
    for chunk in _chunks(names):
        Label.insert_many(
            [{"name": n, "created_at": utcnow()} for n in chunk]
        ).on_conflict_ignore().execute()
    ids: dict[str, int] = {}
    for chunk in _chunks(names):
        ids.update(
            {
                lb.name: lb.id
                for lb in Label.select(Label.id, Label.name).where(Label.name.in_(chunk))
            }
        )
    rows = [
        {owner: record_id, "label": ids[name], "feature": feature_id}
        for record_id, feature_id, name in labelled
    ]
    for chunk in _chunks(rows):
        link.insert_many(chunk).on_conflict_ignore().execute()


class FeatureManager:
    """``record.features``: read and write feature values of one artifact or run."""

    def __init__(self, record: BaseModel, table: Any, owner_field: str) -> None:
        self._record, self._table, self._owner = record, table, owner_field

    def add_values(self, values: dict[str, Any], create_features: bool = False) -> None:
        """Set each feature's value (replacing an earlier one).

        Every value is checked (and every missing feature resolved) before anything is
        written: one bad value leaves the record, and the feature table, untouched.
        """
        if self._record.id is None:
            raise InvalidInput("save the record before adding feature values")
        self.write_values(check_values(values, create_features))

    def write_values(self, checked: list[tuple[Feature, Any]]) -> None:
        """Write values that ``check_values`` accepted (saving new features first)."""
        write_values_many([(self._record, checked)])

    def get_values(self) -> dict[str, Any]:
        """``{feature name: value}``, values as their dtype (dates as ``datetime.date``)."""
        owner = getattr(self._table, self._owner)
        rows = (
            self._table.select(self._table.value, Feature.name, Feature.dtype)
            .join(Feature)
            .where(owner == self._record.id)
            .order_by(self._table.id)
        )
        return {row.feature.name: typed_value(row.feature.dtype, row.value) for row in rows}

    def remove_values(self, *names: str) -> None:
        """Remove these features' values (and the labels their categorical values linked)."""
        owner = getattr(self._table, self._owner)
        ids = Feature.select(Feature.id).where(Feature.name.in_(names))
        link: Any = ArtifactLabel if self._owner == "artifact" else RunLabel
        with write_transaction(self._table._meta.database):
            self._table.delete().where(
                (owner == self._record.id) & self._table.feature.in_(ids)
            ).execute()
            link.delete().where(
                (getattr(link, self._owner) == self._record.id) & link.feature.in_(ids)
            ).execute()

    def __repr__(self) -> str:
        return f"Features({self.get_values()!r})"


class LabelManager:
    """``record.labels``: labels attached to one artifact or run."""

    def __init__(self, record: BaseModel, table: Any, owner_field: str) -> None:
        self._record, self._table, self._owner = record, table, owner_field

    def add(self, *labels: Label | str) -> None:
        for item in labels:
            label = item if isinstance(item, Label) else Label(name=item).save()
            if label.id is None:
                label.save()
            self._table.insert(
                {self._owner: self._record.id, "label": label.id}
            ).on_conflict_ignore().execute()

    def remove(self, *labels: Label | str) -> None:
        names = [getattr(x, "name", x) for x in labels]
        ids = Label.select(Label.id).where(Label.name.in_(names))
        owner = getattr(self._table, self._owner)
        self._table.delete().where(
            (owner == self._record.id) & self._table.label.in_(ids)
        ).execute()

    def all(self) -> list[Label]:
        owner = getattr(self._table, self._owner)
        query = Label.select().join(self._table).where(owner == self._record.id)
        return list(query.order_by(Label.name))

    def __iter__(self) -> Any:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self.all())
