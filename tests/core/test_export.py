"""OpenLineage export: run events from real runs, on SQLite and PostgreSQL."""

import datetime as dt
import json
import os
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
    assert start["eventTime"] == step_run.started_at.isoformat(timespec="microseconds") + "+00:00"
    assert done["eventTime"] >= start["eventTime"]  # one format: text order is time order
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


# -- the official schemas and naming conventions -------------------------------------------

SPEC_FILES = Path(__file__).resolve().parents[1] / "fixtures" / "openlineage"


def _registry():
    from referencing import Registry, Resource

    resources = []
    for path in [SPEC_FILES / "OpenLineage.json", *sorted((SPEC_FILES / "facets").glob("*.json"))]:
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def validate(event: dict) -> None:
    """``event`` against the RunEvent schema, and each facet against the schema its
    ``_schemaURL`` names (which must be the current version of that facet)."""
    import jsonschema

    def check(instance: dict, url: str) -> None:
        validator = jsonschema.Draft202012Validator(
            {"$ref": url}, registry=REGISTRY, format_checker=jsonschema.FormatChecker()
        )
        validator.validate(instance)

    check(event, event["schemaURL"])
    facets = [*event["run"]["facets"].values(), *event["job"]["facets"].values()]
    for dataset in [*event["inputs"], *event["outputs"]]:
        facets += dataset["facets"].values()
    for facet in facets:
        url = facet["_schemaURL"]
        if url.startswith("https://openlineage.io/"):
            base = url.split("#")[0]
            assert REGISTRY.contents(base)["$id"] == base, url  # the current version
            check(facet, url)
        else:  # threadline's own facet: a DatasetFacet
            check(facet, "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetFacet")


def test_events_pass_the_official_schemas(local_instance, isolated):
    from .lineage_sample import build

    made = build(isolated)
    two_step_flow()
    events = openlineage_events()
    for event in events:
        validate(event)
    fail = [e for e in events if e["eventType"] == "FAIL"]
    assert [e["run"]["runId"] for e in fail] == [run_id(made["failed"].uid)]
    error = fail[0]["run"]["facets"]["errorMessage"]
    assert error["message"] == "exit status 1: out of memory"
    assert error["programmingLanguage"] == "PYTHON"
    assert all(e["producer"] == tl.export.REPOSITORY for e in events)
    times = [e["eventTime"] for e in events]
    assert times == sorted(times)  # in time order
    workflow = run_id(made["workflow"].uid)
    ends = [i for i, e in enumerate(events) if e["eventType"] != "START"]
    last_child = max(
        i
        for i in ends
        if events[i]["run"]["facets"].get("parent", {}).get("run", {}).get("runId") == workflow
    )
    assert next(i for i in ends if events[i]["run"]["runId"] == workflow) > last_child
    report = next(
        e
        for e in events
        if e["eventType"] == "COMPLETE"
        and e["outputs"]
        and e["outputs"][0]["facets"]["threadline"]["uid"] == made["report"].uid
    )
    dataset = report["outputs"][0]
    root = tl.instance().settings.storage
    assert (dataset["namespace"], dataset["name"]) == ("file", f"{root}/{made['report'].path}")
    assert dataset["facets"]["threadline"]["key"] == "report/S1#1;&amp;.html"
    assert dataset["facets"]["version"]["datasetVersion"] == "1"


def test_dataset_names_follow_the_naming_conventions():
    from threadline.export import dataset_name

    assert dataset_name("/data/store", "obj/ab.csv") == ("file", "/data/store/obj/ab.csv")
    assert dataset_name("s3://bucket/prefix", "obj/ab.csv") == ("s3://bucket", "prefix/obj/ab.csv")
    assert dataset_name("s3://bucket", "obj/ab.csv") == ("s3://bucket", "obj/ab.csv")


def test_runs_that_never_started_have_no_start(db_instance, isolated):
    waiting = adapters.start_run("align", "process", engine="nextflow", status="scheduled")
    reused = adapters.start_run("align", "process", engine="nextflow", status="cached")
    kinds = [(e["eventType"], e["run"]["runId"]) for e in openlineage_events()]
    assert kinds == [("COMPLETE", run_id(reused.uid))]  # it reused outputs: it never ran
    assert run_id(waiting.uid) not in {k[1] for k in kinds}


# -- delivery to an OpenLineage HTTP endpoint -------------------------------------------------


class Receiver:
    """A real OpenLineage HTTP endpoint on 127.0.0.1: keeps what is POSTed to
    /api/v1/lineage (as Marquez does), answers 201."""

    def __init__(self, delay: float = 0.0) -> None:
        import http.server
        import threading
        import time

        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, json.loads(body)))
                time.sleep(delay)  # a slow endpoint
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


def test_cli_posts_events_to_an_endpoint(local_instance, isolated, receiver):
    two_step_flow()
    out = cli("export", "openlineage", "--url", receiver.url).stdout
    events = openlineage_events()
    assert out == f"posted {len(events)} events to {receiver.url}\n"
    assert [path for path, _ in receiver.received] == ["/api/v1/lineage"] * len(events)
    assert [body for _, body in receiver.received] == events


def test_cli_post_to_a_closed_port_is_one_line_error(local_instance, isolated):
    from tests.harness import free_port

    two_step_flow()
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    line = fails("export", "openlineage", "--url", url, match=f"events to {url}")
    # the root cause, not urllib3's wrapping of it (which ran past 200 characters)
    assert (
        line
        == f"error: cannot post OpenLineage events to {url}: Connection refused (0 sent before)"
    )
    fails("export", "openlineage", "--url", "ftp://x", match="must start with http://")


def test_cli_export_to_an_unwritable_file_is_one_line_error(local_instance, isolated):
    two_step_flow()
    target = isolated / "missing" / "events.jsonl"  # its folder does not exist
    line = fails("export", "openlineage", "-o", str(target), match=f"cannot write {target}")
    assert line.endswith("No such file or directory")  # was a traceback


def test_live_events_as_runs_start_and_end(local_instance, isolated, receiver, monkeypatch):
    from threadline import _openlineage_send

    monkeypatch.setenv("THREADLINE_OPENLINEAGE_URL", receiver.url)
    flow_run, step_run = two_step_flow()  # the runs announce themselves as they go
    sender = _openlineage_send.live_sender(receiver.url)
    assert sender.flush(timeout=30)
    got = [(b["eventType"], b["run"]["runId"]) for _, b in receiver.received]
    flow, step = run_id(flow_run.uid), run_id(step_run.uid)
    assert got == [("START", flow), ("START", step), ("COMPLETE", step), ("COMPLETE", flow)]
    for _, body in receiver.received:
        validate(body)


EXITING_SCRIPT = """
import threadline as tl

@tl.step()
def clean(text: str) -> str:
    return text.lower()

@tl.flow("exiting")
def pipeline() -> str:
    return clean("ACGT")

pipeline()  # then the process ends at once
"""


def test_live_events_of_a_short_script_reach_a_slow_endpoint(local_instance, isolated):
    """The sender is a daemon thread: the flow's last events were lost when the script
    ended before they went (here: the endpoint takes 0.3 s per event)."""
    import subprocess
    import sys

    slow = Receiver(delay=0.3)
    try:
        settings = tl.instance().settings
        env = {
            **os.environ,
            "THREADLINE_DB": settings.db,
            "THREADLINE_STORAGE": settings.storage,
            "THREADLINE_OPENLINEAGE_URL": slow.url,
        }
        script = isolated / "exiting.py"
        script.write_text(EXITING_SCRIPT)
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()
        got = [(body["eventType"], body["job"]["name"]) for _, body in slow.received]
    finally:
        slow.close()
    assert got == [
        ("START", "exiting"),
        ("START", "exiting.clean"),
        ("COMPLETE", "exiting.clean"),
        ("COMPLETE", "exiting"),
    ]


def test_live_events_never_block_or_fail_the_host(local_instance, isolated, monkeypatch, caplog):
    from tests.harness import free_port

    url = f"http://127.0.0.1:{free_port()}"  # down
    monkeypatch.setenv("THREADLINE_OPENLINEAGE_URL", url)
    from threadline import _openlineage_send

    with caplog.at_level("WARNING", logger="threadline.openlineage"):
        for _ in range(2):
            two_step_flow()  # the work succeeds, the events wait in the queue

        sender = _openlineage_send.live_sender(url)
        assert not sender.flush(timeout=1)  # still queued, waiting for the endpoint
    assert sender.queue.qsize() > 0
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1  # a warning once, not per event
