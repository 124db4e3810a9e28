"""DataFrames and AnnData as artifacts on every backend: save, load, lazy open, suffixes."""

import json
import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import threadline as tl
from threadline.errors import InvalidInput, InvalidKey


def cells(n: int = 6) -> pd.DataFrame:
    kinds = ["T cell", "B cell", "NK cell"]
    return pd.DataFrame(
        {
            "cell_type": [kinds[i % 3] for i in range(n)],
            "n_genes": np.arange(n, dtype="int64") * 10,
            "donor": [f"D{i % 2}" for i in range(n)],
        },
        index=[f"cell{i}" for i in range(n)],
    )


def pbmc(n_obs: int = 6, n_vars: int = 4) -> ad.AnnData:
    X = np.arange(n_obs * n_vars, dtype="float32").reshape(n_obs, n_vars)
    var = pd.DataFrame(index=[f"ENSG{i:011d}" for i in range(n_vars)])
    return ad.AnnData(X=X, obs=cells(n_obs), var=var, uns={"title": "pbmc"})


def test_dataframe_round_trip(instance, isolated):
    df = cells()
    artifact = tl.Artifact.from_dataframe(
        df, key="tables/cells.parquet", description="six cells"
    ).save()
    assert (artifact.otype, artifact.n_observations, artifact.suffix) == (
        "DataFrame",
        6,
        ".parquet",
    )
    assert (artifact.kind, artifact.description, artifact.version) == ("dataset", "six cells", 1)
    loaded = tl.Artifact.get(key="tables/cells.parquet").load()
    pd.testing.assert_frame_equal(loaded, df)


def test_same_frame_again_is_the_same_artifact(instance, isolated):
    first = tl.Artifact.from_dataframe(cells(), key="tables/cells.parquet").save()
    again = tl.Artifact.from_dataframe(cells(), key="tables/cells.parquet").save()
    changed = tl.Artifact.from_dataframe(cells(7), key="tables/cells.parquet").save()
    assert again.uid == first.uid
    assert (changed.version, changed.n_observations) == (2, 7)


def test_anndata_round_trip_in_both_formats(instance, isolated):
    adata = pbmc()
    h5ad = tl.Artifact.from_anndata(adata, key="sc/pbmc.h5ad").save()
    zarr = tl.Artifact.from_anndata(adata, key="sc/pbmc.zarr").save()
    assert (h5ad.otype, h5ad.n_observations, h5ad.suffix, h5ad.n_files) == (
        "AnnData",
        6,
        ".h5ad",
        None,
    )
    assert (zarr.otype, zarr.n_observations, zarr.suffix) == ("AnnData", 6, ".zarr")
    assert zarr.n_files > 1  # a folder
    for artifact in (h5ad, zarr):
        loaded = artifact.load()
        np.testing.assert_array_equal(loaded.X, adata.X)
        assert list(loaded.obs["cell_type"]) == list(adata.obs["cell_type"])
        assert list(loaded.var_names) == list(adata.var_names)
        assert loaded.uns["title"] == "pbmc"
    assert str(adata.obs.index.dtype) == "str"  # the caller's object is left as it was
    again = tl.Artifact.from_anndata(adata, key="sc/pbmc.h5ad").save()
    assert again.uid == h5ad.uid  # h5ad bytes are reproducible: same content, same artifact


def test_format_argument_and_view(local_instance, isolated):
    view = pbmc()[:3]
    artifact = tl.Artifact.from_anndata(view, key="sc/first3", format="zarr").save()
    assert (artifact.suffix, artifact.n_observations) == (".zarr", 3)
    assert artifact.load().n_obs == 3


def bytes_read() -> int:
    """Bytes this process has read so far (files and sockets), from the kernel."""
    line = next(x for x in Path("/proc/self/io").read_text().splitlines() if x.startswith("rchar:"))
    return int(line.split()[1])


def test_open_parquet_reads_a_subset(instance, isolated):
    n = 1_000_000
    rng = np.random.default_rng(0)  # random floats: the file is as big as the data
    df = pd.DataFrame({name: rng.random(n) for name in "abcde"})
    artifact = tl.Artifact.from_dataframe(df, key="tables/wide.parquet").save()
    before = bytes_read()
    dataset = artifact.open()
    assert dataset.count_rows() == n  # from the footer
    table = dataset.to_table(columns=["b"], filter=pa.compute.field("b") < 0.001)
    assert table.num_rows == int((df["b"] < 0.001).sum()) and table.num_columns == 1
    if tl.instance().backend.is_local:  # (moto, in this process, reads whole objects per GET)
        assert bytes_read() - before < artifact.size / 2  # about one column of five


def test_open_h5ad_is_backed(instance, isolated):
    artifact = tl.Artifact.from_anndata(pbmc(), key="sc/pbmc.h5ad").save()
    backed = artifact.open()
    assert backed.isbacked and backed.n_obs == 6
    assert not isinstance(backed.X, np.ndarray)  # still on disk
    np.testing.assert_array_equal(backed.X[1:3], pbmc().X[1:3])
    backed.file.close()


def test_open_zarr_gives_a_group(instance, isolated):
    artifact = tl.Artifact.from_anndata(pbmc(), key="sc/pbmc.zarr").save()
    group = artifact.open()
    assert group["X"].shape == (6, 4)
    np.testing.assert_array_equal(group["X"][2:4], pbmc().X[2:4])  # two rows read


def test_open_zarr_reads_through_the_storage_filesystem(instance, isolated, monkeypatch):
    """On S3 the group is read with the filesystem the instance connected with: an
    endpoint changed in the environment afterwards (here one that refuses connections)
    is not consulted."""
    tl.Artifact.from_anndata(pbmc(), key="sc/pbmc.zarr").save()
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    group = tl.Artifact.get(key="sc/pbmc.zarr").open()
    assert group.read_only and sorted(group.group_keys())[:2] == ["layers", "obs"]
    np.testing.assert_array_equal(group["X"][4:6], pbmc().X[4:6])


def test_open_with_a_mode_still_gives_bytes(local_instance, isolated):
    artifact = tl.Artifact.from_dataframe(cells(), key="tables/cells.parquet").save()
    with artifact.open("rb") as handle:
        assert handle.read(4) == b"PAR1"


def test_existing_files_register_by_suffix(instance, isolated):
    df = cells()
    df.to_parquet(isolated / "t.parquet")
    df.to_csv(isolated / "t.csv", index=False)
    df.to_csv(isolated / "t.tsv", index=False, sep="\t")
    (isolated / "m.json").write_text(json.dumps({"a": 1}))
    (isolated / "m.yaml").write_text("a: 1\n")
    found = {}
    for name in ("t.parquet", "t.csv", "t.tsv", "m.json", "m.yaml"):
        artifact = tl.Artifact(isolated / name, key=f"files/{name}").save()
        found[name] = (artifact.otype, artifact.n_observations, artifact.load())
    assert found["t.parquet"][:2] == ("DataFrame", 6)
    assert found["t.csv"][:2] == ("DataFrame", None)  # counting csv rows means parsing it all
    for name in ("t.parquet", "t.csv", "t.tsv"):
        assert list(found[name][2]["cell_type"]) == list(df["cell_type"])
    assert found["m.json"][2] == found["m.yaml"][2] == {"a": 1}


def test_existing_anndata_files_register_by_suffix(instance, isolated):
    h5ad_path, zarr_path = isolated / "p.h5ad", isolated / "p.zarr"
    saved = tl.Artifact.from_anndata(pbmc(), key="sc/a.h5ad").save()
    Path(h5ad_path).write_bytes(Path(saved.cache()).read_bytes())
    shutil.copytree(tl.Artifact.from_anndata(pbmc(), key="sc/a.zarr").save().cache(), zarr_path)
    h5ad = tl.Artifact(h5ad_path, key="sc/p.h5ad").save()
    zarr = tl.Artifact(zarr_path, key="sc/p.zarr").save()
    assert (h5ad.otype, h5ad.n_observations) == ("AnnData", 6)
    assert (zarr.otype, zarr.n_observations, zarr.kind) == ("AnnData", 6, "folder")
    assert zarr.load().n_obs == 6


def test_a_damaged_table_file_is_still_stored(local_instance, isolated):
    path = isolated / "broken.parquet"
    path.write_bytes(b"not parquet at all")
    artifact = tl.Artifact(path, key="files/broken.parquet").save()
    assert (artifact.otype, artifact.n_observations) == ("DataFrame", None)


def test_bad_arguments(local_instance, isolated):
    with pytest.raises(InvalidInput, match="expected a pandas DataFrame or an AnnData"):
        tl.Artifact.from_dataframe([1, 2], key="tables/x.parquet")
    with pytest.raises(InvalidInput, match="takes an AnnData"):
        tl.Artifact.from_anndata(cells(), key="sc/x.h5ad")
    with pytest.raises(InvalidKey, match=r"ends in \.csv but the object is stored as \.parquet"):
        tl.Artifact.from_dataframe(cells(), key="tables/x.csv")
    with pytest.raises(InvalidInput, match="'h5ad' or 'zarr'"):
        tl.Artifact.from_anndata(pbmc(), key="sc/x", format="loom")
    assert tl.Artifact.filter().count() == 0


def test_saved_inside_a_run_and_read_as_input(local_instance, isolated):
    tl.track(key="scripts/make.py")
    made = tl.Artifact.from_dataframe(cells(), key="tables/cells.parquet").save()
    tl.finish()
    tl.track(key="scripts/use.py")
    tl.Artifact.get(key="tables/cells.parquet").open()
    run = tl.context.run
    tl.finish()
    assert made.run is not None and [a.uid for a in run.inputs] == [made.uid]


def test_million_rows_saved_and_validated(local_instance, isolated):
    n = 1_000_000
    for name in ("T cell", "B cell", "NK cell"):
        tl.Label(name=name).save()
    tl.Feature(name="cell_type", dtype="cat[Label]").save()
    tl.Feature(name="n_genes", dtype=int).save()
    tl.Feature(name="score", dtype=float).save()
    df = pd.DataFrame(
        {
            "cell_type": pd.Categorical.from_codes(
                np.arange(n) % 3, ["T cell", "B cell", "NK cell"]
            ),
            "n_genes": np.arange(n, dtype="int64"),
            "score": np.linspace(0, 1, n),
        }
    )
    schema = tl.Schema(name="big", features=["cell_type", "n_genes", "score"], maximal_set=True)
    artifact = tl.Artifact.from_dataframe(df, key="tables/big.parquet", schema=schema).save()
    assert artifact.n_observations == n and artifact.schema.name == "big"
    assert sorted(artifact.features.get_values()["cell_type"]) == ["B cell", "NK cell", "T cell"]
    assert artifact.open().count_rows() == n
    df.loc[5, "n_genes"] = -1  # still an int: valid; now break it for real
    broken = df.assign(cell_type=df["cell_type"].cat.rename_categories({"NK cell": "NK"}))
    with pytest.raises(tl.errors.ValidationError, match=r"'NK' \(333333\)"):
        tl.Artifact.from_dataframe(broken, key="tables/big.parquet", schema=schema)


def test_a_file_saved_with_a_schema_is_validated(local_instance, isolated):
    tl.Label(name="T cell").save()
    tl.Feature(name="cell_type", dtype="cat[Label]").save()
    schema = tl.Schema(name="types", features=["cell_type"]).save()
    pd.DataFrame({"cell_type": ["T cell", "T cell"]}).to_csv(isolated / "ok.csv", index=False)
    pd.DataFrame({"cell_type": ["T cell", "X"]}).to_parquet(isolated / "bad.parquet")
    ok = tl.Artifact(isolated / "ok.csv", key="tables/ok.csv", schema=schema).save()
    assert ok.schema.uid == schema.uid and tl.Artifact.get(cell_type="T cell").uid == ok.uid
    with pytest.raises(tl.errors.ValidationError, match=r"'X' \(1\)"):
        tl.Artifact(isolated / "bad.parquet", key="tables/bad.parquet", schema=schema).save()
    (isolated / "notes.txt").write_text("hello")
    with pytest.raises(InvalidInput, match="validates local DataFrame and AnnData files"):
        tl.Artifact(isolated / "notes.txt", key="notes.txt", schema=schema).save()
    assert tl.Artifact.filter().count() == 1


def test_describe_shows_the_data(local_instance, isolated):
    tl.Feature(name="donor", dtype=str).save()
    schema = tl.Schema(name="donors", features=["donor"])
    table = tl.Artifact.from_dataframe(cells(), key="tables/cells.parquet", schema=schema).save()
    text = table.describe(as_text=True)
    assert "├── otype: DataFrame   observations: 6   schema: donors v1" in text


def test_annotated_on_every_backend(instance, isolated):
    for name in ("T cell", "B cell", "NK cell"):
        tl.Label(name=name).save()
    tl.Feature(name="cell_type", dtype="cat[Label]").save()
    schema = tl.Schema(name="types", features=["cell_type"])
    table = tl.Artifact.from_dataframe(cells(), key="tables/cells.parquet", schema=schema).save()
    h5ad = tl.Artifact.from_anndata(pbmc()[:1], key="sc/one.h5ad", schema=schema).save()
    assert {a.uid for a in tl.Artifact.filter(cell_type="T cell")} == {table.uid, h5ad.uid}
    assert [a.uid for a in tl.Artifact.filter(cell_type="NK cell")] == [table.uid]
    assert tl.Artifact.get(key="sc/one.h5ad").schema.name == "types"
