"""``threadline nextflow serve``: an HTTP receiver for weblog events.

Nextflow posts each event once, from one thread, in order, and does not retry: the
receiver answers at once (200, or 400 for a body that is not an event) and applies the
events in arrival order on one worker thread, so a slow database never slows Nextflow
down. Bodies are decoded as latin-1, as Nextflow writes only the low byte of each char.
"""

import base64
import binascii
import hmac
import json
import logging
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._events import EventError, EventHandler, check_event

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024 * 1024
BATCH = 500  # events applied per transaction of features


class Receiver:
    """A weblog receiver on ``host:port`` (port 0: a free one); ``url`` once started."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None):
        self.handler = EventHandler()
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.token = token
        self.received = 0
        self.rejected = 0
        self.failed = 0
        self.server = ThreadingHTTPServer((host, port), _make_handler(self))
        self.server.daemon_threads = True
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.server.socket.getsockname()[:2]
        return f"http://{host}:{port}/"

    def start(self) -> "Receiver":
        for target in (self.server.serve_forever, self._work):
            thread = threading.Thread(target=target, daemon=True, name="nextflow-weblog")
            thread.start()
            self._threads.append(thread)
        return self

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C raises KeyboardInterrupt here)."""
        while self._threads[0].is_alive():
            self._threads[0].join(0.5)

    def drain(self) -> None:
        """Wait until every accepted event has been applied."""
        self.queue.join()

    def stop(self) -> None:
        """Apply what was accepted, then stop listening (also when never started)."""
        if self._threads:
            self.server.shutdown()
            self.queue.put(None)
        for thread in self._threads:
            thread.join()
        self.server.server_close()

    def accept(self, body: bytes) -> str | None:
        """Queue one body; the reason it is not an event otherwise."""
        try:
            event = check_event(json.loads(body.decode("latin-1")))
        except (ValueError, EventError) as exc:
            self.rejected += 1
            return str(exc).splitlines()[0][:200]
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


def _make_handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Java's HttpURLConnection uses
        wbufsize = -1  # headers and body leave in one write (flushed per request) ...
        disable_nagle_algorithm = True  # ... at once, without waiting for a delayed ACK

        def do_POST(self) -> None:
            if not receiver.authorized(self.headers.get("Authorization")):
                self._answer(401, "unauthorized")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, "body too large")
                return
            problem = receiver.accept(self.rfile.read(length))
            if problem is not None:
                log.warning("weblog: rejected a body from %s: %s", self.client_address[0], problem)
                self._answer(400, f"not a Nextflow weblog event: {problem}")
            else:
                self._answer(200, "ok")

        def _answer(self, code: int, text: str) -> None:
            data = (text + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("weblog: " + format, *args)

    return Handler
