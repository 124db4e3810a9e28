"""The weblog receiver: the real 23.04.2 capture replayed through real HTTP."""

import base64
import datetime as dt
import http.client
import json
import logging
import os
import random
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import threadline as tl
from threadline.errors import EventError, InvalidInput
from threadline.nextflow._events import EventHandler
from threadline.nextflow._server import Receiver
from threadline.nextflow._validate import java_date

from .conftest import WEBLOG

CAPTURE = json.loads((WEBLOG / "nf-executor_nf23.04.2_mock_hello_full_run.json").read_text())
SESSION = "456ae710-1ac1-4148-a6a2-10b5e73d0157"
SERVE_ARGS = ("nextflow", "serve", "--port", "0")


def post(url: str, body: bytes, token: str | None = None) -> int:
    headers = {"Content-Type": "application/json", "User-Agent": "Nextflow/23.04.2"}
    if token:
        headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def as_nextflow_sends(event: dict) -> bytes:
    """DataOutputStream.writeBytes: the low byte of each char, i.e. latin-1."""
    return json.dumps(event, ensure_ascii=False).encode("latin-1", errors="replace")


def replay(events: list[dict], token: str | None = None) -> Receiver:
    receiver = Receiver(token=token).start()
    try:
        for event in events:
            assert post(receiver.url, as_nextflow_sends(event), token) == 200
        receiver.drain()
    finally:
        receiver.stop()
    return receiver


def snapshot() -> list[tuple]:
    return sorted(
        (
            r.name,
            r.status,
            r.reference,
            r.started_at,
            r.finished_at,
            json.dumps(r.features.get_values(), sort_keys=True, default=str),
        )
        for r in tl.Run.filter(engine="nextflow")
    )


def test_replay_real_capture(instance):
    receiver = replay(CAPTURE)
    assert (receiver.received, receiver.rejected, receiver.failed) == (11, 0, 0)
    workflow = tl.Run.get(reference=f"{SESSION}/insert_id_here")
    assert (workflow.status, workflow.name, workflow.user) == (
        "completed",
        "insert_id_here",
        "abought",
    )
    assert workflow.params == {"greeting": "Hello world!"}  # empty at started, full at end
    assert workflow.started_at == dt.datetime(2023, 6, 22, 22, 25, 52, 500948)  # the bean
    assert workflow.transform.key == "hello.nf"
    assert workflow.transform.reference == "6952659b41c8949cc330bf873454905a"
    values = workflow.features.get_values()
    assert values["nextflow_version"] == "23.04.2" and "-with-weblog" in values["command_line"]
    tasks = sorted(tl.Run.filter(parent=workflow), key=lambda r: r.name)
    assert [t.name for t in tasks] == [
        "CONVERTTOUPPER (1)",
        "CONVERTTOUPPER (2)",
        "SPLITLETTERS (1)",
    ]
    assert all(t.status == "completed" and t.finished_at for t in tasks)
    split = tasks[2].features.get_values()
    trace = split["trace"]
    assert trace["hash"] == "c6fb153c4001ac3423bfdd1a582ff1cd" and split["exit"] == 0
    assert (trace["native_id"], trace["duration_ms"], split["process"]) == (
        "28560",
        182,
        "SPLITLETTERS",
    )
    assert tl.Run.get(trace__native_id="28560").uid == tasks[2].uid
    assert tasks[2].started_at == dt.datetime(2023, 6, 22, 22, 25, 53, 721000)


def test_duplicates_and_out_of_order_change_nothing(local_instance):
    replay(CAPTURE)
    expected = snapshot()
    replay(CAPTURE)  # the same run replayed
    assert snapshot() == expected
    mixed = CAPTURE * 2
    random.Random(7).shuffle(mixed)
    tl.disconnect()
    os.remove(local_instance.settings.db.removeprefix("sqlite:///"))
    tl.connect()
    replay(mixed)
    assert snapshot() == expected


def test_a_batch_with_a_bad_event_is_kept_all_or_nothing(local_instance):
    """A batch is one transaction: when one event cannot be recorded (here a metric that
    is not a number), nothing of the batch stays; applied one by one, the others do."""
    events = json.loads(json.dumps(CAPTURE))
    events[8]["trace"]["realtime"] = "fast"
    handler = EventHandler()
    with pytest.raises(InvalidInput, match="realtime_ms"):
        handler.apply_many(events)
    assert tl.Run.filter(engine="nextflow").count() == 0
    assert handler.pending == {} and handler.run_names == []

    failures = []
    for number, event in enumerate(events):
        try:
            handler.apply(event)
        except InvalidInput:
            failures.append(number)
    assert failures == [8]
    tasks = tl.Run.filter(engine="nextflow", parent__ne=None)
    assert sorted(t.status for t in tasks) == ["completed", "completed", "started"]
    assert tl.Run.get(engine="nextflow", parent=None).status == "completed"


def test_submitted_before_started_waits_for_the_run(local_instance):
    receiver = replay([CAPTURE[1]])
    assert tl.Run.filter(engine="nextflow").count() == 0 and receiver.failed == 0
    assert len(receiver.handler.pending) == 1  # held until the run's metadata arrives


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"{not json", "Expecting property name"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"event": "started", "runName": "x"}', "no 'runId'"),
        (b'{"event": "exploded", "runName": "x", "runId": "s"}', "unknown event"),
        (b'{"event": "process_started", "runName": "x", "runId": "s"}', "without a trace"),
    ],
)
def test_malformed_bodies_get_400_and_a_log_line(local_instance, caplog, body, reason):
    receiver = Receiver().start()
    try:
        with caplog.at_level(logging.WARNING, logger="threadline.nextflow._server"):
            assert post(receiver.url, body) == 400
        assert reason in caplog.text and "rejected a body" in caplog.text
        assert post(receiver.url, as_nextflow_sends(CAPTURE[0])) == 200  # still serving
        receiver.drain()
    finally:
        receiver.stop()
    assert receiver.rejected == 1 and tl.Run.filter(engine="nextflow").count() == 1


def test_latin1_bodies(local_instance):
    started = json.loads(json.dumps(CAPTURE[0]))
    started["metadata"]["parameters"] = {"sample": "Zürich"}
    replay([started])
    assert tl.Run.get(reference=f"{SESSION}/insert_id_here").params == {"sample": "Zürich"}


def test_basic_auth(local_instance):
    receiver = Receiver(token="nf:s3cret").start()
    try:
        assert post(receiver.url, as_nextflow_sends(CAPTURE[0])) == 401
        assert post(receiver.url, as_nextflow_sends(CAPTURE[0]), "nf:wrong") == 401
        assert post(receiver.url, as_nextflow_sends(CAPTURE[0]), "nf:s3cret") == 200
        receiver.drain()
    finally:
        receiver.stop()
    assert receiver.received == 1
    idle = Receiver()
    assert idle.url.startswith("http://127.0.0.1:")  # loopback by default
    idle.stop()


def test_java_dates():
    assert java_date("2019-10-02T16:23:29Z") == dt.datetime(2019, 10, 2, 16, 23, 29)
    assert java_date(1687472753721) == dt.datetime(2023, 6, 22, 22, 25, 53, 721000)
    assert java_date(0) is None and java_date(None) is None
    assert java_date(CAPTURE[-1]["metadata"]["workflow"]["complete"]).year == 2023
    with pytest.raises(EventError, match="not a date"):
        java_date([2023])


def test_serve_command(local_instance):
    """Events over one kept-alive connection, as Nextflow sends them, then Ctrl-C: the
    receiver applies what it accepted and exits (SIGINT sets an event; no
    KeyboardInterrupt lands in the middle of the shutdown)."""
    server = subprocess.Popen(
        [sys.executable, "-c", "from threadline.cli import main; main()", *SERVE_ARGS],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stderr.readline()
        if not line.startswith("listening on http://127.0.0.1:"):
            server.kill()
            pytest.fail(f"serve did not start: {line}{server.stderr.read()}")
        host, port = line.split()[-1].removeprefix("http://").rstrip("/").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        for event in CAPTURE:
            connection.request("POST", "/", as_nextflow_sends(event))
            assert connection.getresponse().read() == b"ok\n"
    finally:
        server.send_signal(signal.SIGINT)  # the connection is still open
        _, rest = server.communicate(timeout=60)  # a hang guard, not a timing
    connection.close()
    assert server.returncode == 0, rest
    assert "received 11 events, rejected 0, failed 0" in rest, rest
    workflow = tl.Run.get(reference=f"{SESSION}/insert_id_here")
    assert workflow.status == "completed" and tl.Run.filter(parent=workflow).count() == 3
