"""Validating DataFrames and AnnData against a ``tl.Schema``, through pandera.

Every schema becomes a pandera ``DataFrameSchema`` fitted to the frame at hand and runs
lazily (``lazy=True``), so one pass collects every problem: missing and unexpected
columns, wrong dtypes (coerced where the schema or the feature allows it), values of
categorical features that are not labels, nulls, failed pandera checks. AnnData adds the
``var.index`` rule and required ``uns`` keys. Problems become one line each in a
``ValidationReport``; ``ValidationError`` carries them all at once.

pandas and pandera are imported inside the functions: ``import threadline`` stays cheap.
"""

from dataclasses import dataclass, field
from typing import Any

from ._dtypes import FeatureLike, Spec, check_value
from ._failures import describe_failures, shown
from .errors import InvalidFeatureValue, InvalidInput, ValidationError
from .models import Feature, Label, Schema
from .models.schema import VALID_FEATURES

CATEGORICAL = ("cat[Label]", "list[cat[Label]]")

# the distinct values of each categorical column, by (column, feature dtype): found once
# while validating, then reused to annotate the saved artifact
Categories = dict[tuple[str, str], list[str]]


@dataclass
class ValidationReport:
    """What ``tl.validate(data, schema)`` found: ``ok``, ``problems`` (one line each),
    ``data`` (the validated object, coerced where allowed) and, when ``ok``, the
    categorical values found per feature (``annotations``) that annotate a saved artifact."""

    schema: Schema
    problems: list[str]
    data: Any
    annotations: list[tuple[Feature, list[Any]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise one ``ValidationError`` listing every problem, if there are any."""
        if self.problems:
            raise ValidationError(self.schema.label, list(self.problems), self)

    def __str__(self) -> str:
        if self.ok:
            return f"valid: matches schema {self.schema.label}"
        lines = [f"invalid: {len(self.problems)} problems against schema {self.schema.label}"]
        return "\n".join(lines + [f"- {p}" for p in self.problems])


def as_schema(schema: Any) -> Schema:
    """A ``tl.Schema``, a schema name (its latest version) or a pandera DataFrameSchema."""
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, str):
        if schema == VALID_FEATURES:
            return Schema.valid_features()
        found = Schema.filter(name=schema).order_by("-version").first()
        if found is None:
            raise InvalidInput(f"no schema named {schema!r}; create it with tl.Schema(...)")
        return found  # type: ignore[no-any-return]
    if type(schema).__name__ == "DataFrameSchema":
        return Schema(schema, name=schema.name or "pandera")
    raise InvalidInput(
        f"schema must be a tl.Schema, a schema name or a pandera "
        f"DataFrameSchema, not {type(schema).__name__}"
    )


def is_anndata(data: Any) -> bool:
    return type(data).__name__ == "AnnData" and type(data).__module__.startswith("anndata")


def validate(data: Any, schema: Any) -> ValidationReport:
    """Check ``data`` (a pandas DataFrame or an AnnData) against ``schema``; never raises
    for bad data: the report lists the problems (``report.raise_for_problems()``)."""
    record = as_schema(schema)
    if record.kind == "record":
        raise InvalidInput(
            f"schema {record.label} is a plain record with no rules; build it "
            "from features=, a pandera schema or slots="
        )
    if is_anndata(data):
        return _validate_anndata(data, record)
    if type(data).__name__ != "DataFrame" or not hasattr(data, "columns"):
        raise InvalidInput(
            f"can validate a pandas DataFrame or an AnnData, not {type(data).__name__}"
        )
    if record.kind == "anndata":
        raise InvalidInput(f"schema {record.label} is for AnnData, got a DataFrame")
    frame, problems, categories = validate_frame(data, record.definition, record.name)
    annotations = [] if problems else frame_annotations(frame, record.definition, categories)
    return ValidationReport(record, problems, frame, annotations)


# -- DataFrames --------------------------------------------------------------------------------


def validate_frame(
    frame: Any, definition: dict[str, Any], name: str, where: str = ""
) -> tuple[Any, list[str], Categories]:
    """(validated frame, problems, categories found); problem lines start with ``where``
    (``"obs: "``)."""
    import pandera.pandas as pa

    compiled, problems, categories = _compile(frame, definition, name)
    try:
        frame = compiled.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        problems += describe_failures(exc.failure_cases, frame)
    return frame, [where + p for p in problems], categories


def _compile(
    frame: Any, definition: dict[str, Any], name: str
) -> tuple[Any, list[str], Categories]:
    import pandera.pandas as pa

    kind = definition.get("type")
    if kind == "pandera":
        return Schema(definition=definition).pandera, [], {}
    problems: list[str] = []
    categories: Categories = {}
    if kind == VALID_FEATURES:
        names = [str(c) for c in frame.columns]
        found = {f.name: f for f in Feature.select().where(Feature.name.in_(names))}
        unknown = [n for n in names if n not in found]
        if unknown:
            problems.append(
                f"columns that are not features: {', '.join(map(repr, unknown))}; "
                "create them with tl.Feature(name=..., dtype=...).save()"
            )
        specs = [
            {"name": n, "dtype": found[n].dtype, "coerce": found[n].coerce}
            for n in names
            if n in found
        ]
        definition = {"features": specs, "nullable": True, "minimal_set": True}
    nullable = definition.get("nullable", True)
    columns = {}
    for spec in definition["features"]:
        column_name = spec["name"]
        series = frame[column_name] if column_name in frame.columns else None
        may_be_null = nullable if isinstance(nullable, bool) else column_name in nullable
        coerce = bool(definition.get("coerce") or spec.get("coerce"))
        values = None
        if series is not None and spec["dtype"] in CATEGORICAL:
            values = category_values(spec["dtype"], series)
            categories[(column_name, spec["dtype"])] = values
        columns[column_name] = feature_column(
            spec["dtype"],
            series,
            coerce=coerce,
            nullable=may_be_null,
            required=definition.get("minimal_set", True),
            categories=values,
        )
    compiled = pa.DataFrameSchema(
        columns,
        strict=bool(definition.get("maximal_set")),
        ordered=bool(definition.get("ordered")),
        name=name,
    )
    return compiled, problems, categories


def _string_dtype() -> Any:
    import pandas as pd

    return pd.Series([], dtype="str").dtype  # pandas' default string dtype (3.x: pyarrow)


def _family_match(dtype: str, series: Any) -> bool:
    """Does the column already hold this feature dtype (any width, nullable or not)?"""
    import pandas.api.types as pt

    kind = series.dtype
    if dtype == "int":
        return bool(pt.is_integer_dtype(kind) and not pt.is_bool_dtype(kind))
    if dtype == "float":
        return bool(pt.is_float_dtype(kind))
    if dtype == "bool":
        return bool(pt.is_bool_dtype(kind))
    if dtype == "str":
        return bool(pt.is_string_dtype(series))
    if dtype in ("date", "datetime"):
        if pt.is_datetime64_any_dtype(kind):
            return True
        inferred = pt.infer_dtype(series, skipna=True)
        return inferred == dtype or (dtype == "date" and inferred == "empty")
    return False


def _canonical(dtype: str, nullable: bool) -> Any:
    """The dtype a column of the wrong family is checked (or coerced) against."""
    if dtype == "str":
        return _string_dtype()
    return {
        "int": "Int64" if nullable else "int64",
        "float": "float64",
        "bool": "boolean" if nullable else "bool",
        "date": "datetime64[ns]",
        "datetime": "datetime64[ns]",
    }[dtype]


def _coercion_target(dtype: str, nullable: bool) -> Any:
    """Coercion goes to a dtype that can hold nulls: nulls are reported as nulls."""
    return _canonical(dtype, True) if dtype in ("int", "bool") else _canonical(dtype, nullable)


def feature_column(
    dtype: str,
    series: Any,
    *,
    coerce: bool,
    nullable: bool,
    required: bool,
    categories: list[str] | None = None,
) -> Any:
    """A pandera ``Column`` for one feature, fitted to the column present (``series``);
    ``categories``: the distinct values of a categorical column (``category_values``)."""
    import pandera.pandas as pa

    checks = []
    if dtype in ("int", "float", "bool", "str", "date", "datetime"):
        fits = series is not None and _family_match(dtype, series)
        target = (
            series.dtype
            if fits
            else (_coercion_target(dtype, nullable) if coerce else _canonical(dtype, nullable))
        )
        return pa.Column(target, nullable=nullable, coerce=coerce and not fits, required=required)
    valid = label_names(categories or []) if dtype in CATEGORICAL else set()
    if dtype == "cat[Label]":
        checks.append(pa.Check(lambda s: s.isin(valid), name="known_label", ignore_na=True))
    elif dtype == "list[cat[Label]]":
        checks.append(
            pa.Check(
                lambda v: isinstance(v, list | tuple) and all(x in valid for x in v),
                element_wise=True,
                name="known_labels",
                ignore_na=True,
            )
        )
    else:  # dict and list[...]: one Python value per row, checked as a feature value
        probe = Spec("value", dtype)
        checks.append(
            pa.Check(
                lambda v: _fits(probe, v), element_wise=True, name=f"is_{dtype}", ignore_na=True
            )
        )
    return pa.Column(None, checks, nullable=nullable, required=required)


def _fits(feature: FeatureLike, value: Any) -> bool:
    try:
        check_value(feature, value.tolist() if type(value).__name__ == "ndarray" else value)
    except InvalidFeatureValue:
        return False
    return True


def distinct(series: Any) -> list[str]:
    """The distinct non-null values of ``series`` as text, sorted; a categorical column is
    read through its codes (one pass over small integers)."""
    import numpy as np
    import pandas as pd

    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        used = np.bincount(codes[codes >= 0], minlength=len(series.cat.categories)) > 0
        return sorted({str(v) for v in series.cat.categories[used]})
    return sorted({str(v) for v in series.dropna().unique()})


def category_values(dtype: str, series: Any) -> list[str]:
    """A categorical column's distinct values (of a list column: of its elements)."""
    return distinct(series.explode() if dtype.startswith("list[") else series)


def known_labels(series: Any) -> set[Any]:
    """The values of ``series`` that are names of existing labels."""
    return label_names(distinct(series))


def label_names(values: list[str]) -> set[Any]:
    """Those of ``values`` that are names of existing labels (one query per 500)."""
    found: set[Any] = set()
    for start in range(0, len(values), 500):
        chunk = values[start : start + 500]
        found.update(row.name for row in Label.select(Label.name).where(Label.name.in_(chunk)))
    return found


# -- annotations -------------------------------------------------------------------------------


def frame_annotations(
    frame: Any, definition: dict[str, Any], categories: Categories | None = None
) -> list[tuple[Feature, list[Any]]]:
    """For each categorical feature among the columns: its distinct values, sorted (taken
    from ``categories`` where validation already found them)."""
    categories = categories or {}
    names = [str(c) for c in frame.columns]
    if definition.get("type") == "features":
        names = [f["name"] for f in definition["features"] if f["name"] in frame.columns]
    features = Feature.select().where(Feature.name.in_(names) & Feature.dtype.contains("cat"))
    found = []
    for feature in features.order_by(Feature.name):
        values = categories.get((feature.name, feature.dtype))
        if values is None:
            values = category_values(feature.dtype, frame[feature.name])
        if values:
            found.append((feature, values))
    return found


# -- AnnData -----------------------------------------------------------------------------------


def _validate_anndata(adata: Any, record: Schema) -> ValidationReport:
    """obs against its DataFrame schema, then ``var.index`` and ``uns``; DataFrame schemas
    given for an AnnData apply to its ``obs``."""
    definition = record.definition
    slots = (
        definition["slots"]
        if record.kind == "anndata"
        else {"obs": {"name": record.name, "definition": definition}}
    )
    problems: list[str] = []
    obs = adata.obs
    categories: Categories = {}
    if "obs" in slots:
        obs, found, categories = validate_frame(
            adata.obs, slots["obs"]["definition"], record.name, "obs: "
        )
        problems += found
    if "var.index" in slots:
        problems += _check_index(adata.var, slots["var.index"])
    if "uns" in slots:
        problems += _check_uns(adata.uns, slots["uns"])
    if not problems and not obs.dtypes.equals(adata.obs.dtypes):  # coerced: copy, so that
        # the caller's object stays as it was (pandera returns a new frame even unchanged)
        adata = adata.copy()
        adata.obs = obs
    annotations = []
    if "obs" in slots and not problems:
        annotations = frame_annotations(obs, slots["obs"]["definition"], categories)
    return ValidationReport(record, problems, adata, annotations)


def _check_index(var: Any, rule: dict[str, Any]) -> list[str]:
    import pandera.pandas as pa

    ((kind, value),) = rule.items()
    if kind == "regex":
        check = pa.Check(lambda s: s.astype(str).str.fullmatch(value), name=f"regex {value!r}")
    else:
        if kind == "values":
            allowed = set(value)
        elif value == "Label":
            allowed = known_labels(var.index.to_series())
        else:
            allowed = {f.name for f in Feature.select(Feature.name)}
        what = "listed values" if kind == "values" else f"{value} names"
        check = pa.Check(lambda s: s.astype(str).isin(allowed), name=f"not among {what}")
    compiled = pa.DataFrameSchema(index=pa.Index(None, check))
    try:
        compiled.validate(var, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return describe_failures(exc.failure_cases)
    return []


def _check_uns(uns: Any, rule: dict[str, str | None]) -> list[str]:
    missing = [key for key in rule if key not in uns]
    problems = [f"uns: missing keys {missing}"] if missing else []
    for key, dtype in rule.items():
        if dtype is None or key not in uns:
            continue
        if not _fits(Spec(key, dtype), uns[key]):
            problems.append(f"uns: {key!r} expects {dtype}, got {shown(uns[key])}")
    return problems
