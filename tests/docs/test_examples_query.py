"""Examples of docs/query.md and docs/features.md, run for real (docs/lineage.md's are in
test_examples_lineage.py)."""

import datetime

import pytest
import threadline as tl

from tests.harness import write


def make_samples() -> None:
    """raw/S1.fastq and raw/S2.fastq, aligned by the step ``align`` to aligned/S?.bam."""
    tl.Feature(name="sample", dtype=str).save()

    @tl.step("align")
    def align(reads: tl.Artifact, sample: str) -> tl.Artifact:
        write(f"{sample}.bam", "BAM" * (10 if sample == "S1" else 2))
        bam = tl.Artifact(f"{sample}.bam", key=f"aligned/{sample}.bam").save()
        bam.features.add_values({"sample": sample})
        return bam

    @tl.flow("map-reads")
    def map_reads(samples: list[str]) -> None:
        for sample in samples:
            reads = tl.Artifact.get(key=f"raw/{sample}.fastq")
            align(reads, sample)

    for sample in ("S1", "S2"):
        write(f"{sample}.fastq", f"@{sample}\nACGT\n+\nIIII\n")
        tl.Artifact(f"{sample}.fastq", key=f"raw/{sample}.fastq").save()
    map_reads(["S1", "S2"])


def test_lookups(local_instance, isolated):
    make_samples()
    # -- start query-lookups --
    bams = tl.Artifact.filter(key__startswith="aligned/", suffix=".bam")
    assert bams.count() == 2  # nothing ran until here: filter() is lazy

    big = bams.filter(size__gt=10).order_by("-created_at").all()
    assert [a.key for a in big] == ["aligned/S1.bam"]

    s1 = tl.Artifact.get(key="aligned/S1.bam")  # exactly one record (the latest version)
    newest = tl.Artifact.filter(key__endswith=".fastq").order_by("-created_at").first()
    assert newest.key == "raw/S2.fastq"
    assert tl.Artifact.filter(key__in=["raw/S1.fastq", "raw/S9.fastq"]).count() == 1
    # -- end query-lookups --
    assert s1.size == 30
    assert tl.Artifact.filter(description__isnull=True).count() == 4
    assert tl.Artifact.filter(key__contains="S2").count() == 2
    assert tl.Artifact.filter(key__icontains="s2").count() == 2
    assert tl.Artifact.filter(size__lte=6, suffix__ne=".fastq").count() == 1


def test_get_errors(local_instance, isolated):
    make_samples()
    # -- start query-get-errors --
    try:
        tl.Artifact.get(suffix=".bam")
    except tl.errors.MultipleFound as err:
        print(err)  # several Artifact records match suffix='.bam'; add lookups or use filter()

    assert tl.Artifact.get_or_none(key="aligned/S9.bam") is None
    # -- end query-get-errors --
    with pytest.raises(tl.errors.MultipleFound, match="several Artifact records"):
        tl.Artifact.get(suffix=".bam")
    with pytest.raises(tl.errors.NotFound, match="S9"):
        tl.Artifact.get(key="aligned/S9.bam")


def test_relations(local_instance, isolated):
    make_samples()
    # -- start query-relations --
    aligned = tl.Artifact.filter(run__transform__key="align")  # outputs of a transform
    readers = tl.Run.filter(inputs__key="raw/S1.fastq")  # runs that read an artifact
    flows = tl.Run.filter(children__transform__key="align")  # runs with such children
    made_by_flow = tl.Artifact.filter(run__parent__transform__key="map-reads")

    assert aligned.count() == 2 and made_by_flow.count() == 2
    assert [r.transform.key for r in readers] == ["align"]
    assert [r.transform.key for r in flows] == ["map-reads"]
    # -- end query-relations --
    assert tl.Artifact.filter(transform__key="align").count() == 2  # as documented
    tl.Artifact.get(key="aligned/S1.bam").labels.add("qc-passed")
    assert [a.key for a in tl.Artifact.filter(labels="qc-passed")] == ["aligned/S1.bam"]
    assert len(tl.Artifact.filter().order_by("key")[:3]) == 3
    assert tl.Artifact.filter().order_by("key")[0].key == "aligned/S1.bam"


def test_query_features(local_instance, isolated):
    make_samples()
    # -- start query-features --
    s1 = tl.Artifact.filter(sample="S1")  # a feature, by its bare name
    same = tl.Artifact.filter(features__sample="S1")  # always unambiguous
    assert [a.key for a in s1] == [a.key for a in same] == ["aligned/S1.bam"]
    assert tl.Artifact.filter(sample__isnull=True).count() == 2  # the two fastq files
    # -- end query-features --


def test_visibility(local_instance, isolated):
    make_samples()
    # -- start query-visibility --
    tl.Artifact.get(key="raw/S2.fastq").delete()
    assert tl.Artifact.filter(key__startswith="raw/").count() == 1  # trash is hidden
    trashed = tl.Artifact.filter(key__startswith="raw/", visibility="trash")
    assert [a.key for a in trashed] == ["raw/S2.fastq"]
    # -- end query-visibility --


def test_dataframe(local_instance, isolated):
    make_samples()
    # -- start query-dataframe --
    df = tl.Artifact.filter(key__startswith="aligned/").order_by("key").to_dataframe()
    assert list(df["key"]) == ["aligned/S1.bam", "aligned/S2.bam"]
    assert {"uid", "version", "hash", "size", "created_at"} <= set(df.columns)

    rows = tl.Run.filter(transform__key="align").to_dicts()  # plain dictionaries
    assert sorted(r["params"]["sample"] for r in rows) == ["S1", "S2"]
    # -- end query-dataframe --
    tl.Feature(name="sample", dtype=str).save()
    for key, sample in (("aligned/S1.bam", "S1"), ("aligned/S2.bam", "S2")):
        tl.Artifact.get(key=key).features.add_values({"sample": sample})
    # -- start query-dataframe-features --
    df = tl.Artifact.filter(key__startswith="aligned/").order_by("key").df(features=["sample"])
    assert list(df["sample"]) == ["S1", "S2"]
    # -- end query-dataframe-features --


# -- features ----------------------------------------------------------------------------------


def test_feature_define(local_instance, isolated):
    # -- start feature-define --
    import datetime

    tl.Feature(name="sample", dtype=str).save()
    tl.Feature(name="n_reads", dtype=int, description="reads after QC").save()
    tl.Feature(name="depth", dtype=float, coerce=True).save()  # "31.5" is accepted as 31.5
    tl.Feature(name="paired", dtype=bool).save()
    tl.Feature(name="collected", dtype=datetime.date).save()
    tl.Feature(name="tags", dtype=list[str]).save()
    tl.Feature(name="tissue", dtype="cat[Label]").save()

    assert tl.Feature.get(name="tags").dtype == "list[str]"
    # -- end feature-define --
    assert datetime.date.today()
    dtypes = {f.name: f.dtype for f in tl.Feature.filter()}
    assert dtypes == {
        "sample": "str",
        "n_reads": "int",
        "depth": "float",
        "paired": "bool",
        "collected": "date",
        "tags": "list[str]",
        "tissue": "cat[Label]",
    }
    assert tl.Feature(name="sample", dtype="str").save().id is not None  # idempotent
    with pytest.raises(tl.errors.InvalidInput, match="exists with dtype str"):
        tl.Feature(name="sample", dtype=int).save()
    with pytest.raises(tl.errors.InvalidInput, match="unsupported feature dtype"):
        tl.Feature(name="shape", dtype=tuple).save()


def test_feature_values(local_instance, isolated):
    test_feature_define(local_instance, isolated)
    tl.Artifact(write("S1.bam", "BAM"), key="aligned/S1.bam").save()
    # -- start feature-values --
    bam = tl.Artifact.get(key="aligned/S1.bam")
    bam.features.add_values(
        {
            "sample": "S1",
            "n_reads": 1200,
            "depth": "31.5",
            "paired": True,
            "collected": datetime.date(2024, 5, 2),
            "tags": ["hg38", "dedup"],
            "tissue": "liver",
        }
    )
    values = bam.features.get_values()
    assert values["depth"] == 31.5  # coerced: the feature was made with coerce=True
    assert values["collected"] == datetime.date(2024, 5, 2)
    assert [label.name for label in bam.labels] == ["liver"]  # cat[Label] values are labels

    assert tl.Artifact.filter(n_reads__gte=1000, tags="dedup").count() == 1
    assert tl.Artifact.filter(collected__gt=datetime.date(2024, 1, 1)).count() == 1

    bam.features.remove_values("tags")
    assert "tags" not in bam.features.get_values()
    # -- end feature-values --
    assert bam.features.get_values() == {
        "sample": "S1",
        "n_reads": 1200,
        "depth": 31.5,
        "paired": True,
        "collected": datetime.date(2024, 5, 2),
        "tissue": "liver",
    }
    bam.features.add_values({"n_reads": 5})  # replaces the earlier value
    assert bam.features.get_values()["n_reads"] == 5


def test_feature_errors(local_instance, isolated):
    tl.Feature(name="n_reads", dtype=int).save()
    tl.Artifact(write("S1.bam", "BAM"), key="aligned/S1.bam").save()
    # -- start feature-errors --
    bam = tl.Artifact.get(key="aligned/S1.bam")
    try:
        bam.features.add_values({"n_reads": "many"})
    except tl.errors.InvalidFeatureValue as err:
        print(err)  # feature 'n_reads' expects int, got 'many'
    try:
        bam.features.add_values({"flowcell": "HX7"})
    except tl.errors.UnknownFeature as err:
        print(err)  # unknown feature 'flowcell': create it first with tl.Feature(...)

    bam.features.add_values({"flowcell": "HX7"}, create_features=True)  # dtype inferred: str
    assert tl.Feature.get(name="flowcell").dtype == "str"
    # -- end feature-errors --
    with pytest.raises(tl.errors.InvalidFeatureValue, match="expects int"):
        bam.features.add_values({"n_reads": "many", "flowcell": "X"})
    assert bam.features.get_values() == {"flowcell": "HX7"}  # all checked before writing


def test_labels(local_instance, isolated):
    tl.Artifact(write("S1.bam", "BAM"), key="aligned/S1.bam").save()
    # -- start labels --
    bam = tl.Artifact.get(key="aligned/S1.bam")
    bam.labels.add("qc-passed", tl.Label(name="hg38", description="reference genome"))
    assert [label.name for label in bam.labels.all()] == ["hg38", "qc-passed"]
    assert tl.Artifact.filter(labels__name="qc-passed").count() == 1

    bam.labels.remove("hg38")
    assert len(bam.labels) == 1
    # -- end labels --
    assert tl.Label.get(name="hg38").description == "reference genome"


def test_run_features(local_instance, isolated):
    # -- start run-features --
    @tl.flow("train")
    def train(epochs: int) -> None:
        tl.context.run.features.add_values({"gpu": "A100"}, create_features=True)
        tl.context.run.labels.add("baseline")

    train(epochs=3)
    assert tl.Run.get(gpu="A100").params == {"epochs": 3}
    assert tl.Run.filter(labels__name="baseline").count() == 1
    # -- end run-features --


def test_dict_items(local_instance, isolated):
    # -- start dict-items --
    from threadline import adapters

    for rss, host in ((3 * 2**30, "node-1"), (2**28, "node-2")):
        run = adapters.start_run("align", "process")
        run.features.add_values(
            {"trace": {"peak_rss": rss, "host": host, "retry": {"attempt": 1}}},
            create_features=True,
        )
    assert tl.Run.get(trace__peak_rss__gt=2**30).features.get_values()["trace"]["host"] == "node-1"
    assert tl.Run.filter(trace__host__startswith="node-").count() == 2
    assert tl.Run.filter(trace__retry__attempt=1).count() == 2
    assert tl.Run.filter(trace__exit__isnull=True).count() == 2  # no such key
    # -- end dict-items --


def test_projects(local_instance, isolated):
    # -- start projects --
    tl.track(project="liver-atlas", key="notebooks/atlas.ipynb")
    tl.finish()

    atlas = tl.Project.get(name="liver-atlas")  # created on first use
    assert tl.Run.filter(project=atlas).count() == 1
    assert tl.Run.filter(project__name="liver-atlas").count() == 1
    # -- end projects --


def test_documented_dtypes_and_coercion(local_instance, isolated):
    """The dtype table and the coerce rules on docs/features.md."""
    cells = tl.Feature(name="cell_types", dtype="list[cat[Label]]").save()
    assert tl.Feature(name="grade", dtype="cat").save().dtype == "cat[Label]"
    for name, dtype in (
        ("i", int),
        ("f", float),
        ("b", bool),
        ("d", datetime.date),
        ("t", datetime.datetime),
        ("s", str),
    ):
        tl.Feature(name=name, dtype=dtype, coerce=True).save()
    art = tl.Artifact(write("x.txt", "x"), key="x.txt").save()
    art.features.add_values(
        {
            "cell_types": ["T cell", "B cell"],
            "grade": tl.Label(name="G2"),
            "i": "12",
            "f": "31.5",
            "b": "yes",
            "d": "2024-05-02",
            "t": "2024-05-02T10:30:00",
            "s": 7,
        }
    )
    values = art.features.get_values()
    assert (values["i"], values["f"], values["b"], values["s"]) == (12, 31.5, True, "7")
    assert values["d"] == datetime.date(2024, 5, 2)
    assert values["t"] == datetime.datetime(2024, 5, 2, 10, 30)
    assert sorted(label.name for label in art.labels) == ["B cell", "G2", "T cell"]
    assert cells.dtype == "list[cat[Label]]"
    with pytest.raises(tl.errors.InvalidFeatureValue):
        art.features.add_values({"i": "12.5"})
    art.features.add_values(
        {"when": datetime.date(2024, 1, 1), "on": False, "n": 3, "names": ["a", "b"]},
        create_features=True,
    )
    inferred = {f.name: f.dtype for f in tl.Feature.filter(name__in=["when", "on", "n", "names"])}
    assert inferred == {"when": "date", "on": "bool", "n": "int", "names": "list[str]"}


def test_schemas(local_instance, isolated):
    write("qc.csv", "sample,n_reads\nS1,1200\n")
    # -- start schemas --
    qc_table = tl.Schema(
        name="qc-table",
        otype="DataFrame",
        definition={"columns": {"sample": "str", "n_reads": "int"}},
    ).save()
    table = tl.Artifact("qc.csv", key="tables/qc.csv", schema=qc_table).save()
    assert tl.Artifact.filter(schema__name="qc-table").count() == 1

    changed = tl.Schema(name="qc-table", definition={"columns": {"sample": "str"}}).save()
    assert (qc_table.version, changed.version) == (1, 2)
    # -- end schemas --
    same = tl.Schema(
        name="qc-table",
        otype="DataFrame",
        definition={"columns": {"sample": "str", "n_reads": "int"}},
    ).save()
    assert same.uid == qc_table.uid and table.schema.uid == qc_table.uid
