"""Flows of tasks that write and read files: runs, parents, params, inputs and outputs."""

from pathlib import Path

import threadline as tl

from tests.plugins.prefect import flows_basic


def test_three_task_flow(tracked):
    assert flows_basic.three_steps("s1", 3) == 6

    flow_run = tl.Run.get(transform__key="three-steps")
    assert flow_run.status == "completed" and flow_run.engine == "prefect"
    assert flow_run.params == {"name": "s1", "n": 3, "api_token": "***"}
    assert flow_run.transform.kind == "flow" and flow_run.transform.version == 1
    assert "def three_steps" in flow_run.transform.source
    tasks = {r.transform.key: r for r in flow_run.children}
    assert set(tasks) == {"three-steps/write_raw", "three-steps/double", "three-steps/total"}
    assert all(r.status == "completed" and r.transform.kind == "task" for r in tasks.values())
    assert all(r.engine == "prefect" and r.reference for r in tasks.values())
    assert tasks["three-steps/write_raw"].params == {"name": "s1", "n": 3}
    raw = tl.Artifact.get(key="data/s1.csv")
    assert raw.run.uid == tasks["three-steps/write_raw"].uid
    assert [a.key for a in tasks["three-steps/double"].inputs] == ["data/s1.csv"]
    doubled = tl.Artifact.get(key="data/s1-doubled.csv")
    assert doubled.run.uid == tasks["three-steps/double"].uid
    assert [a.key for a in tasks["three-steps/total"].inputs] == ["data/s1-doubled.csv"]
    assert [r.uid for r in tasks["three-steps/total"].upstream_runs] == [
        tasks["three-steps/double"].uid
    ]
    assert [r.uid for r in tasks["three-steps/double"].upstream_runs] == [
        tasks["three-steps/write_raw"].uid
    ]


def test_rerun_makes_new_runs_but_no_new_versions(tracked):
    flows_basic.three_steps("s1", 3)
    flows_basic.three_steps("s1", 3)

    assert tl.Run.filter(transform__key="three-steps").count() == 2
    assert tl.Run.filter(transform__key="three-steps/double").count() == 2
    assert [a.version for a in tl.Artifact.get(key="data/s1.csv").versions] == [1]
    assert tl.Artifact.filter(key__startswith="data/").count() == 2
    assert tl.Transform.filter(key="three-steps").count() == 1  # same source, same version


def test_file_from_one_flow_read_by_another_links_them(tracked):
    flows_basic.three_steps("s2", 2)
    summary = flows_basic.summarize_table("data/s2-doubled.csv")

    artifact = tl.Artifact.get(key="summary.txt")
    assert str(summary) == "summary.txt" and artifact.run.params == {
        "table": "data/s2-doubled.csv",
        "password": "***",
    }
    upstream = tl.lineage.upstream(artifact)
    assert "three-steps/double" in [r.transform.key for r in upstream.runs]
    assert "data/s2-doubled.csv" in [a.key for a in upstream.artifacts]


def test_saved_in_body_and_dataframe_results(tracked):
    assert flows_basic.body_and_table(4) == "done"

    inside = tl.Artifact.get(key="reports/inside.txt")
    assert inside.run.transform.key == "body-and-table/report_inside"
    table = tl.Artifact.get(key="tables/make_table-4.parquet")
    assert (table.otype, table.kind, table.n_observations) == ("DataFrame", "dataset", 4)
    assert table.run.transform.key == "body-and-table/make_table"
    assert list(table.load()["sq"]) == [0, 1, 4, 9]

    flows_basic.body_and_table(4)  # the same frame again: no new version
    assert [a.version for a in table.versions] == [1]


def test_flow_run_gets_a_markdown_artifact_in_prefect(tracked):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from threadline.prefect import _report

    flows_basic.three_steps("s3", 2)
    _report.wait()  # sent in the background once the flow run ended

    flow_run = tl.Run.get(transform__key="three-steps")
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["threadline-three-steps"]))
        )
    mine = [a for a in found if str(a.flow_run_id) == flow_run.reference]
    assert len(mine) == 1 and mine[0].type == "markdown"
    assert flow_run.uid in mine[0].data
    doubled = tl.Artifact.get(key="data/s3-doubled.csv")
    assert f"| `data/s3-doubled.csv` | 1 | `{doubled.hash[:12]}` |" in mine[0].data


def test_three_task_flow_on_every_backend(prefect_api, instance, hook_failures, monkeypatch):
    """SQLite + local folder, SQLite + S3, PostgreSQL + S3."""
    monkeypatch.setenv("THREADLINE_STRICT", "1")
    assert flows_basic.three_steps("s5", 4) == 12

    flow_run = tl.Run.get(transform__key="three-steps")
    assert len(flow_run.children) == 3 and flow_run.status == "completed"
    doubled = tl.Artifact.get(key="data/s5-doubled.csv")
    assert Path(doubled.cache()).read_text() == "x\n0\n2\n4\n6\n"
    assert doubled.run.transform.key == "three-steps/double"
    assert hook_failures == []


def test_anndata_result_is_saved_as_h5ad(tracked):
    import anndata
    import numpy as np
    from threadline.prefect import flow, task

    @task(save_result=True, key="sc/counts.h5ad")
    def counts() -> anndata.AnnData:
        return anndata.AnnData(np.arange(6, dtype=np.float32).reshape(3, 2))

    @flow(name="single-cell")
    def single_cell() -> None:
        counts()

    single_cell()
    artifact = tl.Artifact.get(key="sc/counts.h5ad")
    assert (artifact.otype, artifact.n_observations, artifact.suffix) == ("AnnData", 3, ".h5ad")
    assert artifact.run.transform.key == "single-cell/counts"
