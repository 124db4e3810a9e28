"""Examples of docs/snakemake.md, run on the example workflow shipped in plugins/snakemake."""

import shutil
from pathlib import Path

import threadline as tl

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "plugins" / "snakemake" / "example"
STORAGE_SNAKEFILE = ROOT / "tests" / "plugins" / "snakemake" / "workflows" / "storage"


def run_example() -> tl.Run:
    shutil.copytree(EXAMPLE, "example")
    # -- start snakemake-api --
    from pathlib import Path

    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import DAGSettings, OutputSettings, ResourceSettings
    from threadline.snakemake import LogHandlerSettings

    output = OutputSettings(log_handler_settings={"threadline": LogHandlerSettings()})
    with SnakemakeApi(output) as api:  # the same as `snakemake --logger threadline`
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=2),
            snakefile=Path("example/Snakefile"),
            workdir=Path("example").resolve(),
        )
        workflow.dag(dag_settings=DAGSettings()).execute_workflow()

    pipeline = tl.Run.get(engine="snakemake", parent=None)
    assert pipeline.status == "completed" and pipeline.transform.kind == "pipeline"
    assert pipeline.transform.key == "Snakefile"  # the Snakefile's path in the workdir
    # -- end snakemake-api --
    return pipeline


def test_api_and_queries(local_instance, isolated):
    pipeline = run_example()
    # -- start snakemake-query --
    jobs = tl.Run.filter(parent=pipeline)
    assert sorted(job.name for job in jobs) == [
        "all",
        "clean (sample=A)",
        "clean (sample=B)",
        "count",
        "report",
    ]

    clean = tl.Run.get(name="clean (sample=A)")
    assert clean.transform.key == "Snakefile/clean" and clean.transform.kind == "rule"
    assert clean.params == {"comment": "#"}  # the rule's params, by name
    assert clean.features.get_values()["sample"] == "A"  # wildcards, threads, resources...
    assert clean.logs.load() == "cleaned A\n"  # the job's log file, as an artifact

    assert [a.key for a in tl.Artifact.filter(sample="A")] == ["results/A.clean.csv"]
    report = tl.Artifact.get(key="results/report.txt")
    assert report.load() == "A: 3 rows\nB: 1 rows\n"
    up = tl.lineage.upstream(report)
    assert {a.key for a in up.artifacts} == {
        "results/A.clean.csv",
        "results/B.clean.csv",
        "results/counts.json",
        "data/A.csv",  # the raw inputs, by the paths they were read from
        "data/B.csv",
    }
    raw = clean.inputs[0]  # source data: no run made it, its path is its key
    assert (raw.key, raw.run) == ("data/A.csv", None)
    assert "source data read from" in raw.description  # + absolute path and host
    for job in jobs:  # every input of every job is named
        assert job.inputs.count() > 0 and all(a.key for a in job.inputs), job.name
    # -- end snakemake-query --


def test_flow_reads_snakemake_output(local_instance, isolated):
    run_example()

    # -- start snakemake-flow --
    @tl.flow("publish")
    def publish(report: tl.Artifact) -> tl.Artifact:
        Path("summary.md").write_text("# Row counts\n" + report.load())
        return tl.Artifact("summary.md", key="reports/summary.md").save()

    summary = publish(tl.Artifact.get(key="results/report.txt"))
    runs = tl.lineage.upstream(summary).runs  # Python and Snakemake, one graph
    assert [r.transform.key for r in runs][-2:] == ["Snakefile/report", "publish"]
    # -- end snakemake-flow --


def test_storage(local_instance, isolated):
    shutil.copytree(STORAGE_SNAKEFILE, "storage-example")
    Path("counts.csv").write_text("1\n2\n")
    # -- start snakemake-storage --
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import DAGSettings, OutputSettings, ResourceSettings
    from threadline.snakemake import LogHandlerSettings

    raw = tl.Artifact("counts.csv", key="raw/counts.csv").save()  # what the Snakefile reads

    def run(folder: str) -> None:  # with the logger too: it makes the jobs the creators
        output = OutputSettings(log_handler_settings={"threadline": LogHandlerSettings()})
        with SnakemakeApi(output) as api:
            workflow = api.workflow(
                resource_settings=ResourceSettings(cores=2),
                snakefile=Path(folder, "Snakefile"),
                workdir=Path(folder).resolve(),
            )
            workflow.dag(dag_settings=DAGSettings()).execute_workflow()

    run("storage-example")
    published = tl.Artifact.get(key="results/A.csv")
    assert published.version == 1 and published.run.name == "norm (sample=A)"
    assert published.features.get_values() == {"sample": "A"}

    Path("counts.csv").write_text("3\n")
    tl.Artifact("counts.csv", key="raw/counts.csv").save()  # version 2 of the input...
    run("storage-example")  # ...so Snakemake reruns its consumers
    assert [a.version for a in tl.Artifact.get(key="results/A.csv").versions] == [1, 2]
    assert raw.version == 1 and tl.Artifact.get(key="raw/counts.csv").version == 2
    # -- end snakemake-storage --
