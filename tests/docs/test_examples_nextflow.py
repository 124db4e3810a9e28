"""Examples of docs/nextflow.md, run against the real Nextflow fixtures."""

import json
import shutil
import urllib.request
from pathlib import Path

import threadline as tl

FIXTURES = Path(__file__).resolve().parents[1] / "plugins" / "nextflow" / "fixtures"


def copy_launch_dir() -> None:
    """The real 22.04.0 launch dir (history, logs, two work dirs) as ./launch."""
    shutil.copytree(FIXTURES / "launchdir_hello-nextflow_nf22.04.0", "launch")


def test_ingest(local_instance, isolated):
    copy_launch_dir()
    # -- start nextflow-ingest --
    from threadline.nextflow import ingest

    result = ingest("launch")  # the latest run; run_name="..." for another
    assert (result.run_name, result.tasks, result.created) == ("nostalgic_shockley", 2, True)

    workflow = tl.Run.get(uid=result.workflow)
    assert workflow.transform.key == "hello.nf" and workflow.status == "completed"
    tasks = tl.Run.filter(parent=workflow, process="qc_fastq")
    assert sorted(t.name for t in tasks) == ["qc_fastq (1)", "qc_fastq (2)"]

    assert ingest("launch").tasks == 0  # ingesting again records nothing new
    # -- end nextflow-ingest --


def hlatyping_launch_dir() -> None:
    """A launch dir holding the real trace of an nf-core/hlatyping 1.2.0 run."""
    info = Path("hlatyping/results/pipeline_info")
    info.mkdir(parents=True)
    shutil.copy(
        FIXTURES / "trace" / "wfcommons_nf-core-hlatyping-1.2.0_nf20.10.0" / "execution_trace.txt",
        info,
    )
    Path("hlatyping/.nextflow").mkdir()
    Path("hlatyping/.nextflow/history").write_text(
        "2021-03-29 19:50:20\t1h\tcheeky_hopper\tOK\t56503691ebd13d4b795bdaa317807c02\t"
        "s-hla\tnextflow run nf-core/hlatyping -r 1.2.0\n"
    )


def test_trace_alone(local_instance, isolated):
    """Only the output folder of an nf-core run is left: no history, no lineage store."""
    info = Path("results/pipeline_info")
    info.mkdir(parents=True)
    shutil.copy(
        FIXTURES / "trace" / "wfcommons_nf-core-hlatyping-1.2.0_nf20.10.0" / "execution_trace.txt",
        info / "execution_trace_2021-03-29_19-50-19.txt",
    )
    # -- start nextflow-trace-alone --
    from threadline.nextflow import ingest, ingest_traces

    # results/pipeline_info/execution_trace_2021-03-29_19-50-19.txt, and nothing else
    [result] = ingest_traces("results", run_name="adoring_roentgen", pipeline="nf-core/hlatyping")
    workflow = tl.Run.get(uid=result.workflow)
    assert (workflow.name, workflow.status) == ("adoring_roentgen", "completed")
    assert workflow.transform.key == "nf-core/hlatyping"
    assert tl.Run.filter(parent=workflow).count() == 6  # a task run per trace row

    again = ingest("results")  # the same trace, found in pipeline_info/: nothing new
    assert (again.workflow, again.created, again.tasks) == (result.workflow, False, 0)
    # -- end nextflow-trace-alone --


def test_query_tasks(local_instance, isolated):
    hlatyping_launch_dir()
    # -- start nextflow-query --
    from threadline.nextflow import ingest

    result = ingest("hlatyping")
    tasks = tl.Run.filter(parent__uid=result.workflow)
    heavy = tasks.filter(trace__peak_rss__gt=40 * 2**20)  # more than 40 MiB resident
    assert sorted(t.name for t in heavy) == [
        "get_software_versions",
        "multiqc (1)",
        "remap_to_hla (1)",
        "run_optitype (1)",
    ]
    assert tasks.filter(exit__ne=0).count() == 0

    trace = tasks.get(process="make_ot_config").features.get_values()["trace"]
    assert (trace["realtime_ms"], trace["peak_rss"], trace["cpu_percent"]) == (
        1800,
        3250586,
        24.1,
    )  # "1.8s", "3.1 MB", "24.1%" in the trace file

    df = tasks.df(features=True)  # one row per task, a column per metric
    top = df.sort_values("trace.peak_rss", ascending=False).iloc[0]
    assert (top["process"], top["trace.peak_rss"]) == ("run_optitype", 1.5 * 2**30)  # "1.5 GB"
    # -- end nextflow-query --


def test_readers():
    trace_file = FIXTURES / "trace" / "nf-executor" / "job-success-with-task-retries.txt"
    store_dir = FIXTURES / "lineage" / "store_training_sidequest_nf26.04.3" / ".lineage"
    # -- start nextflow-readers --
    from threadline.nextflow import parse_duration, parse_memory, read_store, read_trace

    rows = read_trace(trace_file)  # default or raw format: same values
    assert rows[1].get("status") == "FAILED" and rows[1].get("realtime") == 182  # ms
    assert (parse_duration("1m 47s"), parse_memory("3.1 MB")) == (107000, 3250586)

    store = read_store(store_dir)  # all three record shapes; dangling lid:// refs: None
    workflow = store.workflow_run()
    assert workflow.spec["name"] == "elegant_davinci" and len(store.tasks_of(workflow)) == 8
    # -- end nextflow-readers --


def test_config():
    # -- start nextflow-config --
    from threadline.nextflow import config_text

    text = config_text("http://127.0.0.1:8765/", lineage=True)
    assert "raw = true" in text and "lineage {" in text and "peak_rss" in text
    # -- end nextflow-config --


def test_receiver(local_instance, isolated):
    capture = FIXTURES / "weblog" / "nf-executor_nf23.04.2_mock_hello_full_run.json"
    events = json.loads(capture.read_text())
    # -- start nextflow-receiver --
    from threadline.nextflow import Receiver

    receiver = Receiver(port=0, token="nf:s3cret").start()  # loopback, a free port
    auth = {"Authorization": "Basic bmY6czNjcmV0", "Content-Type": "application/json"}
    for event in events:  # what Nextflow posts to weblog.url
        body = json.dumps(event).encode("latin-1")
        urllib.request.urlopen(urllib.request.Request(receiver.url, body, auth)).close()
    receiver.stop()  # applies everything accepted, then closes

    workflow = tl.Run.get(name="insert_id_here")
    assert workflow.status == "completed" and workflow.params == {"greeting": "Hello world!"}
    # -- end nextflow-receiver --
