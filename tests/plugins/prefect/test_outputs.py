"""Outputs are all or nothing: keys and feature values are checked before any output is
stored, a failure errors the run (not the flow), and features reach every output."""

from pathlib import Path

import pandas as pd
import pytest
import threadline as tl
from threadline.prefect import flow, task


def _outputs_flow(name: str, **options):  # type: ignore[no-untyped-def]
    """A flow whose task returns an unsaved Artifact, a path and a DataFrame."""

    @task(save_result=True, **options)
    def produce(sample: str) -> tuple[tl.Artifact, Path, pd.DataFrame]:
        Path("notes.txt").write_text(f"{sample} notes\n")
        Path(f"{sample}.csv").write_text("x\n1\n")
        return (
            tl.Artifact("notes.txt", key=f"notes/{sample}.txt"),
            Path(f"{sample}.csv"),
            pd.DataFrame({"reads": [1200]}),
        )

    @flow(name=name)
    def outputs(sample: str) -> str:
        produce(sample)
        return "done"

    return outputs


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{params[lane]}/{name}", "key_template '{params[lane]}/{name}' cannot be filled"),
        ("results/{stem}.csv", "ends in .csv but the object is stored as .parquet"),
    ],
)
def test_bad_key_template_stores_no_output_and_errors_the_run(
    tracked, hook_failures, monkeypatch, template, problem
):
    monkeypatch.delenv("THREADLINE_STRICT")  # as in production: the flow goes on
    assert _outputs_flow("bad-keys", key_template=template)("S1") == "done"

    assert tl.Artifact.filter().count() == 0  # not the returned Artifact, not the path
    task_run = tl.Run.get(transform__key="bad-keys/produce")
    assert task_run.status == "errored" and problem in task_run.error
    assert task_run.error.startswith("threadline could not save the outputs: ")
    assert "\n" not in task_run.error
    assert tl.Run.get(transform__key="bad-keys").status == "completed"
    assert len(hook_failures) == 1 and problem in hook_failures[0].getMessage()
    hook_failures.clear()  # expected here; the tracked fixture fails on any other


def test_bad_feature_value_stores_no_output_and_errors_the_run(tracked, hook_failures, monkeypatch):
    monkeypatch.delenv("THREADLINE_STRICT")
    tl.Feature(name="reads", dtype=int).save()
    assert _outputs_flow("bad-features", features={"reads": "many"})("S1") == "done"

    assert tl.Artifact.filter().count() == 0
    task_run = tl.Run.get(transform__key="bad-features/produce")
    assert task_run.status == "errored"
    assert task_run.error == (
        "threadline could not save the outputs: InvalidFeatureValue: "
        "feature 'reads' expects int, got 'many'"
    )
    assert task_run.features.get_values() == {}  # the check wrote nothing on the run
    assert tl.Run.get(transform__key="bad-features").status == "completed"
    assert len(hook_failures) == 1
    hook_failures.clear()


def test_feature_values_of_a_flow_are_checked_without_a_trace(
    prefect_api, instance, hook_failures, monkeypatch
):
    """The feature check that stores nothing (adapters.check_features) on every backend: a
    bad value errors the flow run, a good one lands on the output only, not on the run."""

    def returning(name: str, features: dict) -> object:  # type: ignore[type-arg]
        @flow(name=name, features=features)
        def one_artifact() -> tl.Artifact:  # no path returned: check_features checks
            Path("t.txt").write_text(f"{name}\n")
            return tl.Artifact("t.txt", key=f"{name}.txt")

        return one_artifact

    assert returning("bad-flow", {"stage": ["qc", 1]})().key == "bad-flow.txt"  # no dtype
    assert returning("good-flow", {"stage": "qc"})().key == "good-flow.txt"

    assert tl.Artifact.filter(key="bad-flow.txt").count() == 0
    bad = tl.Run.get(transform__key="bad-flow")
    assert bad.status == "errored" and "cannot infer a feature dtype" in bad.error
    good = tl.Run.get(transform__key="good-flow")
    assert good.status == "completed" and good.features.get_values() == {}
    assert bad.features.get_values() == {}
    assert tl.Artifact.get(key="good-flow.txt").features.get_values() == {"stage": "qc"}
    assert len(hook_failures) == 1
    hook_failures.clear()


def test_features_are_set_on_returned_artifacts(tracked):
    @task(features={"stage": "qc"})
    def report(sample: str) -> list[tl.Artifact]:
        Path("saved.txt").write_text(f"{sample} saved in the body\n")
        Path("later.txt").write_text(f"{sample} saved by threadline\n")
        saved = tl.Artifact("saved.txt", key="reports/saved.txt").save()
        return [saved, tl.Artifact("later.txt", key="reports/later.txt")]

    @flow(name="returned-artifacts")
    def returned() -> None:
        report("S1")

    returned()
    for key in ("reports/saved.txt", "reports/later.txt"):
        artifact = tl.Artifact.get(key=key)
        assert artifact.run.transform.key == "returned-artifacts/report"
        assert artifact.features.get_values() == {"stage": "qc"}


def test_good_template_and_features_reach_every_kind_of_output(tracked):
    flow_ = _outputs_flow(
        "good-keys", key_template="out/{params[sample]}/{name}", features={"stage": "qc"}
    )
    assert flow_("S1") == "done"

    keys = sorted(a.key for a in tl.Artifact.filter())
    assert keys == ["notes/S1.txt", "out/S1/S1.csv", "out/S1/produce-1.parquet"]
    assert all(a.features.get_values() == {"stage": "qc"} for a in tl.Artifact.filter())
    assert tl.Run.get(transform__key="good-keys/produce").status == "completed"
