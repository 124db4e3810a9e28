"""The receiver under hostile and broken input, and stopping: real HTTP on 127.0.0.1.

Malformed requests are written on raw sockets, as no HTTP client would send them. Every
refused request must get its answer (never silence, never a held thread: the server
closes the connection after answering), and nothing of a refused event is written.
"""

import json
import signal
import socket
import subprocess
import sys
import threading

import pytest
import threadline as tl
from click.testing import CliRunner
from threadline.cli import main
from threadline.nextflow._server import Receiver

from .test_serve import CAPTURE, SESSION, as_nextflow_sends, post

SERVE = ("nextflow", "serve", "--port", "0")
GUARD = 30  # seconds before a test gives up on an answer (a hang guard, not a timing)


def address(receiver: Receiver) -> tuple[str, int]:
    host, port = receiver.server.server_address[:2]
    return str(host), int(port)


def exchange(receiver: Receiver, head: bytes, body: bytes = b"") -> tuple[int, bytes, bool]:
    """Send raw bytes; the status, the answer's body, and whether the server then closed."""
    with socket.create_connection(address(receiver), timeout=GUARD) as sock:
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {data!r}"
            data += chunk
        header, _, rest = data.partition(b"\r\n\r\n")
        length = int(header.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        while len(rest) < length:
            rest += sock.recv(65536)
        closed = not still_open(sock)
    return int(header.split()[1]), rest, closed


def ended(sock: socket.socket) -> bool:
    """The server closed this connection (the end of the stream, or a reset when it
    closed with bytes of ours unread)."""
    try:
        return sock.recv(65536) == b""
    except ConnectionError:
        return True


def still_open(sock: socket.socket) -> bool:
    """Whether the server still reads this connection: a second request gets an answer
    (501: the receiver takes POSTs only) instead of the end of the stream."""
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        return sock.recv(65536).startswith(b"HTTP/1.1 501")
    except ConnectionError:
        return False


def request(length: str | None, extra: str = "") -> bytes:
    lines = ["POST / HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


@pytest.fixture
def receiver(local_instance):
    started = Receiver(max_body=1 << 20, timeout=5).start()
    yield started
    started.stop()


def nothing_written(receiver: Receiver) -> None:
    receiver.drain()
    assert receiver.received == receiver.failed == 0
    assert tl.Run.filter().count() == 0 and tl.Transform.filter().count() == 0
    assert post(receiver.url, as_nextflow_sends(CAPTURE[0])) == 200  # and still serving
    receiver.drain()
    assert tl.Run.filter(engine="nextflow").count() == 1


CHUNKED = request(None, "Transfer-Encoding: chunked\r\n"), b"2\r\n{}\r\n0\r\n\r\n"


@pytest.mark.parametrize(
    "head, body, status, reason",
    [
        (request("abc"), b"{}", 400, "Content-Length is not a size: 'abc'"),
        (request("-5"), b"{}", 400, "Content-Length is not a size: '-5'"),
        (request("1e3"), b"{}", 400, "not a size"),
        (request(None), b"", 411, "Content-Length required"),
        (request("2", "Content-Length: 3\r\n"), b"{}", 400, "conflicting Content-Length"),
        (*CHUNKED, 411, "chunked bodies are not accepted"),
        (request(str(2 << 20)), b"", 413, "body too large: 2097152 bytes (at most 1048576)"),
        (request("10"), b"{", 408, "no body within 5 s"),  # the rest never comes
    ],
    ids=["text", "negative", "exponent", "none", "two", "chunked", "huge", "stalled"],
)
def test_malformed_requests_are_answered_and_closed(receiver, head, body, status, reason):
    """The body's extent is unknown or unread: answered, then the connection closed."""
    answer = exchange(receiver, head, body)
    assert answer[0] == status and reason in answer[1].decode() and answer[2]
    assert answer[1].count(b"\n") == 1  # one line
    nothing_written(receiver)


@pytest.mark.parametrize("opening, closing", [(b"[", b"]"), (b'{"a":', b"}")])
def test_a_100k_deep_body_gets_400(receiver, opening, closing):
    deep = opening * 100_000 + b"1" + closing * 100_000
    answer = exchange(receiver, request(str(len(deep))), deep)
    assert answer[0] == 400 and b"nested deeper than 64 levels" in answer[1]
    nothing_written(receiver)


def corrupt(index: int, path: str, value: object) -> dict:
    event = json.loads(json.dumps(CAPTURE[index]))
    *parents, last = path.split(".")
    target = event
    for name in parents:
        target = target[name]
    target[last] = value
    return event


@pytest.mark.parametrize(
    "event, reason",
    [
        (corrupt(0, "metadata", "a string"), "metadata is not a JSON object"),
        (corrupt(0, "metadata.parameters", ["x"]), "metadata.parameters is not a JSON object"),
        (corrupt(0, "metadata.workflow.start", "yesterday"), "metadata.workflow.start: not a date"),
        (corrupt(0, "metadata.workflow.start", 1e300), "not a date"),
        (corrupt(0, "metadata.workflow.start", {"year": 2023}), "not a date"),
        (corrupt(0, "metadata.workflow.userName", ["abought"]), "userName is not text"),
        (corrupt(0, "metadata.workflow.success", "yes"), "success is not true or false"),
        (corrupt(0, "runName", "x" * 300), "longer than 254 characters"),
        (corrupt(3, "trace.realtime", "fast"), "'realtime' (realtime_ms) is not a number"),
        (corrupt(3, "trace.peak_rss", True), "(peak_rss) is not a number"),
        (corrupt(3, "trace.start", "noon"), "trace.start: not a date"),
        (corrupt(3, "trace.exit", "0"), "trace.exit is not a whole number"),
        (corrupt(3, "trace.attempt", 10**30), "trace.attempt is not a whole number"),
        (corrupt(3, "trace.native_id", [1]), "trace.native_id is not a number or text"),
        (corrupt(3, "trace.workdir", "/"), "trace.workdir is not a task work dir"),
        (corrupt(3, "trace", {}), "trace has neither a workdir nor a hash"),
        (corrupt(10, "trace", "boom"), "trace is not a JSON object"),
    ],
    ids=lambda value: None if isinstance(value, dict) else value.split(":")[0][:30],
)
def test_events_that_cannot_be_applied_get_400_and_write_nothing(receiver, event, reason):
    answer = exchange(receiver, request(str(len(body := as_nextflow_sends(event)))), body)
    assert answer[0] == 400 and reason in answer[1].decode() and not answer[2]
    assert answer[1].decode().startswith("not a Nextflow weblog event: ")
    assert receiver.rejected == 1
    nothing_written(receiver)


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_json_constants_that_are_not_numbers_are_refused(receiver, constant):
    body = as_nextflow_sends(CAPTURE[3]).replace(b'"realtime": 0,', b'"realtime": %s,' % constant)
    assert b'"realtime": %s,' % constant in body
    answer = exchange(receiver, request(str(len(body))), body)
    assert answer[0] == 400 and b"is not a JSON number" in answer[1]
    nothing_written(receiver)


def test_a_command_line_with_unbalanced_quotes_is_recorded(receiver):
    started = corrupt(0, "metadata.workflow.commandLine", 'nextflow run hello.nf --x "y')
    started["metadata"]["workflow"]["projectName"] = None  # the key comes from the command
    started["metadata"]["workflow"]["manifest"]["name"] = None
    assert post(receiver.url, as_nextflow_sends(started)) == 200
    receiver.drain()
    assert receiver.failed == 0
    assert tl.Run.get(reference=f"{SESSION}/insert_id_here").transform.key == "hello.nf"


def test_an_error_event_with_an_empty_trace_is_accepted(receiver):
    """Nextflow's ``error`` event carries the failing task's trace, or none."""
    error = {**CAPTURE[0], "event": "error", "trace": {}}
    error.pop("metadata")
    for event in (CAPTURE[0], error):
        assert post(receiver.url, as_nextflow_sends(event)) == 200
    receiver.drain()
    workflow = tl.Run.get(reference=f"{SESSION}/insert_id_here")
    assert (workflow.status, workflow.error) == ("started", "the workflow failed")


def test_a_silent_connection_is_closed(receiver):
    host, port = receiver.server.server_address[:2]
    with socket.create_connection((host, port), timeout=GUARD) as sock:
        assert sock.recv(1) == b""  # closed by the server after its timeout


def open_connections(where: tuple[str, int]) -> list[socket.socket]:
    """A kept-alive connection after a request, an idle one, one stuck in a body."""
    kept, idle, stuck = (socket.create_connection(where, timeout=GUARD) for _ in "abc")
    body = as_nextflow_sends(CAPTURE[0])
    kept.sendall(request(str(len(body))) + body)
    assert kept.recv(65536).startswith(b"HTTP/1.1 200")
    stuck.sendall(request("1000") + b"{")
    return [kept, idle, stuck]


def test_stop_is_prompt_with_open_connections(local_instance):
    receiver = Receiver().start()  # the default timeout: a minute of silence allowed
    sockets = open_connections(address(receiver))
    stopper = threading.Thread(target=receiver.stop)
    stopper.start()
    stopper.join(GUARD)
    assert not stopper.is_alive(), "stop() waited on the open connections"
    assert all(map(ended, sockets))  # each one closed by the server
    for sock in sockets:
        sock.close()
    assert receiver.received == 1 and tl.Run.filter(engine="nextflow").count() == 1
    assert post_refused(receiver)


def post_refused(receiver: Receiver) -> bool:
    try:
        post(receiver.url, as_nextflow_sends(CAPTURE[0]))
    except OSError:
        return True
    return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_stops_on_signals_with_connections_open(local_instance, signum):
    server = subprocess.Popen(
        [sys.executable, "-c", "from threadline.cli import main; main()", *SERVE],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stderr.readline().split()[-1]
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        sockets = open_connections((host, int(port)))
        server.send_signal(signum)
        _, rest = server.communicate(timeout=GUARD)
    finally:
        server.kill()
        server.wait()
    assert server.returncode == 0 and "Traceback" not in rest
    assert "received 1 events, rejected 0, failed 0" in rest
    assert all(map(ended, sockets))
    for sock in sockets:
        sock.close()
    assert tl.Run.get(reference=f"{SESSION}/insert_id_here").status == "started"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "99999"], "error: port must be a number from 0 to 65535, not 99999"),
        (["--port", "-1"], "error: port must be a number from 0 to 65535, not -1"),
        (["--host", "no.such.host.invalid"], "error: cannot listen on no.such.host.invalid:"),
    ],
)
def test_bad_ports_and_hosts_are_one_line_errors(local_instance, args, message):
    result = CliRunner().invoke(main, ["nextflow", "serve", *args])
    assert (result.exit_code, result.stderr.count("\n")) == (1, 1)
    assert result.stderr.startswith(message)


def test_a_port_in_use_is_a_one_line_error(local_instance):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["nextflow", "serve", "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    config = CliRunner().invoke(main, ["nextflow", "config", "--port", "70000"])
    assert (config.exit_code, config.stderr) == (
        1,
        "error: port must be a number from 0 to 65535, not 70000\n",
    )
