"""Django-style lookups: fields, patterns, relations, features, ordering, paging, visibility."""

import datetime as dt
import gc
import json
from pathlib import Path

import pytest
import threadline as tl
from threadline import adapters
from threadline.errors import InvalidInput, MultipleFound, NotFound, UnknownFeature

from tests.harness import write


def save(folder: Path, key: str | None, text: str | None = None, **fields) -> tl.Artifact:
    name = (key or "keyless").replace("/", "_")
    path = write(folder / "src" / name, text if text is not None else f"content of {key}")
    return tl.Artifact(path, key=key, **fields).save()


def keys(query) -> list:
    """The keys a query returns, sorted, ``None`` last."""
    return sorted((a.key for a in query), key=lambda k: (k is None, k or ""))


# -- fields ---------------------------------------------------------------------------------


def test_exact_ne_in_and_none(instance, isolated):
    save(isolated, "a.txt")
    save(isolated, "b.txt")
    keyless = save(isolated, None, "no key")
    assert keys(tl.Artifact.filter(key="a.txt")) == ["a.txt"]
    assert keys(tl.Artifact.filter(key__exact="b.txt")) == ["b.txt"]
    assert keys(tl.Artifact.filter(key__in=["a.txt", "b.txt", "zzz"])) == ["a.txt", "b.txt"]
    assert keys(tl.Artifact.filter(key__in=[])) == []
    # ``ne`` keeps records whose field is NULL: "not equal to a.txt" includes "no key"
    assert keys(tl.Artifact.filter(key__ne="a.txt")) == ["b.txt", None]
    assert [a.uid for a in tl.Artifact.filter(key=None)] == [keyless.uid]
    assert keys(tl.Artifact.filter(key__ne=None)) == ["a.txt", "b.txt"]


def test_in_accepts_any_iterable_but_not_a_string(local_instance, isolated):
    save(isolated, "a.txt")
    save(isolated, "b.txt")
    assert keys(tl.Artifact.filter(key__in={"a.txt"})) == ["a.txt"]
    assert keys(tl.Artifact.filter(key__in=(k for k in ["b.txt"]))) == ["b.txt"]
    with pytest.raises(InvalidInput, match="key__in needs a list"):
        tl.Artifact.filter(key__in="a.txt")


def test_numeric_comparisons(instance, isolated):
    for size in (1, 10, 100):
        save(isolated, f"s{size}.bin", "x" * size)
    assert keys(tl.Artifact.filter(size__gt=10)) == ["s100.bin"]
    assert keys(tl.Artifact.filter(size__gte=10)) == ["s10.bin", "s100.bin"]
    assert keys(tl.Artifact.filter(size__lt=10)) == ["s1.bin"]
    assert keys(tl.Artifact.filter(size__lte=10)) == ["s1.bin", "s10.bin"]
    assert keys(tl.Artifact.filter(size__gt=1, size__lt=100)) == ["s10.bin"]
    assert keys(tl.Artifact.filter(size__gt=1e6)) == []


def test_startswith_endswith_contains_are_case_sensitive(instance, isolated):
    for key in ("raw/a.txt", "Raw/b.TXT", "RAW/c.txt", "tables/raw/d.txt"):
        save(isolated, key)
    assert keys(tl.Artifact.filter(key__startswith="raw/")) == ["raw/a.txt"]
    assert keys(tl.Artifact.filter(key__startswith="Raw/")) == ["Raw/b.TXT"]
    assert keys(tl.Artifact.filter(key__endswith=".TXT")) == ["Raw/b.TXT"]
    assert keys(tl.Artifact.filter(key__endswith=".txt")) == [
        "RAW/c.txt",
        "raw/a.txt",
        "tables/raw/d.txt",
    ]
    assert keys(tl.Artifact.filter(key__contains="raw/")) == ["raw/a.txt", "tables/raw/d.txt"]
    assert keys(tl.Artifact.filter(key__icontains="RAW/")) == [
        "RAW/c.txt",
        "Raw/b.TXT",
        "raw/a.txt",
        "tables/raw/d.txt",
    ]


@pytest.mark.parametrize("char", ["%", "_", "*", "?", "[", "]", "\\", "!", "'"])
def test_wildcard_characters_in_values_are_literal(instance, isolated, char):
    # descriptions may hold any character (keys refuse backslashes)
    literal = save(isolated, "literal.txt", description=f"a{char}b tail")
    for i, other in enumerate(("aXb tail", "ab tail", "a\\b tail" if char != "\\" else "a/b")):
        save(isolated, f"other{i}.txt", description=other)
    expected = [literal.uid]
    for lookup, value in (
        ("startswith", f"a{char}"),
        ("endswith", f"{char}b tail"),
        ("contains", f"{char}b"),
        ("icontains", f"A{char}B"),
    ):
        found = [a.uid for a in tl.Artifact.filter(**{f"description__{lookup}": value})]
        assert found == expected, (lookup, value)


def test_wildcards_in_key_prefix_are_literal(instance, isolated):
    save(isolated, "runs/a_1/x.txt")
    save(isolated, "runs/ab1/x.txt")
    save(isolated, "runs/a%1/x.txt")
    save(isolated, "runs/a[1]/x.txt")
    assert keys(tl.Artifact.filter(key__startswith="runs/a_")) == ["runs/a_1/x.txt"]
    assert keys(tl.Artifact.filter(key__startswith="runs/a%")) == ["runs/a%1/x.txt"]
    assert keys(tl.Artifact.filter(key__startswith="runs/a[1")) == ["runs/a[1]/x.txt"]


def test_isnull(instance, isolated):
    run = adapters.start_run("producer", "task")
    with adapters.activate(run):
        made = save(isolated, "made.txt")
    save(isolated, None, "loose")
    assert [a.uid for a in tl.Artifact.filter(run__isnull=False)] == [made.uid]
    assert keys(tl.Artifact.filter(run__isnull=True)) == [None]
    assert keys(tl.Artifact.filter(key__isnull=False)) == ["made.txt"]
    assert keys(tl.Artifact.filter(description__isnull=True)) == ["made.txt", None]


# -- relations ------------------------------------------------------------------------------


@pytest.fixture
def pipeline(db_instance, isolated):
    """raw.txt -> qc run (completed) -> qc.txt -> align run (errored, child of the flow)."""
    flow = adapters.start_run("pipeline", "flow")
    raw = save(isolated, "raw/a.txt", "raw")
    qc = adapters.start_run("qc", "task", parent=flow)
    adapters.link_inputs(qc, artifacts=[raw])
    with adapters.activate(qc):
        qc_out = save(isolated, "qc/a.txt", "qc")
    adapters.finish_run(qc, "completed")
    align = adapters.start_run("align", "task", parent=flow)
    adapters.link_inputs(align, artifacts=[qc_out])
    with adapters.activate(align):
        aligned = save(isolated, "align/a.bam", "aligned")
    adapters.finish_run(align, "errored", error="boom")
    qc_out.labels.add("qc-passed")
    aligned.labels.add("draft")
    return {
        "flow": flow,
        "qc": qc,
        "align": align,
        "raw": raw,
        "qc_out": qc_out,
        "aligned": aligned,
    }


def test_foreign_key_chains(pipeline):
    assert keys(tl.Artifact.filter(run__transform__key="qc")) == ["qc/a.txt"]
    assert keys(tl.Artifact.filter(run__status="errored")) == ["align/a.bam"]
    assert keys(tl.Artifact.filter(run__transform__key__startswith="al")) == ["align/a.bam"]
    assert keys(tl.Artifact.filter(run=pipeline["qc"])) == ["qc/a.txt"]
    assert keys(tl.Artifact.filter(run__parent__transform__key="pipeline")) == [
        "align/a.bam",
        "qc/a.txt",
    ]
    # an output's transform is its run's transform
    assert keys(tl.Artifact.filter(transform__key="align")) == ["align/a.bam"]
    assert keys(tl.Artifact.filter(transform__kind="task", run__status="completed")) == ["qc/a.txt"]


def test_backrefs(pipeline):
    assert [t.key for t in tl.Transform.filter(runs__status="errored")] == ["align"]
    assert [r.uid for r in tl.Run.filter(outputs__key="qc/a.txt")] == [pipeline["qc"].uid]
    assert [r.uid for r in tl.Run.filter(children__status="errored")] == [pipeline["flow"].uid]
    # Run -> its transform -> every run of that transform
    assert [r.uid for r in tl.Run.filter(transform__runs__status="completed")] == [
        pipeline["qc"].uid
    ]
    assert keys(tl.Artifact.filter(transform__runs__status="errored")) == ["align/a.bam"]


def test_link_tables(pipeline):
    assert [r.uid for r in tl.Run.filter(inputs__key="raw/a.txt")] == [pipeline["qc"].uid]
    assert [r.uid for r in tl.Run.filter(inputs__key__startswith="qc/")] == [pipeline["align"].uid]
    assert keys(tl.Artifact.filter(labels__name="qc-passed")) == ["qc/a.txt"]
    assert keys(tl.Artifact.filter(labels="draft")) == ["align/a.bam"]
    assert keys(tl.Artifact.filter(labels__in=["draft", "qc-passed"])) == [
        "align/a.bam",
        "qc/a.txt",
    ]
    label = tl.Label.get(name="draft")
    assert keys(tl.Artifact.filter(labels=label)) == ["align/a.bam"]
    assert keys(tl.Artifact.filter(labels__name__startswith="qc")) == ["qc/a.txt"]
    assert keys(tl.Artifact.filter(input_of__transform__key="align")) == ["qc/a.txt"]


def test_other_models(pipeline):
    assert [t.key for t in tl.Transform.filter(kind="task").order_by("key")] == ["align", "qc"]
    assert [t.key for t in tl.Transform.filter(key__in=["qc", "nope"])] == ["qc"]
    tl.Feature(name="score", dtype=float).save()
    tl.Feature(name="sample", dtype=str).save()
    assert [f.name for f in tl.Feature.filter(dtype="float")] == ["score"]
    assert [lb.name for lb in tl.Label.filter(name__endswith="passed")] == ["qc-passed"]
    assert [r.status for r in tl.Run.filter(status__in=["errored"])] == ["errored"]


# -- features -------------------------------------------------------------------------------


@pytest.fixture
def annotated(instance, isolated):
    features = {
        "score": float,
        "n": int,
        "sample": str,
        "passed": bool,
        "day": dt.date,
        "when": dt.datetime,
        "tags": list[str],
        "cell": "cat[Label]",
    }
    for name, dtype in features.items():
        tl.Feature(name=name, dtype=dtype).save()
    values = {
        "one.txt": {
            "score": 0.2,
            "n": 1,
            "sample": "S1",
            "passed": False,
            "day": dt.date(2024, 1, 1),
            "when": dt.datetime(2024, 1, 1, 9, 30),
            "tags": ["a", "b"],
            "cell": "T",
        },
        "two.txt": {
            "score": 0.7,
            "n": 2,
            "sample": "S2",
            "passed": True,
            "day": dt.date(2024, 2, 1),
            "when": dt.datetime(2024, 2, 1, 12, 0),
            "tags": ["b", "c"],
            "cell": "B",
        },
        "three.txt": {
            "score": 0.9,
            "n": 3,
            "sample": "s1",
            "passed": True,
            "day": dt.date(2024, 3, 1),
            "when": dt.datetime(2024, 3, 1, 8, 0),
            "tags": ["c"],
            "cell": "T",
        },
    }
    for key, vals in values.items():
        save(isolated, key).features.add_values(vals)
    save(isolated, "bare.txt")  # no features at all
    return values


def test_feature_filters_by_bare_name_and_features_prefix(annotated):
    assert keys(tl.Artifact.filter(sample="S1")) == ["one.txt"]  # case-sensitive
    assert keys(tl.Artifact.filter(features__sample="S1")) == ["one.txt"]
    assert keys(tl.Artifact.filter(sample__in=["S1", "S2"])) == ["one.txt", "two.txt"]
    assert keys(tl.Artifact.filter(sample__startswith="S")) == ["one.txt", "two.txt"]
    assert keys(tl.Artifact.filter(sample__icontains="s1")) == ["one.txt", "three.txt"]
    assert keys(tl.Artifact.filter(features__sample__ne="S1")) == ["three.txt", "two.txt"]


def test_feature_numeric_comparisons(annotated):
    assert keys(tl.Artifact.filter(score__gt=0.5)) == ["three.txt", "two.txt"]
    assert keys(tl.Artifact.filter(score__lte=0.7)) == ["one.txt", "two.txt"]
    assert keys(tl.Artifact.filter(n=2)) == ["two.txt"]
    assert keys(tl.Artifact.filter(n=2.0)) == ["two.txt"]
    assert keys(tl.Artifact.filter(n__in=[1, 3])) == ["one.txt", "three.txt"]
    assert keys(tl.Artifact.filter(features__n__gte=2, score__lt=0.8)) == ["two.txt"]
    with pytest.raises(InvalidInput, match="feature 'score' is float"):
        tl.Artifact.filter(score="high")


def test_feature_bools_and_dates(annotated):
    assert keys(tl.Artifact.filter(passed=True)) == ["three.txt", "two.txt"]
    assert keys(tl.Artifact.filter(passed=False)) == ["one.txt"]
    assert keys(tl.Artifact.filter(day=dt.date(2024, 2, 1))) == ["two.txt"]
    assert keys(tl.Artifact.filter(day__gte=dt.date(2024, 2, 1))) == ["three.txt", "two.txt"]
    assert keys(tl.Artifact.filter(day__in=[dt.date(2024, 1, 1), dt.date(2024, 3, 1)])) == [
        "one.txt",
        "three.txt",
    ]
    assert keys(tl.Artifact.filter(when__lt=dt.datetime(2024, 2, 1, 12, 0))) == ["one.txt"]
    assert keys(tl.Artifact.filter(when__gt=dt.date(2024, 2, 1))) == ["three.txt", "two.txt"]


def test_feature_lists_match_by_element_and_labels_by_name(annotated):
    assert keys(tl.Artifact.filter(tags="b")) == ["one.txt", "two.txt"]
    assert keys(tl.Artifact.filter(tags__in=["a", "c"])) == ["one.txt", "three.txt", "two.txt"]
    assert keys(tl.Artifact.filter(tags__ne="c")) == ["one.txt"]  # no element equals "c"
    assert keys(tl.Artifact.filter(cell="T")) == ["one.txt", "three.txt"]
    assert keys(tl.Artifact.filter(cell=tl.Label.get(name="B"))) == ["two.txt"]
    assert keys(tl.Artifact.filter(labels="T")) == ["one.txt", "three.txt"]


def test_feature_isnull(annotated):
    assert keys(tl.Artifact.filter(score__isnull=True)) == ["bare.txt"]
    assert keys(tl.Artifact.filter(score__isnull=False)) == ["one.txt", "three.txt", "two.txt"]


def test_run_features(db_instance):
    tl.Feature(name="lr", dtype=float).save()
    slow = adapters.start_run("train", "training")
    fast = adapters.start_run("train", "training")
    slow.features.add_values({"lr": 0.001})
    fast.features.add_values({"lr": 0.1})
    assert [r.uid for r in tl.Run.filter(lr__gt=0.01)] == [fast.uid]
    assert [r.uid for r in tl.Run.filter(features__lr=0.001)] == [slow.uid]


def uids(query) -> list[str]:
    return sorted(r.uid for r in query)


def test_several_set_conditions_are_one_intersection(db_instance):
    """Two feature filters and a relation (each an ``id IN (subquery)``) are read as one
    set of ids (an INTERSECT), and give what filtering each run by hand gives."""
    runs = [adapters.start_run("step", "process") for _ in range(12)]
    adapters.annotate_records(
        [(r, {"process": f"P{i % 3}", "exit": i % 2}) for i, r in enumerate(runs)],
        create_features=True,
    )
    for run in runs[1:6]:
        run.labels.add("reviewed")
    values = {r.uid: (f"P{i % 3}", i % 2) for i, r in enumerate(runs)}
    query = tl.Run.filter(process="P1", exit=1)
    assert "INTERSECT" in query.select().sql()[0]
    assert uids(query) == sorted(u for u, v in values.items() if v == ("P1", 1))
    assert query.count() == 2
    assert uids(query.filter(process__ne="P0", exit__isnull=False)) == uids(query)
    reviewed = tl.Run.filter(process="P1", exit=1, labels="reviewed")  # a link table too
    expected = {r.uid for r in runs[1:6]} & {u for u, v in values.items() if v == ("P1", 1)}
    assert uids(reviewed) == sorted(expected) and len(expected) == 1
    assert uids(tl.Run.filter(process="P2", exit=7)) == []


def test_dict_feature_items(db_instance):
    """Keys inside a dict feature, by the operand's type: numbers, text, booleans, nested."""
    a, b, c, d = (adapters.start_run("align", "process") for _ in range(4))
    adapters.annotate_records(
        [
            (
                a,
                {
                    "trace": {
                        "peak_rss": 2048,
                        "cpu": 95.5,
                        "host": "n1",
                        "ok": True,
                        "opt": {"lr": 0.1},
                    }
                },
            ),
            (
                b,
                {
                    "trace": {
                        "peak_rss": 512,
                        "cpu": 12.0,
                        "host": "n2",
                        "ok": False,
                        "opt": {"lr": 0.001},
                    }
                },
            ),
            (c, {"trace": {"peak_rss": "unknown", "host": "n10", "ok": None}}),
        ],
        create_features=True,
    )
    assert uids(tl.Run.filter(trace__peak_rss__gt=1000)) == [a.uid]
    assert uids(tl.Run.filter(trace__peak_rss__lte=2048)) == uids([a, b])
    assert uids(tl.Run.filter(trace__peak_rss=512)) == [b.uid]
    assert uids(tl.Run.filter(trace__peak_rss="unknown")) == [c.uid]  # text only as text
    assert uids(tl.Run.filter(trace__cpu__in=[12, 95.5])) == uids([a, b])
    assert uids(tl.Run.filter(trace__host__startswith="n1")) == uids([a, c])
    assert uids(tl.Run.filter(features__trace__host="n2")) == [b.uid]
    assert uids(tl.Run.filter(trace__ok=True)) == [a.uid]
    assert uids(tl.Run.filter(trace__ok=False)) == [b.uid]
    assert uids(tl.Run.filter(trace__opt__lr__lt=0.01)) == [b.uid]
    # ne: has the feature and the item differs or is absent; isnull: no value at the key
    assert uids(tl.Run.filter(trace__host__ne="n1")) == uids([b, c])
    assert uids(tl.Run.filter(trace__cpu__isnull=False)) == uids([a, b])
    assert uids(tl.Run.filter(trace__cpu__isnull=True)) == uids([c, d])
    assert uids(tl.Run.filter(trace__ok=None)) == uids([c, d])  # JSON null counts as none
    assert tl.Run.filter(trace__cpu__in=[]).count() == 0
    e = adapters.start_run("align", "process")
    e.features.add_values({"trace": {"list": [5, 6], "big": 2**40}})
    assert tl.Run.filter(trace__list__0=5).count() == 0  # keys, not array positions
    assert uids(tl.Run.filter(trace__big=2**40)) == [e.uid]
    e.features.add_values({"trace": {"big": 2**53, "list": [5, 6]}})
    assert tl.Run.filter(trace__big=2**53 + 1).count() == 0  # exact, not as doubles
    assert uids(tl.Run.filter(trace__big__in=[2**53, 1.5])) == [e.uid]
    with pytest.raises(tl.errors.InvalidFeatureValue, match="'trace' expects dict"):
        e.features.add_values({"trace": {"cpu": float("nan")}})  # JSON holds no NaN
    with pytest.raises(tl.errors.InvalidFeatureValue, match="'trace' expects dict"):
        e.features.add_values({"trace": {"deep": [1.0, {"x": float("inf")}]}})
    assert uids(tl.Run.filter(trace__big__gt=0)) == [e.uid]  # the lookups still work
    with pytest.raises(InvalidInput, match="one kind at a time"):
        tl.Run.filter(trace__cpu__in=[1, "x"])
    with pytest.raises(InvalidInput, match="startswith needs text"):
        tl.Run.filter(trace__cpu__startswith=1)
    with pytest.raises(InvalidInput, match="quotes"):
        tl.Run.filter(**{'trace__a"b': 1})


def test_unknown_field_or_feature_is_one_line_naming_it(local_instance, isolated):
    with pytest.raises(UnknownFeature) as caught:
        tl.Artifact.filter(colour="red")
    message = str(caught.value)
    assert "'colour'" in message and "\n" not in message and "Artifact" in message
    with pytest.raises(UnknownFeature, match="'shade'"):
        tl.Artifact.filter(features__shade__gt=1)
    with pytest.raises(InvalidInput, match="Transform has no field 'colour'"):
        tl.Transform.filter(colour="red")
    with pytest.raises(InvalidInput, match=r"unknown lookup 'bogus' on Artifact\.key"):
        tl.Artifact.filter(key__bogus="x")
    with pytest.raises(InvalidInput, match="unknown lookup 'startswith__x'"):
        tl.Artifact.filter(key__startswith__x="x")
    with pytest.raises(InvalidInput, match="cannot order Artifact by 'colour'"):
        tl.Artifact.filter().order_by("colour")
    tl.Feature(name="score", dtype=float).save()
    with pytest.raises(InvalidInput, match="unknown lookup 'around' on feature 'score'"):
        tl.Artifact.filter(score__around=1)


# -- ordering, paging, results --------------------------------------------------------------


def test_order_by_and_first(instance, isolated):
    made = [save(isolated, f"o/{name}.txt") for name in ("b", "a", "c")]
    newest_first = [a.uid for a in tl.Artifact.filter().order_by("-created_at")]
    assert newest_first == [a.uid for a in reversed(made)]
    assert keys(tl.Artifact.filter().order_by("key")) == ["o/a.txt", "o/b.txt", "o/c.txt"]
    assert [a.key for a in tl.Artifact.filter().order_by("-key")] == [
        "o/c.txt",
        "o/b.txt",
        "o/a.txt",
    ]
    assert tl.Artifact.filter().order_by("-created_at").first().uid == made[-1].uid
    assert tl.Artifact.filter(key__startswith="o/").order_by("key").first().key == "o/a.txt"
    assert tl.Artifact.filter(key="none").first() is None


def test_ties_in_order_are_broken_by_id(local_instance, isolated):
    made = [save(isolated, f"t{i}.txt", "x" * 3 + str(i)) for i in range(5)]
    assert [a.uid for a in tl.Artifact.filter().order_by("size")] == [a.uid for a in made]
    assert [a.uid for a in tl.Artifact.filter().order_by("-size")] == [
        a.uid for a in reversed(made)
    ]


def test_get_errors_name_the_lookups(instance, isolated):
    save(isolated, "g/a.txt")
    save(isolated, "g/b.txt")
    assert tl.Artifact.get(key="g/a.txt").key == "g/a.txt"
    with pytest.raises(NotFound) as none:
        tl.Artifact.get(key="g/zzz.txt")
    assert str(none.value) == "no Artifact matches key='g/zzz.txt'"
    with pytest.raises(MultipleFound) as several:
        tl.Artifact.get(key__startswith="g/")
    assert str(several.value) == (
        "several Artifact records match key__startswith='g/'; add lookups or use filter()"
    )
    with pytest.raises(MultipleFound, match="key__startswith='g/', size__gt=0"):
        tl.Artifact.filter(key__startswith="g/").get(size__gt=0)
    assert isinstance(none.value, LookupError) and isinstance(several.value, LookupError)
    assert tl.Artifact.get_or_none(key="g/zzz.txt") is None


def test_len_iteration_limit_and_slices(instance, isolated):
    made = [save(isolated, f"p/{i:02d}.txt") for i in range(7)]
    query = tl.Artifact.filter(key__startswith="p/").order_by("key")
    assert len(query) == 7 and query.count() == 7 and query.exists()
    assert [a.uid for a in query] == [a.uid for a in made]
    assert [a.uid for a in query.limit(3)] == [a.uid for a in made[:3]]
    assert query.limit(3).count() == 3
    assert query[0].uid == made[0].uid and query[6].uid == made[6].uid
    assert [a.uid for a in query[2:4]] == [a.uid for a in made[2:4]]
    assert [a.uid for a in query[5:]] == [a.uid for a in made[5:]]
    with pytest.raises(IndexError):
        query[7]
    assert not tl.Artifact.filter(key="nope").exists()


def test_queries_are_lazy(local_instance, isolated):
    query = tl.Artifact.filter(key__startswith="lazy/")
    assert query.count() == 0
    save(isolated, "lazy/a.txt")
    assert keys(query) == ["lazy/a.txt"]  # evaluated when iterated, not when built


def test_to_dataframe_has_every_row(instance, isolated):
    pd = pytest.importorskip("pandas")
    paths = [write(isolated / "df" / f"{i}.txt", f"row {i}") for i in range(45)]
    tl.save([tl.Artifact(p, key=f"df/{i:02d}.txt") for i, p in enumerate(paths)])
    frame = tl.Artifact.filter(key__startswith="df/").order_by("key").to_dataframe()
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 45
    assert list(frame["key"]) == [f"df/{i:02d}.txt" for i in range(45)]
    assert {"uid", "key", "hash", "size", "version", "run", "created_at"} <= set(frame.columns)
    assert list(frame["size"]) == [len(f"row {i}") for i in range(45)]
    assert len(tl.Artifact.filter(key__startswith="df/").limit(30).to_dataframe()) == 30


def test_run_dataframe(db_instance):
    pytest.importorskip("pandas")
    for i in range(25):
        adapters.start_run("many", "task", reference=f"job-{i}")
    frame = tl.Run.filter(transform__key="many").to_dataframe()
    assert len(frame) == 25
    assert sorted(frame["reference"]) == sorted(f"job-{i}" for i in range(25))


def test_dataframe_with_features(db_instance):
    """Feature columns for the matching records only, dict features one column per key,
    dates as dates, no value as None/NaN, a name shared with a field prefixed."""
    align = adapters.get_transform("align", "process")
    runs = adapters.start_runs([{"transform": align, "name": f"r{i}"} for i in range(4)])
    other = adapters.start_run("other", "process")
    adapters.annotate_records(
        [
            (
                run,
                {
                    "process": "align",
                    "exit": i,
                    "day": dt.date(2024, 5, i + 1),
                    "trace": {"rss": 10 * i, "host": f"n{i}"},
                    "name": "dup",
                },
            )
            for i, run in enumerate(runs[:3])
        ]
        + [(other, {"exit": 9, "colour": "red"})],
        create_features=True,
    )
    df = tl.Run.filter(transform__key="align").order_by("id").to_dataframe(features=True)
    assert list(df["name"]) == ["r0", "r1", "r2", "r3"]  # the field, not the feature
    assert list(df["features.name"])[:3] == ["dup"] * 3
    assert list(df["exit"])[:3] == [0, 1, 2] and df["exit"].isna().tolist()[3]
    assert list(df["day"])[:3] == [dt.date(2024, 5, d) for d in (1, 2, 3)]
    assert list(df["trace.rss"])[:3] == [0, 10, 20] and list(df["trace.host"])[2] == "n2"
    assert "colour" not in df.columns  # only features of the matching records
    some = (
        tl.Run.filter(transform__key="align")
        .order_by("-id")
        .limit(2)
        .df(features=["exit", "trace"])
    )
    assert list(some.columns[-3:]) == ["exit", "trace.host", "trace.rss"]
    assert list(some["name"]) == ["r3", "r2"] and list(some["exit"])[1] == 2
    with pytest.raises(UnknownFeature, match="'nope'"):
        tl.Run.filter().df(features=["nope"])
    with pytest.raises(InvalidInput, match="Transform records have no features"):
        tl.Transform.filter().df(features=True)


def _frame_cell(value):
    """A frame cell as the Python value it stands for (missing: None)."""
    pd = pytest.importorskip("pandas")
    if not isinstance(value, dict | list) and pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") and not isinstance(value, pd.Timestamp) else value


def _record_cell(value, column):
    pd = pytest.importorskip("pandas")
    if value is not None and column.dtype.kind == "M":  # stored dates: compare as instants
        return pd.Timestamp(value)
    return value


def test_dataframe_equals_the_records_read_one_by_one(db_instance):
    """The frame, built a column at a time, holds what the records hold, row by row, with
    NULLs, dates with and without a time zone, JSON, booleans and floats."""
    pd = pytest.importorskip("pandas")
    flow = adapters.get_transform("frame", "flow")
    aware = dt.datetime(2024, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)
    adapters.start_runs(
        [
            {
                "transform": flow,
                "name": None if i % 3 == 0 else f"run {i} é",
                "params": None if i % 2 else {"i": i, "tags": ["a", "b"], "x": 0.5},
                "finished_at": None if i % 4 == 0 else aware + dt.timedelta(hours=i),
                "git_dirty": [True, False, None][i % 3],
                "process_start": None if i == 1 else 1.7e9 + i / 8,
                "pid": None if i % 5 == 0 else 4000 + i,
            }
            for i in range(12)
        ]
    )
    query = tl.Run.filter(transform__key="frame").order_by("id")
    frame = query.to_dataframe()
    records = list(query)
    assert list(frame.columns) == [f.name for f in tl.Run._meta.sorted_fields]
    assert len(frame) == len(records) == 12
    for column in frame.columns:
        expected = [_record_cell(r.__data__.get(column), frame[column]) for r in records]
        assert [_frame_cell(v) for v in frame[column]] == expected, column
    assert frame["git_dirty"].dtype == "boolean" and frame["pid"].dtype == "Int64"
    assert frame["params"][0] == {"i": 0, "tags": ["a", "b"], "x": 0.5}
    with tl.instance().db.atomic():  # the same inside a transaction
        again = query.to_dataframe()
    pd.testing.assert_frame_equal(frame, again, check_exact=True)


def test_dataframe_columns_without_nulls_are_what_pandas_makes_of_the_values(db_instance, isolated):
    """Integer and boolean columns with no NULL (one numpy conversion each) equal the
    arrays pandas builds from the records' values, with 64-bit extremes."""
    pd = pytest.importorskip("pandas")
    flow = adapters.get_transform("whole", "flow")
    runs = [{"transform": flow, "git_dirty": i % 2 == 0, "pid": 2**31 - 1 - i} for i in range(4)]
    adapters.start_runs(runs)
    sizes = [2**63 - 1, -(2**63), 0, 2**53 + 1]
    for i, size in enumerate(sizes):
        save(isolated, f"whole/{i}.txt")
        tl.Artifact.update(size=size).where(tl.Artifact.key == f"whole/{i}.txt").execute()
    checks = {
        tl.Run.filter(transform__key="whole"): {
            "id": "Int64",
            "pid": "Int64",
            "git_dirty": "boolean",
        },
        tl.Artifact.filter(key__startswith="whole/"): {"size": "Int64", "is_latest": "boolean"},
    }
    for query, columns in checks.items():
        frame = query.order_by("id").to_dataframe()
        records = list(query.order_by("id"))
        for name, dtype in columns.items():
            expected = pd.array([r.__data__[name] for r in records], dtype=dtype)
            pd.testing.assert_extension_array_equal(frame[name].array, expected)
    assert list(tl.Artifact.filter(key__startswith="whole/").order_by("id").df()["size"]) == sizes


def test_dataframe_leaves_the_garbage_collector_as_it_found_it(db_instance, isolated):
    """to_dataframe pauses Python's collector while it builds columns, then restores it,
    also when it fails inside (a model without features)."""
    pytest.importorskip("pandas")
    save(isolated, "gc/a.txt")
    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            assert list(tl.Artifact.filter(key__startswith="gc/").df()["key"]) == ["gc/a.txt"]
            with pytest.raises(InvalidInput, match="Transform records have no features"):
                tl.Transform.filter().df(features=True)
            assert gc.isenabled() is enabled
        finally:
            gc.enable()


def test_dataframe_sees_every_commit_and_its_own_transaction(instance, isolated):
    """A frame holds every committed row, and inside a transaction its own rows."""
    save(isolated, "fresh/a.txt")
    assert list(tl.Artifact.filter(key__startswith="fresh/").to_dataframe()["key"]) == [
        "fresh/a.txt"
    ]
    save(isolated, "fresh/b.txt")
    frame = tl.Artifact.filter(key__startswith="fresh/").order_by("key").to_dataframe()
    assert list(frame["key"]) == ["fresh/a.txt", "fresh/b.txt"]
    with tl.instance().db.atomic():
        tl.Artifact.update(description="changed").where(tl.Artifact.key == "fresh/b.txt").execute()
        inside = tl.Artifact.filter(key__startswith="fresh/").order_by("key").to_dataframe()
        assert list(inside["description"].fillna("-")) == ["-", "changed"]
    assert tl.Artifact.filter(key="fresh/b.txt").to_dataframe()["description"][0] == "changed"


FEATURE_TEXTS = {  # dtype -> stored JSON texts of records 1..n (record 0 has none)
    "int": ["1", "-7", "12345678901"],
    "float": ["0.5", "2", "1e-300", "NaN"],
    "str": ['"a"', '"\\u00e9 \\"q\\"\\n"', '""'],
    "bool": ["true", "false"],
    "dict": [
        '{"rss": 1, "host": "n1", "ok": true, "cpu": 2}',
        '{"rss": 2.5, "ok": false}',
        "{}",
        "null",
        '{"host": "n\\u00e9", "cpu": 3, "extra": null}',
    ],
}


@pytest.mark.parametrize("dtype", sorted(FEATURE_TEXTS))
def test_feature_columns_parsed_by_arrow_equal_json_ones(dtype):
    """Feature texts read by Arrow's JSON reader give the columns ``json.loads`` and
    pandas' inference give (dtypes and values), records without a value included."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from threadline.query._arrowjson import parsed_columns
    from threadline.query._frame import _expanded

    texts = FEATURE_TEXTS[dtype]
    owners, rows = list(range(1, len(texts) + 1)), pd.Index(range(len(texts) + 2))
    fast = parsed_columns("f", dtype, owners, texts, rows)
    values = [None, *(json.loads(t) for t in texts), None]  # json: the reference
    if dtype == "dict":
        expected = _expanded("f", [v if type(v) is dict else {} for v in values])
    else:
        expected = {"f": values}
    assert fast is not None and list(fast) == list(expected)
    for name, column in expected.items():
        pd.testing.assert_series_equal(
            pd.Series(fast[name]), pd.Series(column), check_exact=True, obj=name
        )


@pytest.mark.parametrize(
    ("dtype", "texts"),
    [
        ("dict", ['{"when": "2024-01-01 00:00:00"}']),  # Arrow would make it a timestamp
        ("dict", ['{"inner": {"a": 1}}']),
        ("dict", ['{"a": 1}', "[1, 2]"]),
        ("int", ["12345678901234567890"]),
        ("str", ['"a"', "1"]),
        ("date", ['"2024-01-01"']),
    ],
)
def test_feature_texts_arrow_would_read_otherwise_are_left_to_json(dtype, texts):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from threadline.query._arrowjson import parsed_columns

    owners = list(range(len(texts)))
    assert parsed_columns("f", dtype, owners, texts, pd.Index(owners)) is None


def test_trash_and_archive_are_hidden_unless_asked(instance, isolated):
    keep = save(isolated, "v/keep.txt")
    trashed = save(isolated, "v/trashed.txt")
    archived = save(isolated, "v/archived.txt")
    trashed.delete()
    archived.visibility = "archive"
    archived.save()
    assert keys(tl.Artifact.filter(key__startswith="v/")) == ["v/keep.txt"]
    assert len(tl.Artifact.filter()) == 1
    assert [a.uid for a in tl.Artifact.filter(visibility="trash")] == [trashed.uid]
    assert [a.uid for a in tl.Artifact.filter(visibility="archive")] == [archived.uid]
    every = tl.Artifact.filter(visibility__in=["main", "archive", "trash"])
    assert keys(every) == ["v/archived.txt", "v/keep.txt", "v/trashed.txt"]
    assert keys(tl.Artifact.filter(visibility__ne="main")) == ["v/archived.txt", "v/trashed.txt"]
    with pytest.raises(NotFound):
        tl.Artifact.get(key="v/trashed.txt")
    assert tl.Artifact.get(uid=trashed.uid, visibility="trash").key == "v/trashed.txt"
    assert keep.uid == tl.Artifact.get(key__endswith="keep.txt").uid
