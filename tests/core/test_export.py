"""OpenLineage export: run events from real runs, on SQLite and PostgreSQL."""

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
import threadline as tl
from threadline import adapters
from threadline.export import openlineage_events, run_id

from tests.sql_log import recorded_sql

from .test_cli import cli, fails


def two_step_flow() -> tuple[tl.Run, tl.Run]:
    Path("raw.txt").write_text("ACGT")

    @tl.step()
    def clean(raw: tl.Artifact) -> tl.Artifact:
        Path("clean.txt").write_text(raw.load().lower())
        return tl.Artifact("clean.txt", key="clean/reads.txt").save()

    @tl.flow()
    def pipeline() -> tl.Artifact:
        return clean(tl.Artifact("raw.txt", key="raw/reads.txt").save())

    cleaned = pipeline()
    step = cleaned.run
    return step.parent, step


def test_a_flow_and_its_step_become_start_and_complete_events(db_instance, isolated):
    flow_run, step_run = two_step_flow()
    events = openlineage_events()
    # in time order: the flow starts first and completes after its step
    assert [(e["eventType"], e["job"]["name"].rsplit(".", 1)[-1]) for e in events] == [
        ("START", "pipeline"),
        ("START", "clean"),
        ("COMPLETE", "clean"),
        ("COMPLETE", "pipeline"),
    ]
    start, done = events[1], events[2]
    assert done["run"]["runId"] == run_id(step_run.uid) == str(uuid.UUID(done["run"]["runId"]))
    parent = done["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == run_id(flow_run.uid)
    assert parent["job"] == {"namespace": "threadline", "name": flow_run.transform.key}
    root = db_instance.settings.storage
    raw = tl.Artifact.get(key="raw/reads.txt")
    assert [
        (d["namespace"], d["name"], d["facets"]["version"]["datasetVersion"])
        for d in done["inputs"]
    ] == [("file", f"{root}/{raw.path}", "1")]  # OpenLineage naming: file, absolute path
    assert done["inputs"][0]["facets"]["threadline"]["key"] == "raw/reads.txt"
    assert [d["facets"]["threadline"]["key"] for d in done["outputs"]] == ["clean/reads.txt"]
    assert start["outputs"] == [] and start["inputs"] == done["inputs"]
    assert start["eventTime"].endswith("Z") and done["eventTime"] >= start["eventTime"]
    assert openlineage_events() == events  # the same ids and content every time


def test_errored_open_and_filtered_runs(db_instance, isolated):
    failed = adapters.start_run("align", "process", engine="nextflow")
    adapters.finish_run(failed, "errored", error="exit status 1")
    running = adapters.start_run("align", "process", engine="nextflow")
    kinds = [(e["eventType"], e["run"]["runId"]) for e in openlineage_events()]
    assert kinds == [
        ("START", run_id(failed.uid)),
        ("FAIL", run_id(failed.uid)),
        ("START", run_id(running.uid)),
    ]
    assert openlineage_events()[0]["job"]["facets"]["jobType"]["integration"] == "NEXTFLOW"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert openlineage_events(since=later) == []
    assert [e["eventType"] for e in openlineage_events([running])] == ["START"]


def test_cli_prints_json_lines(local_instance, isolated):
    _, step_run = two_step_flow()
    lines = cli("export", "openlineage").stdout.splitlines()
    assert [json.loads(line) for line in lines] == openlineage_events()
    cli("export", "openlineage", "--run", step_run.uid, "-o", "events.jsonl")
    chosen = [json.loads(line) for line in Path("events.jsonl").read_text().splitlines()]
    assert [e["run"]["runId"] for e in chosen] == [run_id(step_run.uid)] * 2
    fails("export", "openlineage", "--run", "nosuchrun", match="no run with uid 'nosuchrun'")


def test_queries_do_not_grow_with_runs(local_instance, isolated):
    workflow = adapters.start_run("main.nf", "pipeline", engine="nextflow")
    counts = []
    for total in (2, 20):
        for n in range(total):
            adapters.start_run("align", "process", parent=workflow, reference=f"{total}-{n}")
        with recorded_sql() as statements:
            events = openlineage_events()  # runs still open: one START event each
        assert len(events) == tl.Run.filter().count()
        counts.append(len(statements))
    assert counts[0] == counts[1]


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01"])
def test_cli_refuses_a_bad_time(local_instance, isolated, bad):
    result = cli("export", "openlineage", "--since", bad, code=2)
    assert "--since" in result.stderr
