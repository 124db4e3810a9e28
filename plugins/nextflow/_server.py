"""``threadline nextflow serve``: an HTTP receiver for weblog events.

Nextflow posts each event once, from one thread, in order, and does not retry: the
receiver checks each body at once (``_validate``) and answers 200, or 400 with the reason
for a body that applying would fail on; accepted events are applied in arrival order on
one worker thread, so a slow database never slows Nextflow down. Bodies are decoded as
latin-1, as Nextflow writes only the low byte of each char.

Hostile requests cannot hold the receiver: a body must state its size in one decimal
``Content-Length`` of at most ``max_body`` bytes (else 411, 400 or 413 before anything is
read), a connection silent for ``timeout`` seconds is closed (408 in the middle of a
body), and ``stop()`` shuts open keep-alive connections down so that it returns promptly.
"""

import base64
import binascii
import contextlib
import hmac
import logging
import queue
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from threadline.errors import ConfigError, EventError, InvalidInput

from ._events import EventHandler
from ._validate import parse_body

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024 * 1024  # a real `completed` event with its params: tens of KB
TIMEOUT = 60.0  # seconds a connection may stay silent (Java keeps idle ones 5 s)
BATCH = 500  # events applied per transaction of features


class _Server(ThreadingHTTPServer):
    """Keeps its open connections, so that stopping can shut them down."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]):
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every handler thread blocked on a client: its reads now end at once."""
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):  # already closed by the client
                    connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("weblog: connection from %s ended badly", client_address[0], exc_info=True)


class Receiver:
    """A weblog receiver on ``host:port`` (port 0: a free one); ``url`` once started."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        *,
        max_body: int = MAX_BODY,
        timeout: float = TIMEOUT,
    ):
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidInput(f"port must be a number from 0 to 65535, not {port!r}")
        self.handler = EventHandler()
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.token = token
        self.max_body = max_body
        self.timeout = timeout
        self.received = 0
        self.rejected = 0
        self.failed = 0
        self._stopping = False
        self._lock = threading.Lock()
        try:
            self.server = _Server((host, port), _make_handler(self))
        except OSError as exc:  # in use, not allowed, no such address
            reason = exc.strerror or str(exc)
            raise ConfigError(f"cannot listen on {host}:{port}: {reason}") from None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.server.socket.getsockname()[:2]
        return f"http://{host}:{port}/"

    @property
    def serving(self) -> bool:
        return bool(self._threads) and self._threads[0].is_alive()

    def start(self) -> "Receiver":
        for target in (self.server.serve_forever, self._work):
            thread = threading.Thread(target=target, daemon=True, name="nextflow-weblog")
            thread.start()
            self._threads.append(thread)
        return self

    def wait(self, stop: threading.Event | None = None) -> None:
        """Block until the server stops, or until ``stop`` is set (a signal handler)."""
        stop = stop or threading.Event()
        while self.serving and not stop.wait(0.2):
            pass

    def drain(self) -> None:
        """Wait until every accepted event has been applied."""
        self.queue.join()

    def stop(self) -> None:
        """Refuse new events, close every connection, apply what was accepted, return
        (also when never started)."""
        with self._lock:
            self._stopping = True
        if self._threads:
            self.server.shutdown()  # the accept loop ends within its 0.5 s poll
        self.server.server_close()
        self.server.close_connections()
        if self._threads:
            self.queue.put(None)
        for thread in self._threads:
            thread.join()

    def accept(self, body: bytes) -> tuple[int, str] | None:
        """Check and queue one body; else the status and reason to refuse it with."""
        try:
            event = parse_body(body)
        except EventError as exc:
            self.rejected += 1
            return 400, "not a Nextflow weblog event: " + str(exc).splitlines()[0][:200]
        except Exception:  # a check that broke: still an answer, and the reason logged
            log.exception("weblog: could not check a body")
            self.rejected += 1
            return 400, "not a Nextflow weblog event: it could not be checked"
        with self._lock:
            if self._stopping:
                return 503, "the receiver is stopping"
            self.received += 1
            self.queue.put(event)
        return None

    def authorized(self, header: str | None) -> bool:
        if self.token is None:
            return True
        scheme, _, value = (header or "").partition(" ")
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        return scheme == "Basic" and hmac.compare_digest(given, self.token.encode())

    def _work(self) -> None:
        """Apply events in arrival order, in batches of what has arrived meanwhile."""
        stop = False
        while not stop:
            batch = [self.queue.get()]
            while len(batch) < BATCH and not self.queue.empty():
                batch.append(self.queue.get())
            stop = batch[-1] is None
            events = [e for e in batch if e is not None]
            try:
                self._apply(events)
            finally:
                for _ in batch:
                    self.queue.task_done()

    def _apply(self, events: list[dict[str, Any]]) -> None:
        try:
            self.handler.apply_many(events)
        except Exception:  # one event at a time, to log the one that fails and go on
            for event in events:
                try:
                    self.handler.apply(event)
                except Exception:  # never stop receiving
                    self.failed += 1
                    log.exception(
                        "weblog: could not record %s event of %s",
                        event.get("event"),
                        event.get("runName"),
                    )


def body_length(values: list[str], limit: int) -> tuple[int, str] | int:
    """The body size a request states, or ``(status, reason)`` to refuse it with."""
    if not values:
        return 411, "Content-Length required (chunked bodies are not accepted)"
    if len(set(values)) > 1:
        return 400, "conflicting Content-Length headers"
    text = values[0].strip()
    if not (text.isascii() and text.isdigit()):
        return 400, f"Content-Length is not a size: {text[:40]!r}"
    if int(text) > limit:
        return 413, f"body too large: {text} bytes (at most {limit})"
    return int(text)


def _make_handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Java's HttpURLConnection uses
        wbufsize = -1  # headers and body leave in one write (flushed per request) ...
        disable_nagle_algorithm = True  # ... at once, without waiting for a delayed ACK
        timeout = receiver.timeout  # a silent client is dropped, never held forever

        def do_POST(self) -> None:
            if not receiver.authorized(self.headers.get("Authorization")):
                self._answer(401, "unauthorized", close=True)
                return
            if self.headers.get("Transfer-Encoding"):
                self._answer(411, "chunked bodies are not accepted: send Content-Length", True)
                return
            length = body_length(self.headers.get_all("Content-Length") or [], receiver.max_body)
            if isinstance(length, tuple):
                self._answer(*length, close=True)  # the body is not read: the stream is lost
                return
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                self._answer(408, f"no body within {receiver.timeout:g} s", close=True)
                return
            if len(body) < length:
                self.close_connection = True  # the client went away mid-body
                return
            refused = receiver.accept(body)
            if refused is not None:
                log.warning(
                    "weblog: rejected a body from %s: %s", self.client_address[0], refused[1]
                )
                self._answer(*refused)
            else:
                self._answer(200, "ok")

        def _answer(self, code: int, text: str, close: bool = False) -> None:
            data = (text + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("weblog: " + format, *args)

    return Handler
