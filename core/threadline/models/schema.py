"""Schemas: named, versioned validation contracts for DataFrames and AnnData, as records.

A schema's ``definition`` (a JSON column) says what it checks, in one of these forms:

- ``{"type": "features", "features": [{"name", "dtype"}...], "coerce", "ordered",
  "maximal_set", "minimal_set", "nullable"}``: one column per feature;
- ``{"type": "pandera", "pandera": "..."}``: a pandera ``DataFrameSchema`` in pandera's
  own serialized form (the ``to_json`` text), rebuilt with ``from_json``;
- ``{"type": "valid_features"}``: the built-in schema, every column a known feature;
- ``{"type": "anndata", "slots": {"obs": {...}, "var.index": {...}, "uns": {...}}}``;
- any other JSON: a plain record that describes data but validates nothing.

The same name and definition is the same schema; a changed definition under a name is its
next version. Validation itself lives in ``threadline.validation``; nothing here imports pandas.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import peewee

from .._db import write_transaction
from .._digests import sha256_bytes
from .._dtypes import normalize_dtype
from ..errors import InvalidInput
from ._base import BaseModel, JSONField, new_uid, utcnow
from .feature import Feature

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any

VALID_FEATURES = "valid_features"
INDEX_RULES = ("regex", "values", "registry")
REGISTRIES = ("Label", "Feature")


class Schema(BaseModel):
    """A named validation contract; ``definition`` is its serialized form."""

    uid = peewee.CharField(max_length=16, unique=True, default=new_uid)
    name = peewee.CharField(max_length=255, index=True)
    hash = peewee.CharField(max_length=64)
    version = peewee.IntegerField(default=1)
    otype = peewee.CharField(max_length=64, null=True)
    definition = JSONField(null=True)
    description = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    # an AnnData schema's unsaved obs schema, saved with it (records read back: None)
    pending_obs: Schema | None = None

    class Meta:
        indexes = ((("name", "hash"), True), (("name", "version"), True))

    def __init__(
        self,
        pandera: Any = None,
        *,
        features: Iterable[Any] | None = None,
        slots: dict[str, Any] | None = None,
        coerce: bool = False,
        ordered: bool = False,
        maximal_set: bool = False,
        minimal_set: bool = True,
        nullable: bool | Iterable[str] = True,
        **fields: Any,
    ) -> None:
        """From features, from a pandera ``DataFrameSchema`` (``pandera``), or AnnData
        ``slots``; a bare ``definition=`` makes a plain record (see the module docstring)."""
        chosen = [x is not None for x in (pandera, features, slots)]
        if sum(chosen) > 1:
            raise InvalidInput(
                "a schema is built from one of features=, a pandera schema or slots=, not several"
            )
        if pandera is not None:
            fields = {"name": getattr(pandera, "name", None), **fields}
            fields.update(definition=_pandera_definition(pandera), otype="DataFrame")
        elif features is not None:
            options = {
                "coerce": coerce,
                "ordered": ordered,
                "maximal_set": maximal_set,
                "minimal_set": minimal_set,
                "nullable": _nullable(nullable),
            }
            fields.update(definition=_features_definition(features, options), otype="DataFrame")
        elif slots is not None:
            fields.update(definition=_slots_definition(slots), otype="AnnData")
        super().__init__(**fields)
        # the obs schema is saved with this one, in save(): a bad slot writes nothing
        if slots is not None:
            self.pending_obs = slots.get("obs")

    def save(self, *args: Any, **kwargs: Any) -> Schema:  # type: ignore[override]
        """Store the schema; same name and definition returns the existing version."""
        if self.id is not None:
            super().save(*args, **kwargs)
            return self
        if not self.name:
            raise InvalidInput("a schema needs a name: tl.Schema(name='qc-table', ...)")
        with write_transaction(Schema._meta.database, lock=f"schema:{self.name}"):
            self._save_obs()
            text = json.dumps(self.definition, sort_keys=True, default=str)
            self.hash = sha256_bytes(text.encode())
            same = Schema.get_or_none((Schema.name == self.name) & (Schema.hash == self.hash))
            if same is not None:
                self.__data__, self._dirty = dict(same.__data__), set()
                return self
            top = (
                Schema.select(peewee.fn.MAX(Schema.version))
                .where(Schema.name == self.name)
                .scalar()
            )
            self.version = (top or 0) + 1
            super().save(force_insert=True)
        return self

    def _save_obs(self) -> None:
        """Save the pending obs schema of an AnnData schema and record its uid (an obs
        schema that already exists keeps its own uid, so the hash names the same one)."""
        obs = self.pending_obs
        if obs is None:
            return
        if obs.id is None:
            obs.save()
        self.definition["slots"]["obs"]["uid"] = obs.uid

    # -- reading the definition ------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``features``, ``pandera``, ``valid_features``, ``anndata`` or ``record``."""
        definition = self.definition if isinstance(self.definition, dict) else {}
        kind = definition.get("type")
        return kind if kind in ("features", "pandera", VALID_FEATURES, "anndata") else "record"

    @property
    def features(self) -> list[Feature]:
        """The features a ``features`` schema lists, in order (others: none)."""
        if self.kind != "features":
            return []
        names = [f["name"] for f in self.definition["features"]]
        found = {f.name: f for f in Feature.select().where(Feature.name.in_(names))}
        return [found[n] for n in names if n in found]

    @property
    def pandera(self) -> Any:
        """The pandera ``DataFrameSchema`` of a ``pandera`` schema (rebuilt from JSON)."""
        if self.kind != "pandera":
            raise InvalidInput(f"schema {self.label} is not a pandera schema ({self.kind})")
        import pandera.pandas as pa

        return pa.DataFrameSchema.from_json(self.definition["pandera"])

    @property
    def slots(self) -> dict[str, Any]:
        """An AnnData schema's slots: ``obs`` as a Schema, ``var.index`` and ``uns`` rules."""
        if self.kind != "anndata":
            return {}
        found = dict(self.definition["slots"])
        if "obs" in found:
            obs = found["obs"]
            found["obs"] = Schema.get_or_none(uid=obs["uid"]) or Schema(
                name=obs["name"], definition=obs["definition"]
            )
        return found

    @property
    def label(self) -> str:
        """How messages name it: ``'qc-table' v2``."""
        return f"{self.name!r} v{self.version}" if self.id is not None else repr(self.name)

    @classmethod
    def valid_features(cls) -> Schema:
        """The built-in schema: every column is a known feature of the right dtype."""
        return cls(
            name=VALID_FEATURES,
            otype="DataFrame",
            definition={"type": VALID_FEATURES},
            description="every column is a known feature of its dtype",
        ).save()

    def _repr_fields(self) -> list[str]:
        return ["name", "version", "otype"]


def _nullable(nullable: bool | Iterable[str]) -> bool | list[str]:
    if isinstance(nullable, bool):
        return nullable
    if isinstance(nullable, str):
        return [nullable]
    return sorted(nullable)


def _features_definition(features: Iterable[Any], options: dict[str, Any]) -> dict[str, Any]:
    """Each item a ``tl.Feature`` (saved) or a feature name; unknown names are refused."""
    items = list(features)
    if not items:
        raise InvalidInput("a schema built from features needs at least one feature")
    names = [f.name if isinstance(f, Feature) else f for f in items]
    if not all(isinstance(n, str) and n for n in names):
        raise InvalidInput(f"features= takes tl.Feature records or names, got {items!r}")
    if len(set(names)) != len(names):
        raise InvalidInput(f"a feature appears twice in the schema: {names}")
    found = {f.name: f for f in Feature.select().where(Feature.name.in_(names))}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise InvalidInput(
            f"unknown features {unknown}: create them with "
            f"tl.Feature(name=..., dtype=...).save() first"
        )
    nullable = options["nullable"]
    if isinstance(nullable, list) and set(nullable) - set(names):
        raise InvalidInput(
            f"nullable names columns the schema lacks: {sorted(set(nullable) - set(names))}"
        )
    columns = [{"name": n, "dtype": found[n].dtype, "coerce": found[n].coerce} for n in names]
    return {"type": "features", "features": columns, **options}


def _pandera_definition(schema: Any) -> dict[str, Any]:
    """pandera's own JSON form; schemas with custom (unserializable) checks are refused."""
    if not callable(getattr(schema, "to_json", None)) or not hasattr(schema, "columns"):
        raise InvalidInput(f"expected a pandera DataFrameSchema, got {type(schema).__name__}")
    try:
        text = schema.to_json()
    except Exception as exc:  # pandera raises several kinds for custom checks
        raise InvalidInput(
            f"pandera schema {schema.name!r} cannot be serialized: {exc}; "
            "use pandera's built-in checks"
        ) from exc
    return {"type": "pandera", "pandera": text}  # text: JSON objects would lose column order


def _slots_definition(slots: dict[str, Any]) -> dict[str, Any]:
    """Every slot is checked here and nothing is written: the obs schema is saved along
    with the AnnData schema (``Schema.save``)."""
    if not isinstance(slots, dict):
        raise InvalidInput(f"slots= takes a dictionary of obs, var.index, uns, got {slots!r}")
    unknown = sorted(set(slots) - {"obs", "var.index", "uns"})
    if unknown:
        raise InvalidInput(f"unknown AnnData slots {unknown}: use obs, var.index, uns")
    found: dict[str, Any] = {}
    if "obs" in slots:
        obs = slots["obs"]
        if not isinstance(obs, Schema) or obs.otype != "DataFrame":
            raise InvalidInput("slot obs takes a DataFrame tl.Schema")
        if not obs.name:
            raise InvalidInput("slot obs: its schema needs a name: tl.Schema(name=..., ...)")
        found["obs"] = {"uid": obs.uid, "name": obs.name, "definition": obs.definition}
    if "var.index" in slots:
        found["var.index"] = _index_rule(slots["var.index"])
    if "uns" in slots:
        found["uns"] = _uns_rule(slots["uns"])
    return {"type": "anndata", "slots": found}


def _index_rule(rule: Any) -> dict[str, Any]:
    """``{"regex": ...}``, ``{"values": [...]}`` or ``{"registry": "Label"|"Feature"}``."""
    if not isinstance(rule, dict) or len(rule) != 1 or next(iter(rule)) not in INDEX_RULES:
        raise InvalidInput(
            f"var.index takes one of {{'regex': ...}}, {{'values': [...]}} or "
            f"{{'registry': 'Label'|'Feature'}}, got {rule!r}"
        )
    ((kind, value),) = rule.items()
    if kind == "registry" and value not in REGISTRIES:
        raise InvalidInput(f"var.index registry must be one of {REGISTRIES}, not {value!r}")
    if kind == "values":
        value = sorted({str(v) for v in value})
    if kind == "regex":
        try:
            re.compile(value)
        except (re.error, TypeError) as exc:
            raise InvalidInput(f"var.index regex {value!r} is invalid: {exc}") from None
    return {kind: value}


def _uns_rule(rule: Any) -> dict[str, str | None]:
    """Required ``uns`` keys: a list of names, or ``{name: feature dtype}``."""
    if isinstance(rule, dict):
        return {str(k): _uns_dtype(k, v) for k, v in rule.items()}
    if isinstance(rule, list | tuple):
        return {str(k): None for k in rule}
    raise InvalidInput(f"uns takes a list of keys or {{key: dtype}}, got {rule!r}")


def _uns_dtype(key: Any, dtype: Any) -> str | None:
    if dtype is None:
        return None
    try:
        return normalize_dtype(dtype)
    except InvalidInput as exc:
        raise InvalidInput(f"uns key {key!r}: {exc}") from None
