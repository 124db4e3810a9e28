"""Features and labels: dtypes, coercion, creation, validation before writing, round trips."""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import threadline as tl
from threadline import adapters
from threadline.errors import InvalidFeatureValue, InvalidInput, UnknownFeature
from threadline.models import normalize_dtype


def saved(folder: Path, key: str = "a.txt", text: str = "x") -> tl.Artifact:
    path = folder / key.replace("/", "_")
    path.write_text(text)
    return tl.Artifact(path, key=key).save()


def feature(name: str, dtype, **kwargs) -> tl.Feature:
    return tl.Feature(name=name, dtype=dtype, **kwargs).save()


# -- dtypes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, spelled",
    [
        (int, "int"),
        ("int", "int"),
        (float, "float"),
        (str, "str"),
        (bool, "bool"),
        (dt.date, "date"),
        (dt.datetime, "datetime"),
        (dict, "dict"),
        (list[int], "list[int]"),
        ("list[str]", "list[str]"),
        (list[dt.date], "list[date]"),
        ("cat", "cat[Label]"),
        ("cat[Label]", "cat[Label]"),
        ("list[cat[Label]]", "list[cat[Label]]"),
        ("list[cat]", "list[cat[Label]]"),
    ],
)
def test_dtype_spellings_normalize(dtype, spelled):
    assert normalize_dtype(dtype) == spelled


@pytest.mark.parametrize(
    "dtype", ["complex", "list[list[int]]", "list[]", set, "cat[Thing]", "list[int"]
)
def test_unsupported_dtypes_are_refused(local_instance, dtype):
    with pytest.raises(InvalidInput, match="unsupported feature dtype"):
        tl.Feature(name="f", dtype=dtype)
    assert tl.Feature.filter().count() == 0


ACCEPTED = [
    (int, 3, 3),
    (int, -(2**40), -(2**40)),
    (float, 0.5, 0.5),
    (float, 2, 2.0),
    (str, "S1", "S1"),
    (str, "", ""),
    (bool, True, True),
    (bool, False, False),
    (dt.date, dt.date(2024, 2, 29), dt.date(2024, 2, 29)),
    (dt.datetime, dt.datetime(2024, 2, 29, 13, 5, 7, 12), dt.datetime(2024, 2, 29, 13, 5, 7, 12)),
    (dict, {"a": [1, 2], "b": {"c": None}}, {"a": [1, 2], "b": {"c": None}}),
    (list[int], [3, 1, 2], [3, 1, 2]),
    (list[str], ["a", "b"], ["a", "b"]),
    (list[str], [], []),
    (list[float], (1, 2.5), [1.0, 2.5]),
    (list[dt.date], [dt.date(2024, 1, 1)], [dt.date(2024, 1, 1)]),
    ("cat[Label]", "T cell", "T cell"),
    ("list[cat[Label]]", ["T", "B"], ["T", "B"]),
]


@pytest.mark.parametrize("dtype, value, back", ACCEPTED)
def test_accepted_values_round_trip(db_instance, isolated, dtype, value, back):
    artifact = saved(isolated)
    feature("f", dtype)
    artifact.features.add_values({"f": value})
    got = tl.Artifact.get(uid=artifact.uid).features.get_values()
    assert got == {"f": back}
    assert type(got["f"]) is type(back)


REJECTED = [
    (int, "3"),
    (int, True),
    (int, 3.5),
    (int, None),
    (float, "0.5"),
    (float, False),
    (str, 3),
    (str, None),
    (bool, 1),
    (bool, "true"),
    (dt.date, "2024-01-01"),
    (dt.date, dt.datetime(2024, 1, 1, 5)),
    (dt.datetime, dt.date(2024, 1, 1)),
    (dt.datetime, "2024-01-01T00:00:00"),
    (dict, [1]),
    (list[int], 3),
    (list[int], [1, "x"]),
    (list[str], "abc"),
    ("cat[Label]", 3),
    ("list[cat[Label]]", "T"),
]


@pytest.mark.parametrize("dtype, value", REJECTED)
def test_rejected_values_name_feature_dtype_and_value(local_instance, isolated, dtype, value):
    artifact = saved(isolated)
    stored = feature("quality", dtype)
    with pytest.raises(InvalidFeatureValue) as caught:
        artifact.features.add_values({"quality": value})
    message = str(caught.value)
    assert "'quality'" in message and stored.dtype in message and repr(value) in message
    assert "\n" not in message
    assert (caught.value.feature, caught.value.dtype) == ("quality", stored.dtype)
    assert isinstance(caught.value, ValueError)
    assert artifact.features.get_values() == {}


def test_long_values_are_shortened_in_messages(local_instance, isolated):
    artifact = saved(isolated)
    feature("n", int)
    with pytest.raises(InvalidFeatureValue) as caught:
        artifact.features.add_values({"n": "x" * 500})
    assert len(str(caught.value)) < 150 and str(caught.value).endswith("...")


@pytest.mark.parametrize(
    "dtype, value, back",
    [
        (int, "3", 3),
        (int, "3.0", 3),
        (int, 4.0, 4),
        (float, "0.25", 0.25),
        (str, 12, "12"),
        (bool, "yes", True),
        (bool, "0", False),
        (dt.date, "2024-01-02", dt.date(2024, 1, 2)),
        (dt.datetime, "2024-01-02T03:04:05", dt.datetime(2024, 1, 2, 3, 4, 5)),
        (dt.datetime, "2024-01-02", dt.datetime(2024, 1, 2)),
        (list[int], ["1", 2], [1, 2]),
    ],
)
def test_coerce_converts_compatible_values(local_instance, isolated, dtype, value, back):
    artifact = saved(isolated)
    feature("f", dtype, coerce=True)
    artifact.features.add_values({"f": value})
    assert artifact.features.get_values() == {"f": back}


@pytest.mark.parametrize(
    "dtype, value",
    [
        (int, "3.5"),
        (int, "abc"),
        (int, "inf"),
        (int, "nan"),
        (float, "x"),
        (bool, "maybe"),
        (dt.date, "2024-13-01"),
        (dt.date, "yesterday"),
        (list[int], ["1", "b"]),
    ],
)
def test_coerce_still_rejects_what_cannot_convert(local_instance, isolated, dtype, value):
    artifact = saved(isolated)
    feature("f", dtype, coerce=True)
    with pytest.raises(InvalidFeatureValue, match="'f' expects"):
        artifact.features.add_values({"f": value})
    assert artifact.features.get_values() == {}


def test_numpy_scalars_are_numbers(local_instance, isolated):
    np = pytest.importorskip("numpy")
    artifact = saved(isolated)
    feature("epochs", int)
    feature("loss", float)
    feature("best", bool)
    artifact.features.add_values(
        {"epochs": np.int64(7), "loss": np.float32(0.5), "best": np.bool_(True)}
    )
    assert artifact.features.get_values() == {"epochs": 7, "loss": 0.5, "best": True}
    assert tl.Artifact.filter(epochs=7, best=True).count() == 1


# -- creating features ----------------------------------------------------------------------


def test_creating_a_feature_twice(db_instance):
    first = feature("sample", str)
    again = feature("sample", "str")
    assert again.id == first.id
    assert tl.Feature.filter(name="sample").count() == 1
    with pytest.raises(InvalidInput, match="feature 'sample' exists with dtype str, not int"):
        feature("sample", int)
    assert tl.Feature.get(name="sample").dtype == "str"
    with pytest.raises(InvalidInput, match="needs a name and a dtype"):
        tl.Feature(name="nodtype").save()


def test_concurrent_creation_yields_one_feature(db_instance):
    def create(_: int) -> int:
        return tl.Feature(name="shared", dtype=float).save().id

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(create, range(16)))
    assert len(ids) == 1
    assert tl.Feature.filter(name="shared").count() == 1


def test_unknown_feature_is_a_clear_error(local_instance, isolated):
    artifact = saved(isolated)
    feature("known", int)
    with pytest.raises(UnknownFeature) as caught:
        artifact.features.add_values({"known": 1, "colour": "red"})
    assert "unknown feature 'colour'" in str(caught.value)
    assert "tl.Feature(name='colour'" in str(caught.value)
    assert isinstance(caught.value, LookupError)
    assert artifact.features.get_values() == {}  # "known" was not written either


def test_create_features_infers_dtypes(db_instance, isolated):
    artifact = saved(isolated)
    values = {
        "n": 3,
        "x": 0.5,
        "s": "a",
        "b": True,
        "d": dt.date(2024, 1, 1),
        "t": dt.datetime(2024, 1, 1, 12),
        "l": [1, 2.5],
        "tags": ["a", "b"],
        "m": {"k": 1},
        "none": [],
        "cell": tl.Label(name="T"),
    }
    artifact.features.add_values(values, create_features=True)
    dtypes = {f.name: f.dtype for f in tl.Feature.filter()}
    assert dtypes == {
        "n": "int",
        "x": "float",
        "s": "str",
        "b": "bool",
        "d": "date",
        "t": "datetime",
        "l": "list[float]",
        "tags": "list[str]",
        "m": "dict",
        "none": "list[str]",
        "cell": "cat[Label]",
    }
    got = artifact.features.get_values()
    assert got["l"] == [1.0, 2.5] and got["none"] == [] and got["cell"] == "T"
    assert [lb.name for lb in artifact.labels.all()] == ["T"]


def test_inference_failure_writes_nothing(local_instance, isolated):
    artifact = saved(isolated)
    with pytest.raises(InvalidInput, match="cannot infer a feature dtype"):
        artifact.features.add_values({"fine": 1, "mixed": [1, "a"]}, create_features=True)
    with pytest.raises(InvalidInput, match="cannot infer a feature dtype for None"):
        artifact.features.add_values({"fine": 1, "empty": None}, create_features=True)
    assert tl.Feature.filter().count() == 0
    assert artifact.features.get_values() == {}


def test_one_bad_value_writes_nothing(db_instance, isolated):
    artifact = saved(isolated)
    feature("n", int)
    feature("sample", str)
    feature("cell", "cat[Label]")
    artifact.features.add_values({"n": 1, "sample": "S1", "cell": "T"})
    with pytest.raises(InvalidFeatureValue, match="'sample' expects str, got 5"):
        artifact.features.add_values(
            {"n": 2, "cell": "B", "brand_new": 1.5, "sample": 5}, create_features=True
        )
    assert artifact.features.get_values() == {"n": 1, "sample": "S1", "cell": "T"}
    assert tl.Feature.get_or_none(name="brand_new") is None
    assert tl.Label.get_or_none(name="B") is None
    assert [lb.name for lb in artifact.labels.all()] == ["T"]


def test_annotating_an_unsaved_artifact_is_refused(local_instance, isolated):
    feature("n", int)
    path = isolated / "u.txt"
    path.write_text("u")
    with pytest.raises(InvalidInput, match="save the record"):
        tl.Artifact(path, key="u.txt").features.add_values({"n": 1})


# -- values ---------------------------------------------------------------------------------


def test_new_value_replaces_the_old_one(db_instance, isolated):
    artifact = saved(isolated)
    feature("n", int)
    feature("tags", list[str])
    artifact.features.add_values({"n": 1, "tags": ["a", "b"]})
    artifact.features.add_values({"n": 2, "tags": ["c"]})
    assert artifact.features.get_values() == {"n": 2, "tags": ["c"]}
    assert tl.Artifact.filter(n=1).count() == 0 and tl.Artifact.filter(n=2).count() == 1
    assert tl.Artifact.filter(tags="a").count() == 0
    artifact.features.remove_values("tags")
    assert artifact.features.get_values() == {"n": 2}


def test_values_belong_to_their_record(db_instance, isolated):
    one, two = saved(isolated, "one.txt", "1"), saved(isolated, "two.txt", "2")
    one.features.add_values({"sample": "S1"}, create_features=True)
    two.features.add_values({"sample": "S2"})
    assert one.features.get_values() == {"sample": "S1"}
    assert two.features.get_values() == {"sample": "S2"}
    assert "S1" in repr(one.features)


def test_run_features_round_trip(db_instance):
    run = adapters.start_run("train", "training")
    other = adapters.start_run("train", "training")
    run.features.add_values(
        {"lr": 0.01, "epochs": 3, "optimizer": "adam", "when": dt.date(2024, 5, 1)},
        create_features=True,
    )
    assert tl.Run.get(uid=run.uid).features.get_values() == {
        "lr": 0.01,
        "epochs": 3,
        "optimizer": "adam",
        "when": dt.date(2024, 5, 1),
    }
    assert other.features.get_values() == {}
    assert [r.uid for r in tl.Run.filter(optimizer="adam")] == [run.uid]


# -- labels ---------------------------------------------------------------------------------


def test_cat_values_create_and_link_labels(db_instance, isolated):
    artifact = saved(isolated)
    feature("cell", "cat[Label]")
    feature("organs", "list[cat[Label]]")
    artifact.features.add_values({"cell": "T", "organs": ["lung", "liver"]})
    assert sorted(lb.name for lb in tl.Label.filter()) == ["T", "liver", "lung"]
    assert [lb.name for lb in artifact.labels.all()] == ["T", "liver", "lung"]
    # a new value replaces the old label link; labels themselves stay
    artifact.features.add_values({"cell": "B", "organs": ["lung"]})
    assert [lb.name for lb in artifact.labels.all()] == ["B", "lung"]
    assert tl.Label.filter(name="T").count() == 1
    artifact.features.remove_values("cell")
    assert [lb.name for lb in artifact.labels.all()] == ["lung"]


def test_existing_labels_are_reused(db_instance, isolated):
    first = tl.Label(name="qc-passed").save()
    again = tl.Label(name="qc-passed").save()
    assert again.id == first.id and tl.Label.filter().count() == 1
    artifact = saved(isolated)
    feature("status", "cat[Label]")
    artifact.features.add_values({"status": first})
    assert tl.Label.filter().count() == 1
    assert artifact.features.get_values() == {"status": "qc-passed"}
    with pytest.raises(InvalidInput, match="non-empty name"):
        tl.Label(name="").save()


def test_labels_add_remove_all(db_instance, isolated):
    artifact = saved(isolated)
    other = saved(isolated, "other.txt", "o")
    explicit = tl.Label(name="reviewed", description="checked by a person").save()
    artifact.labels.add("qc-passed", explicit, "qc-passed")
    other.labels.add("draft")
    assert [lb.name for lb in artifact.labels.all()] == ["qc-passed", "reviewed"]
    assert len(artifact.labels) == 2 and [lb.name for lb in artifact.labels] == [
        "qc-passed",
        "reviewed",
    ]
    assert tl.Label.get(name="reviewed").description == "checked by a person"
    artifact.labels.remove("qc-passed")
    assert [lb.name for lb in artifact.labels.all()] == ["reviewed"]
    artifact.labels.remove(explicit)
    assert artifact.labels.all() == []
    assert [lb.name for lb in other.labels.all()] == ["draft"]
    assert tl.Label.filter().count() == 3  # removing a link keeps the label


def test_run_labels(db_instance):
    run = adapters.start_run("train", "training")
    run.labels.add("baseline")
    assert [lb.name for lb in run.labels.all()] == ["baseline"]
    assert [r.uid for r in tl.Run.filter(labels__name="baseline")] == [run.uid]
    run.labels.remove("baseline")
    assert len(run.labels) == 0
