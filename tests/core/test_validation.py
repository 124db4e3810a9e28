"""Validation through pandera: every failure kind and its message, reports, annotation."""

import datetime as dt
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
import threadline as tl
from threadline.errors import InvalidInput, ValidationError


@pytest.fixture
def features(local_instance):
    for name in ("T cell", "B cell", "NK cell"):
        tl.Label(name=name).save()
    tl.Feature(name="cell_type", dtype="cat[Label]").save()
    tl.Feature(name="n_genes", dtype=int).save()
    tl.Feature(name="score", dtype=float, coerce=True).save()
    tl.Feature(name="donor", dtype=str).save()
    return ["cell_type", "n_genes", "score", "donor"]


def frame(**changes) -> pd.DataFrame:
    data = {
        "cell_type": ["T cell", "B cell", "T cell", "NK cell"],
        "n_genes": np.array([10, 20, 30, 40], dtype="int64"),
        "score": [0.1, 0.2, 0.3, 0.4],
        "donor": ["D1", "D1", "D2", "D2"],
    }
    data.update(changes)
    return pd.DataFrame(data)


def problems_of(df, schema) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        tl.Artifact.from_dataframe(df, key="tables/t.parquet", schema=schema)
    return caught.value.problems


def test_valid_frame_gives_an_ok_report(features):
    report = tl.validate(frame(), tl.Schema(name="cells", features=features))
    assert report.ok and report.problems == []
    assert str(report) == "valid: matches schema 'cells'"
    assert [(f.name, v) for f, v in report.annotations] == [
        ("cell_type", ["B cell", "NK cell", "T cell"])
    ]


def test_missing_column(features):
    schema = tl.Schema(name="cells", features=features)
    assert problems_of(frame().drop(columns=["donor"]), schema) == ["missing columns: 'donor'"]


def test_missing_column_allowed_without_minimal_set(features):
    schema = tl.Schema(name="cells", features=features, minimal_set=False)
    assert tl.validate(frame().drop(columns=["donor"]), schema).ok


def test_extra_column_only_refused_with_maximal_set(features):
    df = frame(batch=[1, 2, 3, 4])
    assert tl.validate(df, tl.Schema(name="cells", features=features)).ok
    strict = tl.Schema(name="cells", features=features, maximal_set=True)
    assert problems_of(df, strict) == ["unexpected columns (the schema allows no others): 'batch'"]


def test_order_checked_when_ordered(features):
    df = frame()[["n_genes", "cell_type", "score", "donor"]]
    assert tl.validate(df, tl.Schema(name="cells", features=features)).ok
    ordered = tl.Schema(name="cells", features=features, ordered=True)
    assert problems_of(df, ordered) == ["columns out of order: 'n_genes', 'cell_type'"]


def test_wrong_dtype(features):
    df = frame(n_genes=["10", "20", "30", "40"])
    assert problems_of(df, tl.Schema(name="cells", features=features)) == [
        "column 'n_genes' has dtype str, expected Int64"
    ]


def test_integer_widths_and_nullable_ints_all_fit_int(features):
    schema = tl.Schema(name="cells", features=features)
    for dtype in ("int8", "int32", "uint16", "Int64"):
        assert tl.validate(frame(n_genes=frame()["n_genes"].astype(dtype)), schema).ok


def test_feature_coercion(features):
    df = frame(score=["0.1", "0.2", "0.3", "0.4"])  # score: coerce=True
    report = tl.validate(df, tl.Schema(name="cells", features=features))
    assert report.ok and str(report.data["score"].dtype) == "float64"
    saved = tl.Artifact.from_dataframe(
        df, key="tables/t.parquet", schema=tl.Schema(name="cells", features=features)
    ).save()
    assert saved.load()["score"].tolist() == [0.1, 0.2, 0.3, 0.4]  # stored coerced


def test_schema_coercion_and_its_failures(features):
    df = frame(n_genes=["10", "x", "30", "y"])
    assert problems_of(df, tl.Schema(name="cells", features=features, coerce=True)) == [
        "column 'n_genes': 2 values cannot be converted to Int64: 'x' (1), 'y' (1)"
    ]
    assert tl.validate(
        frame(n_genes=["1", "2", "3", "4"]), tl.Schema(name="cells", features=features, coerce=True)
    ).ok


def test_invalid_categories_listed_with_counts_up_to_twenty(features):
    bad = [f"type{i:02d}" for i in range(25) for _ in range(1 + (i == 3))]
    df = pd.DataFrame({"cell_type": ["T cell", *bad]})
    schema = tl.Schema(name="types", features=["cell_type"])
    (problem,) = problems_of(df, schema)
    assert problem.startswith(
        "column 'cell_type': 26 values are not labels: 'type03' (2), 'type00' (1), 'type01' (1)"
    )
    assert "'type19' (1)" in problem and "'type24'" not in problem
    assert problem.endswith("and 5 more; create them with tl.Label(name=...).save()")


def test_nulls(features):
    df = frame(donor=["D1", None, "D2", None])
    assert tl.validate(df, tl.Schema(name="cells", features=features)).ok  # nullable default
    strict = tl.Schema(name="cells", features=features, nullable=["score"])
    assert problems_of(df, strict) == ["column 'donor' has 2 null values (rows 1, 3)"]
    assert problems_of(df, tl.Schema(name="cells", features=features, nullable=False)) == [
        "column 'donor' has 2 null values (rows 1, 3)"
    ]


def test_every_problem_in_one_error_and_nothing_saved(features):
    df = frame(
        n_genes=[1.5, 2.5, 3.5, 4.5], cell_type=["T cell", "X", "X", None], batch=[1, 2, 3, 4]
    ).drop(columns=["donor"])
    schema = tl.Schema(name="cells", features=features, maximal_set=True, nullable=False)
    with pytest.raises(ValidationError) as caught:
        tl.Artifact.from_dataframe(df, key="tables/t.parquet", schema=schema).save()
    err = caught.value
    assert isinstance(err, ValueError) and "\n" not in str(err)
    assert str(err).startswith("data does not match schema 'cells': 5 problems: ")
    assert sorted(err.problems) == sorted(
        [
            "unexpected columns (the schema allows no others): 'batch'",
            "missing columns: 'donor'",
            "column 'n_genes' has dtype float64, expected int64",
            "column 'cell_type' has 1 null values (rows 3)",
            "column 'cell_type': 2 values are not labels: 'X' (2); create them with "
            "tl.Label(name=...).save()",
        ]
    )
    assert err.report.problems == err.problems and not err.report.ok
    assert tl.Artifact.filter().count() == 0 and tl.Schema.filter().count() == 0
    objects = Path(tl.instance().settings.storage) / ".threadline" / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


def test_feature_dtypes_in_a_schema(local_instance):
    for name, dtype in (
        ("ok", bool),
        ("day", dt.date),
        ("at", dt.datetime),
        ("meta", dict),
        ("tags", list[str]),
        ("kinds", "list[cat[Label]]"),
    ):
        tl.Feature(name=name, dtype=dtype).save()
    tl.Label(name="x").save()
    schema = tl.Schema(name="mixed", features=["ok", "day", "at", "meta", "tags", "kinds"])
    good = pd.DataFrame(
        {
            "ok": [True, False],
            "day": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)],
            "at": pd.to_datetime(["2024-01-01T10:00", "2024-01-02T11:00"]),
            "meta": [{"a": 1}, {}],
            "tags": [["a"], ["b", "c"]],
            "kinds": [["x"], []],
        }
    )
    assert tl.validate(good, schema).ok
    bad = good.assign(meta=[{"a": 1}, "no"], tags=[["a"], [1]], kinds=[["x"], ["y"]])
    assert sorted(tl.validate(bad, schema).problems) == [
        "column 'kinds': 1 values are not labels: ['y'] (1); create them with "
        "tl.Label(name=...).save()",
        "column 'meta' fails is_dict in 1 rows: 'no' (1)",
        "column 'tags' fails is_list[str] in 1 rows: [1] (1)",
    ]


def test_date_strings_coerced_when_the_feature_allows(local_instance):
    tl.Feature(name="collected", dtype=dt.date, coerce=True).save()
    schema = tl.Schema(name="dates", features=["collected"])
    report = tl.validate(pd.DataFrame({"collected": ["2024-05-02", "2024-06-01"]}), schema)
    assert report.ok and str(report.data["collected"].dtype).startswith("datetime64")
    bad = tl.validate(pd.DataFrame({"collected": ["2024-05-02", "someday"]}), schema)
    assert bad.problems == [
        "column 'collected': 1 values cannot be converted to datetime64[ns]: 'someday' (1)"
    ]


def test_pandera_schema(features):
    checked = pa.DataFrameSchema(
        {
            "n_genes": pa.Column(int, pa.Check.ge(15)),
            "donor": pa.Column(str, pa.Check.isin(["D1", "D2"])),
        },
        name="pandera-cells",
    )
    report = tl.validate(frame(), checked)
    assert report.problems == [
        "column 'n_genes' fails greater_than_or_equal_to(15) in 1 rows: 10 (1)"
    ]
    saved = tl.Artifact.from_dataframe(
        frame().iloc[1:], key="tables/t.parquet", schema=checked
    ).save()
    assert saved.schema.name == "pandera-cells" and saved.schema.kind == "pandera"
    assert tl.Artifact.filter(cell_type="B cell").count() == 1  # a cat feature column


def test_valid_features(features):
    df = frame(batch=[1, 2, 3, 4], n_genes=[1.0, 2.0, 3.0, 4.0])
    report = tl.validate(df, "valid_features")
    assert report.problems == [
        "columns that are not features: 'batch'; create them with "
        "tl.Feature(name=..., dtype=...).save()",
        "column 'n_genes' has dtype float64, expected Int64",
    ]
    saved = tl.Artifact.from_dataframe(
        frame(), key="tables/t.parquet", schema="valid_features"
    ).save()
    assert saved.schema.name == "valid_features"
    assert tl.Schema.filter(name="valid_features").count() == 1


def test_annotation_makes_datasets_findable_by_category(features):
    schema = tl.Schema(name="cells", features=features)
    with_t = tl.Artifact.from_dataframe(frame(), key="tables/a.parquet", schema=schema).save()
    without_t = tl.Artifact.from_dataframe(
        frame(cell_type=["B cell", "B cell", "NK cell", None]),
        key="tables/b.parquet",
        schema=schema,
    ).save()
    plain = tl.Artifact.from_dataframe(frame(), key="tables/c.parquet").save()
    assert [a.uid for a in tl.Artifact.filter(cell_type="T cell")] == [with_t.uid]
    assert tl.Artifact.filter(cell_type="B cell").count() == 2
    assert tl.Artifact.filter(labels__name="NK cell").count() == 2
    assert with_t.schema.uid == without_t.schema.uid == schema.uid
    assert without_t.features.get_values() == {"cell_type": ["B cell", "NK cell"]}
    assert plain.schema is None and plain.features.get_values() == {}
    assert tl.Artifact.filter(schema__name="cells").count() == 2


def test_validating_again_after_adding_labels(features):
    schema = tl.Schema(name="types", features=["cell_type"])
    df = pd.DataFrame({"cell_type": ["T cell", "Treg"]})
    assert not tl.validate(df, schema).ok
    tl.Label(name="Treg").save()
    saved = tl.Artifact.from_dataframe(df, key="tables/t.parquet", schema=schema).save()
    assert tl.Artifact.get(cell_type="Treg").uid == saved.uid


def test_add_values_type_checks_on_a_table(features):
    tl.Feature(name="collected", dtype=dt.date, coerce=True).save()
    tl.Feature(name="tissues", dtype="list[cat[Label]]").save()
    table = tl.Artifact.from_dataframe(frame(), key="tables/t.parquet").save()
    table.features.add_values(
        {"collected": "2024-05-02", "n_genes": np.int64(7), "tissues": ["liver", "lung"]}
    )
    assert table.features.get_values()["collected"] == dt.date(2024, 5, 2)
    assert tl.Artifact.filter(tissues="lung").count() == 1
    with pytest.raises(tl.errors.InvalidFeatureValue, match="'n_genes' expects int"):
        table.features.add_values({"n_genes": 7.5})


def adata_for(var_names: list[str], uns: dict | None = None) -> ad.AnnData:
    obs = frame().set_axis([f"c{i}" for i in range(4)])
    X = np.ones((4, len(var_names)), dtype="float32")
    return ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=var_names), uns=uns or {})


def test_anndata_slots(features):
    obs = tl.Schema(name="pbmc-obs", features=features)
    schema = tl.Schema(
        name="pbmc",
        slots={
            "obs": obs,
            "var.index": {"regex": r"ENSG\d{11}"},
            "uns": {"title": str, "year": int},
        },
    )
    good = adata_for(["ENSG00000000001", "ENSG00000000002"], {"title": "pbmc", "year": 2024})
    saved = tl.Artifact.from_anndata(good, key="sc/pbmc.h5ad", schema=schema).save()
    assert saved.schema.name == "pbmc" and saved.schema.otype == "AnnData"
    assert tl.Artifact.filter(cell_type="NK cell").get().uid == saved.uid
    bad = adata_for(["ENSG00000000001", "TP53", "ENSG1"], {"year": "2024"})
    bad.obs["cell_type"] = ["T cell", "Z", "Z", "B cell"]
    with pytest.raises(ValidationError) as caught:
        tl.Artifact.from_anndata(bad, key="sc/bad.h5ad", schema=schema)
    assert caught.value.problems == [
        "obs: column 'cell_type': 2 values are not labels: 'Z' (2); create them with "
        "tl.Label(name=...).save()",
        "var.index: 2 invalid values (regex 'ENSG\\\\d{11}'): 'TP53' (1), 'ENSG1' (1)",
        "uns: missing keys ['title']",
        "uns: 'year' expects int, got '2024'",
    ]
    assert tl.Artifact.filter(key="sc/bad.h5ad").count() == 0


def test_var_index_from_values_labels_and_features(features):
    listed = tl.Schema(name="genes", slots={"var.index": {"values": ["TP53", "EGFR"]}})
    assert tl.validate(adata_for(["TP53", "EGFR"]), listed).ok
    assert tl.validate(adata_for(["TP53", "MYC"]), listed).problems == [
        "var.index: 1 invalid values (not among listed values): 'MYC' (1)"
    ]
    labels = tl.Schema(name="by-label", slots={"var.index": {"registry": "Label"}})
    assert tl.validate(adata_for(["T cell", "B cell"]), labels).ok
    assert tl.validate(adata_for(["T cell", "TP53"]), labels).problems == [
        "var.index: 1 invalid values (not among Label names): 'TP53' (1)"
    ]
    by_feature = tl.Schema(name="by-feature", slots={"var.index": {"registry": "Feature"}})
    assert tl.validate(adata_for(["score", "donor"]), by_feature).ok


def test_a_dataframe_schema_applies_to_obs(features):
    schema = tl.Schema(name="cells", features=features)
    assert tl.validate(adata_for(["g1"]), schema).ok
    with pytest.raises(InvalidInput, match="is for AnnData, got a DataFrame"):
        tl.validate(frame(), tl.Schema(name="sc", slots={"uns": ["title"]}))


def test_validate_refuses_what_it_cannot_check(features):
    with pytest.raises(InvalidInput, match="can validate a pandas DataFrame or an AnnData"):
        tl.validate([1, 2], tl.Schema(name="cells", features=features))
    with pytest.raises(InvalidInput, match="no schema named 'nope'"):
        tl.validate(frame(), "nope")
    record = tl.Schema(name="plain", definition={"columns": {"a": "int"}}).save()
    with pytest.raises(InvalidInput, match="is a plain record with no rules"):
        tl.validate(frame(), record)
    with pytest.raises(InvalidInput, match=r"schema must be a tl\.Schema"):
        tl.validate(frame(), 42)


def test_annotations_hold_the_categories_validation_found(features):
    """The values validation checks against the labels are the ones the artifact gets:
    unused categories of a categorical column, nulls and empty lists give no value."""
    tl.Feature(name="tissues", dtype="list[cat[Label]]").save()
    for name in ("liver", "lung"):
        tl.Label(name=name).save()
    kinds = pd.Categorical(
        ["T cell", None, "T cell", "NK cell"], categories=["B cell", "NK cell", "T cell"]
    )
    df = frame(cell_type=kinds, tissues=[["lung"], [], None, ["liver", "lung"]])
    expected = [("cell_type", ["NK cell", "T cell"]), ("tissues", ["liver", "lung"])]
    by_features = tl.Schema(name="cells", features=[*features, "tissues"])
    for schema in (by_features, "valid_features"):
        report = tl.validate(df, schema)
        assert [(f.name, v) for f, v in report.annotations] == expected
    adata = ad.AnnData(
        X=np.ones((4, 1), dtype="float32"), obs=df.set_axis([f"c{i}" for i in range(4)])
    )
    report = tl.validate(adata, tl.Schema(name="pbmc", slots={"obs": by_features}))
    assert [(f.name, v) for f, v in report.annotations] == expected
    saved = tl.Artifact.from_dataframe(df, key="tables/t.parquet", schema=by_features).save()
    assert saved.features.get_values() == dict(expected)
