"""Examples of docs/tables.md, run for real.

The code between ``# -- start NAME --`` and ``# -- end NAME --`` appears verbatim in the
docs after ``<!-- example: NAME -->``; tests/docs/test_docs.py checks that they match.
"""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import threadline as tl


def cells_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cell_type": ["T cell", "B cell", "T cell"],
            "n_genes": [1200, 950, 1410],
            "donor": ["D1", "D1", "D2"],
        },
        index=["c1", "c2", "c3"],
    )


def pbmc() -> ad.AnnData:
    var = pd.DataFrame(index=["ENSG00000141510", "ENSG00000146648"])
    return ad.AnnData(
        X=np.ones((3, 2), dtype="float32"), obs=cells_frame(), var=var, uns={"title": "PBMC pilot"}
    )


def define_features() -> None:
    for name in ("T cell", "B cell", "NK cell"):
        tl.Label(name=name).save()
    tl.Feature(name="cell_type", dtype="cat[Label]").save()
    tl.Feature(name="n_genes", dtype=int, coerce=True).save()
    tl.Feature(name="donor", dtype=str).save()


def test_save_dataframe(local_instance, isolated):
    # -- start tables-dataframe --
    import pandas as pd
    import threadline as tl

    df = pd.DataFrame(
        {
            "cell_type": ["T cell", "B cell", "T cell"],
            "n_genes": [1200, 950, 1410],
            "donor": ["D1", "D1", "D2"],
        },
        index=["c1", "c2", "c3"],
    )
    qc = tl.Artifact.from_dataframe(df, key="tables/qc.parquet", description="per-cell QC").save()
    assert (qc.otype, qc.suffix, qc.n_observations, qc.kind) == (
        "DataFrame",
        ".parquet",
        3,
        "dataset",
    )

    loaded = tl.Artifact.get(key="tables/qc.parquet").load()  # a DataFrame again
    assert loaded.equals(df)
    # -- end tables-dataframe --


def test_save_anndata(local_instance, isolated):
    adata = pbmc()
    # -- start tables-anndata --
    h5ad = tl.Artifact.from_anndata(adata, key="sc/pbmc.h5ad").save()
    zarr = tl.Artifact.from_anndata(adata, key="sc/pbmc.zarr").save()  # a folder
    assert (h5ad.otype, h5ad.n_observations) == ("AnnData", 3)
    assert (zarr.suffix, zarr.n_files > 1) == (".zarr", True)

    same = tl.Artifact.from_anndata(adata, key="sc/pbmc-copy", format="zarr").save()
    assert same.suffix == ".zarr" and same.hash == zarr.hash  # same content, stored once
    assert zarr.load().uns["title"] == "PBMC pilot"
    # -- end tables-anndata --


def test_open_lazily(local_instance, isolated):
    tl.Artifact.from_dataframe(cells_frame(), key="tables/qc.parquet").save()
    tl.Artifact.from_anndata(pbmc(), key="sc/pbmc.h5ad").save()
    tl.Artifact.from_anndata(pbmc(), key="sc/pbmc.zarr").save()
    # -- start tables-open --
    import pyarrow.compute as pc

    dataset = tl.Artifact.get(key="tables/qc.parquet").open()  # a pyarrow dataset
    deep = dataset.to_table(columns=["cell_type"], filter=pc.field("n_genes") > 1000)
    assert deep.column("cell_type").to_pylist() == ["T cell", "T cell"]

    backed = tl.Artifact.get(key="sc/pbmc.h5ad").open()  # a backed AnnData
    first_row = backed.X[0]  # read from disk now, not before
    group = tl.Artifact.get(key="sc/pbmc.zarr").open()  # a read-only zarr group
    assert group["X"].shape == (3, 2)
    # -- end tables-open --
    assert first_row.tolist() == [1.0, 1.0]
    backed.file.close()


def test_files_by_suffix(local_instance, isolated):
    cells_frame().to_parquet("qc.parquet")
    # -- start tables-files --
    registered = tl.Artifact("qc.parquet", key="tables/qc-from-file.parquet").save()
    assert (registered.otype, registered.n_observations) == ("DataFrame", 3)
    assert list(registered.load().columns) == ["cell_type", "n_genes", "donor"]
    # -- end tables-files --


def test_file_with_schema(local_instance, isolated):
    define_features()
    cells_schema = tl.Schema(name="cells", features=["cell_type", "n_genes", "donor"]).save()
    cells_frame().to_csv("qc.csv", index=False)
    # -- start tables-file-schema --
    checked = tl.Artifact("qc.csv", key="tables/qc.csv", schema=cells_schema).save()
    assert checked.features.get_values() == {"cell_type": ["B cell", "T cell"]}
    # -- end tables-file-schema --


def test_schema_from_features(local_instance, isolated):
    df = cells_frame()
    # -- start tables-schema --
    for name in ("T cell", "B cell", "NK cell"):
        tl.Label(name=name).save()  # the valid values of cat[Label] features
    tl.Feature(name="cell_type", dtype="cat[Label]").save()
    tl.Feature(name="n_genes", dtype=int, coerce=True).save()  # "1200" becomes 1200
    tl.Feature(name="donor", dtype=str).save()

    cells = tl.Schema(
        name="cells", features=["cell_type", "n_genes", "donor"], maximal_set=True, nullable=False
    ).save()
    qc = tl.Artifact.from_dataframe(df, key="tables/qc.parquet", schema=cells).save()
    assert qc.schema.name == "cells"
    assert qc.features.get_values() == {"cell_type": ["B cell", "T cell"]}
    # -- end tables-schema --


def test_validation_errors(local_instance, isolated):
    define_features()
    tl.Schema(
        name="cells", features=["cell_type", "n_genes", "donor"], maximal_set=True, nullable=False
    ).save()
    # -- start tables-validation-error --
    bad = pd.DataFrame(
        {
            "cell_type": ["T cell", "Tcell", "Tcell"],
            "n_genes": ["1200", "many", None],
            "batch": [1, 1, 2],
        }
    )
    try:
        tl.Artifact.from_dataframe(bad, key="tables/bad.parquet", schema="cells").save()
    except tl.errors.ValidationError as err:
        print(err)  # data does not match schema 'cells' v1: 5 problems: ...
        for problem in err.problems:
            print(problem)
    assert tl.Artifact.filter(key="tables/bad.parquet").count() == 0  # nothing saved
    # -- end tables-validation-error --
    with pytest.raises(tl.errors.ValidationError) as caught:
        tl.Artifact.from_dataframe(bad, key="tables/bad.parquet", schema="cells")
    assert caught.value.problems == [
        "unexpected columns (the schema allows no others): 'batch'",
        "missing columns: 'donor'",
        "column 'n_genes': 1 values cannot be converted to Int64: 'many' (1)",
        "column 'cell_type': 2 values are not labels: 'Tcell' (2); create them with "
        "tl.Label(name=...).save()",
        "column 'n_genes' has 1 null values (rows 2)",
    ]


def test_validate_report(local_instance, isolated):
    define_features()
    tl.Schema(name="cells", features=["cell_type", "n_genes", "donor"]).save()
    df = cells_frame()
    # -- start tables-validate --
    report = tl.validate(df.assign(n_genes=["1200", "950", "1410"]), "cells")
    assert report.ok and report.problems == []
    assert report.data["n_genes"].tolist() == [1200, 950, 1410]  # coerced

    report = tl.validate(df.assign(donor=[1, 2, 3]), "cells")
    print(report)
    # invalid: 1 problems against schema 'cells' v1
    # - column 'donor' has dtype int64, expected str
    # -- end tables-validate --
    assert report.problems == ["column 'donor' has dtype int64, expected str"]


def test_pandera_schema(local_instance, isolated):
    df = cells_frame()
    # -- start tables-pandera --
    import pandera.pandas as pa

    qc_rules = pa.DataFrameSchema(
        {
            "n_genes": pa.Column(int, pa.Check.ge(500)),
            "donor": pa.Column(str, pa.Check.str_matches(r"^D\d+$")),
        },
        name="qc-rules",
    )
    schema = tl.Schema(qc_rules).save()  # kept in pandera's serialized form
    assert tl.Schema.get(name="qc-rules").pandera.to_json() == qc_rules.to_json()

    report = tl.validate(df.assign(n_genes=[1200, 12, 1410]), schema)
    assert report.problems == [
        "column 'n_genes' fails greater_than_or_equal_to(500) in 1 rows: 12 (1)"
    ]
    # -- end tables-pandera --


def test_anndata_schema(local_instance, isolated):
    define_features()
    adata = pbmc()
    # -- start tables-anndata-schema --
    obs = tl.Schema(name="pbmc-obs", features=["cell_type", "n_genes"])
    pbmc_schema = tl.Schema(
        name="pbmc",
        slots={
            "obs": obs,  # a DataFrame schema
            "var.index": {"regex": r"ENSG\d{11}"},  # or {"values": [...]},
            # or {"registry": "Label"}
            "uns": {"title": str},  # required keys (and dtypes)
        },
    ).save()
    saved = tl.Artifact.from_anndata(adata, key="sc/pbmc.h5ad", schema=pbmc_schema).save()
    assert saved.schema.otype == "AnnData"

    renamed = adata.copy()
    renamed.var_names = ["TP53", "EGFR"]
    print(tl.validate(renamed, "pbmc").problems)
    # ["var.index: 2 invalid values (regex 'ENSG\\\\d{11}'): 'TP53' (1), 'EGFR' (1)"]
    # -- end tables-anndata-schema --
    assert len(tl.validate(renamed, "pbmc").problems) == 1


def test_valid_features(local_instance, isolated):
    define_features()
    df = cells_frame()
    # -- start tables-valid-features --
    report = tl.validate(df.assign(batch=[1, 1, 2]), "valid_features")
    assert report.problems == [
        "columns that are not features: 'batch'; create them with "
        "tl.Feature(name=..., dtype=...).save()"
    ]
    table = tl.Artifact.from_dataframe(df, key="tables/qc.parquet", schema="valid_features").save()
    assert table.schema.name == "valid_features"
    # -- end tables-valid-features --


def test_query_by_category(local_instance, isolated):
    define_features()
    schema = tl.Schema(name="cells", features=["cell_type", "n_genes", "donor"]).save()
    # -- start tables-query --
    b_only = pd.DataFrame({"cell_type": ["B cell"], "n_genes": [800], "donor": ["D3"]})
    tl.Artifact.from_dataframe(cells_frame(), key="tables/s1.parquet", schema=schema).save()
    tl.Artifact.from_dataframe(b_only, key="tables/s2.parquet", schema=schema).save()

    with_t_cells = tl.Artifact.filter(cell_type="T cell")
    assert [a.key for a in with_t_cells] == ["tables/s1.parquet"]
    assert tl.Artifact.filter(cell_type="B cell").count() == 2
    assert tl.Artifact.filter(schema__name="cells", otype="DataFrame").count() == 2
    # -- end tables-query --
