"""The storage plugin: the interface's own suite, and real workflows reading and writing
artifacts by key."""

import json
from pathlib import Path
from typing import Any

import pytest
import threadline as tl
from snakemake_interface_storage_plugins.tests import TestStorageBase
from threadline.snakemake import StorageObject, StorageProvider, StorageProviderSettings

from tests.plugins.snakemake.conftest import copy_workflow, run_snakemake


class TestThreadlineStorage(TestStorageBase):
    """Snakemake's conformance suite: store, exists, mtime, size, checksum, inventory,
    retrieve, remove, query validation and example queries."""

    __test__ = True
    files_only = False  # folders too

    @pytest.fixture(autouse=True)
    def _instance(self, local_instance: Any) -> None:
        pass

    def get_storage_provider_cls(self) -> type[StorageProvider]:
        return StorageProvider

    def get_storage_provider_settings(self) -> StorageProviderSettings:
        return StorageProviderSettings()

    def get_query(self, tmp_path: Path) -> str:
        return "threadline://suite/test.txt"

    def get_query_not_existing(self, tmp_path: Path) -> str:
        return "threadline://suite/missing.txt"


def provider(tmp_path: Path) -> StorageProvider:
    import logging

    return StorageProvider(
        local_prefix=tmp_path / "local",
        logger=logging.getLogger("t"),
        settings=StorageProviderSettings(),
    )


def test_queries(tmp_path: Path):
    valid = ["threadline://raw/x.csv", "raw/x.csv", "raw/{sample}.csv", "raw/x.csv@2"]
    assert all(StorageProvider.is_valid_query(q) for q in valid)
    for query, reason in [
        ("s3://bucket/x", "not a threadline query"),
        ("threadline://", "names no key"),
        ("threadline:///abs/x", "relative paths"),
        ("threadline://a/../b", "invalid key"),
    ]:
        result = StorageProvider.is_valid_query(query)
        assert not result and reason in str(result.reason)
    pinned = provider(tmp_path).object("threadline://raw/x.csv@2")
    assert (pinned.key, pinned.version, pinned.local_suffix()) == ("raw/x.csv", 2, "raw/x.csv@2")


def test_queries_follow_the_key_rule_of_artifacts():
    """What ``tl.Artifact`` would refuse as a key is an invalid query, with the reason."""
    for query, reason in [
        ("threadline://a/./b", "'.' segment"),
        ("threadline://a\\b", "not '\\'"),
        ("threadline://" + "k" * 2000, "longer than 1024 characters"),
        ("c:/data/x.csv@2", "must be relative"),
    ]:
        result = StorageProvider.is_valid_query(query)
        assert not result and reason in str(result.reason), query
    assert StorageProvider.is_valid_query("threadline://raw/{sample}/x.csv@2")


def test_store_is_idempotent_and_remove_keeps_versions(local_instance, tmp_path: Path):
    obj: StorageObject = provider(tmp_path).object("threadline://tables/t.csv")
    obj.local_path().parent.mkdir(parents=True)
    obj.local_path().write_text("a\n")
    obj.store_object()
    obj.store_object()  # same bytes: no new version
    assert [a.version for a in tl.Artifact.get(key="tables/t.csv").versions] == [1]
    first_mtime = obj.mtime()

    obj.remove()  # what Snakemake does before rerunning the job
    assert not obj.exists()
    assert tl.Artifact.filter(key="tables/t.csv", visibility="trash").count() == 1
    obj.store_object()  # the rerun wrote the same bytes: version 1 is back
    assert obj.exists() and obj.mtime() == first_mtime

    obj.remove()
    obj.local_path().write_text("b\n")
    obj.store_object()  # new bytes: version 2, and version 1 is still there
    assert [a.version for a in tl.Artifact.get(key="tables/t.csv").versions] == [1, 2]
    assert obj.size() == 2 and obj.checksum().startswith("sha256:")

    old = provider(tmp_path).object("threadline://tables/t.csv@1")
    old.retrieve_object()
    assert old.local_path().read_text() == "a\n" and old.mtime() < obj.mtime()
    old.remove()  # pinned versions are read-only
    assert old.exists()
    assert list(
        provider(tmp_path).object("threadline://tables/{name}.csv").list_candidate_matches()
    ) == ["threadline://tables/t.csv"]


def text(artifact: tl.Artifact) -> str:
    return Path(artifact.cache()).read_text()


def seed_counts(folder: Path, text: str = "1\n2\n") -> tl.Artifact:
    (folder / "counts.csv").write_text(text)
    return tl.Artifact(folder / "counts.csv", key="raw/counts.csv").save()


def test_workflow_reads_and_publishes_artifacts_by_key(instance, tmp_path: Path):
    """On every backend (SQLite or PostgreSQL, local folder or S3): the logger and the
    storage plugin together."""
    folder = copy_workflow("storage", tmp_path)
    raw = seed_counts(tmp_path)
    assert run_snakemake(folder)[0].failures == []

    a_csv = tl.Artifact.get(key="results/A.csv")
    assert text(a_csv) == "A:1\nA:2\n" and a_csv.features.get_values() == {"sample": "A"}
    assert a_csv.run.name == "norm (sample=A)"  # the job run is the creator
    assert [a.uid for a in a_csv.run.inputs] == [raw.uid]
    report = tl.Artifact.get(key="report.txt")
    assert raw.uid in {a.uid for a in tl.lineage.upstream(report).artifacts}

    run_snakemake(folder)  # up to date: no job, no version
    assert tl.Artifact.get(key="results/A.csv").version == 1
    seed_counts(tmp_path, "3\n")  # a new version of the input makes Snakemake rerun
    run_snakemake(folder)
    latest = tl.Artifact.get(key="results/A.csv")
    assert latest.version == 2 and text(latest) == "A:3\n"
    assert [a.version for a in latest.versions] == [1, 2]  # the rerun's remove() undone


def test_default_storage_provider_with_unmodified_snakefile(local_instance, tmp_path: Path):
    from snakemake.settings.types import StorageSettings

    folder = copy_workflow("three_rules", tmp_path)
    for name in ("A", "B"):
        tl.Artifact(folder / "raw" / f"{name}.txt", key=f"proj/raw/{name}.txt").save()
    storage = StorageSettings(
        default_storage_provider="threadline", default_storage_prefix="threadline://proj"
    )
    assert run_snakemake(folder, storage=storage)[0].failures == []

    combined = tl.Artifact.get(key="proj/results/combined.txt")
    assert combined.load() == "ALPHA\nBETA\nGAMMA\n" and combined.run.name == "combine"
    assert tl.Artifact.get(key="proj/logs/make_A.log").load() == "made sample-A\n"
    assert tl.Artifact.get(key="proj/results/A.txt").features.get_values() == {"sample": "A"}
    assert not (folder / "results").exists()  # nothing but storage


def test_cluster_jobs_store_once_per_content(local_instance, tmp_path: Path):
    """With a cluster executor the job process stores its outputs and the controller
    stores them again: one version each, created by the job run."""
    from snakemake_executor_plugin_cluster_generic import ExecutorSettings

    from tests.plugins.snakemake.test_cli import HERE

    folder = copy_workflow("storage", tmp_path)
    seed_counts(tmp_path)
    handlers = run_snakemake(
        folder,
        executor="cluster-generic",
        nodes=2,
        executor_settings=ExecutorSettings(submit_cmd=str(HERE / "submit.sh")),
    )
    assert handlers[0].failures == []
    for sample in ("A", "B"):
        published = tl.Artifact.get(key=f"results/{sample}.csv")
        assert [a.version for a in published.versions] == [1]
        assert published.run.name == f"norm (sample={sample})"


def other_instance(tmp_path: Path) -> dict[str, str]:
    return {"other_db": f"sqlite:///{tmp_path / 'other.db'}", "other_storage": str(tmp_path / "o")}


def test_a_provider_that_switches_the_database_mid_pipeline_fails_it_whole(
    db_instance, tmp_path: Path
):
    """A storage provider naming another instance, first used after a checkpoint (the
    pipeline run is open by then): it is refused (the workflow records into the logger's
    instance), the workflow fails with the reason, and every record stays in the
    instance the pipeline started in. Before, the jobs' runs and outputs went into the
    other database, under a parent id that meant another run there, and the pipeline
    run stayed 'started' in the first."""
    folder = copy_workflow("two_instances", tmp_path)
    with pytest.raises(BaseException) as raised:  # Snakemake's API: an exception group
        run_snakemake(folder, config=other_instance(tmp_path))
    assert "a threadline storage provider names sqlite:///" in "".join(_texts(raised.value))

    pipeline = tl.Run.get(transform__key="Snakefile")
    assert pipeline.status == "errored"
    checked = "WorkflowError: Failed to check existence of threadline://pub/"
    assert pipeline.error in (f"{checked}a.txt", f"{checked}b.txt")  # asked together
    assert "but this workflow records into" in pipeline.traceback
    split = tl.Run.get(transform__key="Snakefile/split")
    assert (split.status, split.parent.uid) == ("completed", pipeline.uid)
    assert [a.key for a in split.outputs] == ["parts"]
    assert not (tmp_path / "other.db").exists()  # refused before anything was opened


def test_a_provider_naming_another_database_is_refused_before_the_pipeline_starts(
    db_instance, tmp_path: Path
):
    """One instance per workflow: the logger opened the current instance when the
    workflow started; a provider naming another, first used while Snakemake builds the
    DAG (no run is open yet to refuse a switch), is refused before it opens anything.
    Before, it switched the whole process: the workflow's every record went into the
    provider's database and the logger's instance was silently not used."""
    folder = copy_workflow("two_providers", tmp_path)
    with pytest.raises(BaseException) as raised:
        run_snakemake(folder, config=other_instance(tmp_path))
    text = "".join(_texts(raised.value))
    assert "a threadline storage provider names sqlite:///" in text
    assert f"records into {tl.adapters.redact(tl.instance().settings.db)}" in text
    assert "(opened by the threadline logger)" in text
    assert not (tmp_path / "other.db").exists()
    pipeline = tl.Run.get(transform__key="Snakefile")  # in the logger's instance
    assert pipeline.status == "errored"
    assert "a threadline storage provider names" in pipeline.traceback
    assert not tl.Artifact.filter(key="pub/a.txt").exists()


def test_a_provider_naming_the_workflows_database_records_there(local_instance, tmp_path: Path):
    """The same database named by the provider (another storage root is allowed, as by
    ``connect``) is no conflict: the job's output is stored there, made by its run."""
    folder = copy_workflow("two_providers", tmp_path)
    db = tl.instance().settings.db
    run_snakemake(folder, config={"other_db": db, "other_storage": str(tmp_path / "o")})
    stored = tl.Artifact.get(key="pub/a.txt")
    assert stored.run.transform.key == "Snakefile/publish"
    assert tl.instance().settings.storage == str(tmp_path / "o")


@pytest.mark.parametrize("db_instance", ["postgres"], indirect=True)
def test_a_provider_spelling_the_workflows_database_another_way_records_there(
    db_instance, tmp_path: Path
):
    """Another spelling of the same PostgreSQL database (the ``postgres://`` alias, a
    password) is the same instance: no refusal. Before, the claim compared the text."""
    folder = copy_workflow("two_providers", tmp_path)
    url = tl.instance().settings.db
    respelled = url.replace("postgresql://postgres@", "postgres://postgres:pw-unused@", 1)
    run_snakemake(folder, config={"other_db": respelled, "other_storage": str(tmp_path / "o")})
    assert tl.Artifact.get(key="pub/a.txt").run.transform.key == "Snakefile/publish"
    pipeline = tl.Run.get(transform__key="Snakefile")
    assert pipeline.status == "completed"
    assert "pw-unused" not in json.dumps([pipeline.params, pipeline.features.get_values()])


def test_each_workflow_in_a_process_has_its_own_instance(local_instance, tmp_path: Path):
    """The claim belongs to one workflow: a later workflow in the same process (the API)
    may record into another instance, as its plugins name it."""
    first = copy_workflow("two_providers", tmp_path / "1")
    run_snakemake(
        first, config={"other_db": tl.instance().settings.db, "other_storage": str(tmp_path / "s1")}
    )
    other = other_instance(tmp_path)
    tl.connect(db=other["other_db"], storage=other["other_storage"])
    second = copy_workflow("two_providers", tmp_path / "2")
    run_snakemake(second, config=other)
    assert tl.Artifact.get(key="pub/a.txt").run.transform.key == "Snakefile/publish"
    assert tl.Run.filter(transform__key="Snakefile").count() == 1  # the second's only


def _texts(exc: BaseException) -> list[str]:
    """The messages of an exception, its causes and, for a group, its members."""
    texts = [str(exc)]
    for inner in getattr(exc, "exceptions", ()):
        texts += _texts(inner)
    if exc.__cause__ is not None or exc.__context__ is not None:
        texts += _texts(exc.__cause__ or exc.__context__)  # type: ignore[arg-type]
    return texts
