"""Schemas as database records: built from features, pandera or slots; versions; bad input."""

import hashlib
import json

import pandas as pd
import pandera.pandas as pa
import pytest
import threadline as tl
from threadline.errors import InvalidInput


@pytest.fixture
def features(instance):
    tl.Feature(name="cell_type", dtype="cat[Label]").save()
    tl.Feature(name="n_genes", dtype=int, coerce=True).save()
    return instance


def test_feature_schema_round_trip(features):
    schema = tl.Schema(
        name="cells",
        features=[tl.Feature.get(name="cell_type"), "n_genes"],
        coerce=True,
        ordered=True,
        maximal_set=True,
        nullable=["n_genes"],
        description="one row per cell",
    ).save()
    loaded = tl.Schema.get(name="cells")
    assert (loaded.uid, loaded.version, loaded.otype, loaded.kind) == (
        schema.uid,
        1,
        "DataFrame",
        "features",
    )
    assert [f.name for f in loaded.features] == ["cell_type", "n_genes"]
    assert loaded.definition == {
        "type": "features",
        "coerce": True,
        "ordered": True,
        "maximal_set": True,
        "minimal_set": True,
        "nullable": ["n_genes"],
        "features": [
            {"name": "cell_type", "dtype": "cat[Label]", "coerce": False},
            {"name": "n_genes", "dtype": "int", "coerce": True},
        ],
    }
    assert loaded.description == "one row per cell"


def test_same_definition_same_schema_changed_definition_next_version(features):
    first = tl.Schema(name="cells", features=["cell_type"]).save()
    again = tl.Schema(name="cells", features=["cell_type"]).save()
    changed = tl.Schema(name="cells", features=["cell_type", "n_genes"]).save()
    assert again.uid == first.uid
    assert (first.version, changed.version) == (1, 2)
    assert tl.validate(pd.DataFrame({"cell_type": []}), "cells").schema.uid == changed.uid


def test_pandera_schema_kept_in_pandera_form(features):
    source = pa.DataFrameSchema(
        {
            "n_genes": pa.Column(int, pa.Check.in_range(0, 10_000)),
            "sample": pa.Column(str, nullable=True),
        },
        strict=True,
        name="qc",
    )
    schema = tl.Schema(source).save()
    loaded = tl.Schema.get(name="qc")
    assert loaded.uid == schema.uid and loaded.kind == "pandera"
    assert json.loads(loaded.definition["pandera"])["columns"]["n_genes"]["in_range"] == {
        "min_value": 0,
        "max_value": 10_000,
        "include_min": True,
        "include_max": True,
    }
    assert loaded.pandera.to_json() == source.to_json()
    renamed = tl.Schema(source, name="qc-renamed").save()
    assert renamed.name == "qc-renamed"


def test_anndata_schema_round_trip(features):
    obs = tl.Schema(name="pbmc-obs", features=["cell_type"])  # saved with the AnnData schema
    schema = tl.Schema(
        name="pbmc", slots={"obs": obs, "var.index": {"regex": r"^ENSG\d+$"}, "uns": ["title"]}
    ).save()
    loaded = tl.Schema.get(name="pbmc")
    assert (loaded.otype, loaded.kind) == ("AnnData", "anndata")
    assert loaded.slots["obs"].uid == tl.Schema.get(name="pbmc-obs").uid == obs.uid
    assert loaded.slots["var.index"] == {"regex": r"^ENSG\d+$"}
    assert loaded.slots["uns"] == {"title": None}
    assert schema.features == [] and loaded.slots["obs"].features[0].name == "cell_type"


def test_valid_features_is_built_in_and_stored_once(local_instance):
    first = tl.Schema.valid_features()
    second = tl.Schema.valid_features()
    assert first.uid == second.uid and first.kind == "valid_features"
    assert tl.Schema.filter(name="valid_features").count() == 1


def test_bad_schemas(local_instance):
    tl.Feature(name="cell_type", dtype="cat[Label]").save()
    cases = [
        (lambda: tl.Schema(name="s", features=["nope"]), r"unknown features \['nope'\]"),
        (lambda: tl.Schema(name="s", features=[]), "at least one feature"),
        (lambda: tl.Schema(name="s", features=["cell_type", "cell_type"]), "appears twice"),
        (lambda: tl.Schema(name="s", features=[3]), "takes tl.Feature records or names"),
        (
            lambda: tl.Schema(name="s", features=["cell_type"], nullable=["x"]),
            "nullable names columns the schema lacks",
        ),
        (lambda: tl.Schema(pa.DataFrameSchema({}), features=["cell_type"]), "not several"),
        (lambda: tl.Schema("not pandera", name="s"), "expected a pandera DataFrameSchema"),
        (lambda: tl.Schema(name="s", slots={"obsm": None}), "unknown AnnData slots"),
        (lambda: tl.Schema(name="s", slots={"obs": "x"}), "slot obs takes a DataFrame"),
        (lambda: tl.Schema(name="s", slots={"var.index": {"glob": "*"}}), "var.index takes"),
        (lambda: tl.Schema(name="s", slots={"var.index": {"regex": "("}}), "is invalid"),
        (
            lambda: tl.Schema(name="s", slots={"var.index": {"registry": "Gene"}}),
            "registry must be one of",
        ),
        (lambda: tl.Schema(name="s", slots={"uns": "title"}), "uns takes a list"),
        (lambda: tl.Schema(features=["cell_type"]).save(), "a schema needs a name"),
    ]
    for build, message in cases:
        with pytest.raises(InvalidInput, match=message):
            build()
    assert tl.Schema.filter().count() == 0


def test_custom_pandera_checks_are_refused(local_instance):
    custom = pa.DataFrameSchema({"a": pa.Column(int, pa.Check(lambda s: s > 0))}, name="c")
    with pytest.raises(InvalidInput, match="cannot be serialized"):
        tl.Schema(custom)


def test_plain_record_schemas_still_work(local_instance, isolated):
    (isolated / "qc.csv").write_text("sample\nS1\n")
    record = tl.Schema(name="qc", otype="DataFrame", definition={"columns": {"x": "str"}}).save()
    table = tl.Artifact(isolated / "qc.csv", key="tables/qc.csv", schema=record).save()
    assert record.kind == "record" and table.schema.uid == record.uid


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"var.index": {"glob": "*"}}, r"^var\.index takes one of"),
        ({"uns": "title"}, "^uns takes a list"),
        ({"uns": {"title": "text"}}, "^uns key 'title': unsupported feature dtype"),
        ({"obsm": None}, r"^unknown AnnData slots \['obsm'\]"),
    ],
)
def test_a_bad_slot_writes_nothing(local_instance, bad, message):
    tl.Feature(name="cell_type", dtype="cat[Label]").save()
    obs = tl.Schema(name="pbmc-obs", features=["cell_type"])  # valid, and not saved yet
    before = tl.Schema.filter().count()
    with pytest.raises(InvalidInput, match=message) as caught:
        tl.Schema(name="pbmc", slots={"obs": obs, **bad})
    assert "\n" not in str(caught.value)
    assert tl.Schema.filter().count() == before == 0


def test_obs_schema_without_a_name_is_refused_before_anything_is_written(local_instance):
    tl.Feature(name="cell_type", dtype="cat[Label]").save()
    with pytest.raises(InvalidInput, match=r"^slot obs: its schema needs a name"):
        tl.Schema(name="pbmc", slots={"obs": tl.Schema(features=["cell_type"])})
    assert tl.Schema.filter().count() == 0


def test_an_existing_obs_schema_is_reused_not_written_again(features):
    obs = tl.Schema(name="pbmc-obs", features=["cell_type"]).save()
    first = tl.Schema(name="pbmc", slots={"obs": obs, "uns": ["title"]}).save()
    again = tl.Schema(
        name="pbmc",
        slots={"obs": tl.Schema(name="pbmc-obs", features=["cell_type"]), "uns": ["title"]},
    ).save()
    assert again.uid == first.uid and again.slots["obs"].uid == obs.uid
    assert tl.Schema.filter(name="pbmc-obs").count() == 1


def test_schema_hash_is_the_sha256_of_its_sorted_json(features):
    schema = tl.Schema(name="cells", features=["cell_type"]).save()
    text = json.dumps(schema.definition, sort_keys=True, default=str)
    assert schema.hash == hashlib.sha256(text.encode()).hexdigest()
