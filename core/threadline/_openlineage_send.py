"""Delivering OpenLineage events: all at once (``threadline export openlineage --url``)
or live, as runs start and end, when the instance names an ``openlineage_url``.

Delivery uses the ``openlineage-python`` client's HTTP transport (``pip install
threadline[openlineage]``). Live events go through a queue drained by one background
thread, so an endpoint that is slow or down never blocks or fails the engine: events wait
in the queue (at most ``QUEUE_SIZE``, the oldest dropped beyond), and a warning is logged
once per endpoint outage. At exit the queue gets up to ``EXIT_WAIT_S`` to drain (the
sender thread would otherwise die with the process, and a short script's last events, its
runs' ends, with it), unless the endpoint is already known to be down.
"""

import atexit
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterable
from typing import Any

from .errors import InvalidInput, ThreadlineError

log = logging.getLogger("threadline.openlineage")
QUEUE_SIZE = 10_000
RETRY_S = 5.0  # wait between tries while the endpoint is down
TIMEOUT_S = 5.0
EXIT_WAIT_S = 10.0  # at exit, how long queued events may still take to go


class DeliveryError(ThreadlineError):
    """An OpenLineage endpoint refused or did not answer."""


def transport(url: str) -> Any:
    """The openlineage-python HTTP transport posting to ``url`` (its /api/v1/lineage)."""
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"OpenLineage URL must start with http:// or https://, not {url!r}")
    try:
        from openlineage.client.transport.http import HttpConfig, HttpTransport
    except ImportError as exc:  # pragma: no cover (the extra is installed in tests)
        raise InvalidInput(
            "posting OpenLineage events needs openlineage-python: "
            "pip install 'threadline[openlineage]'"
        ) from exc
    config = HttpConfig.from_dict(
        {"url": url, "timeout": TIMEOUT_S, "retry": {"total": 0, "connect": 0, "read": 0}}
    )
    return HttpTransport(config)


def post_events(events: Iterable[dict[str, Any]], url: str) -> int:
    """POST each event to the OpenLineage endpoint at ``url``; returns how many went.
    The first refusal stops with one ``DeliveryError`` naming the endpoint."""
    sender = transport(url)
    sent = 0
    for event in events:
        try:
            sender.emit(event)
        except Exception as exc:  # requests' and urllib3's errors, HTTP statuses
            raise DeliveryError(
                f"cannot post OpenLineage events to {url}: {_reason(exc)} ({sent} sent before)"
            ) from exc
        sent += 1
    return sent


def _reason(exc: BaseException) -> str:
    """The root cause in a few words: an OS error's own text (``Connection refused``,
    ``timed out``) rather than the library's wrapping of it, else the error's first
    200 characters."""
    cause: BaseException | None = exc
    seen: list[BaseException] = []
    while cause is not None and cause not in seen:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


class LiveSender:
    """Posts events from a queue on a daemon thread; ``put`` never blocks."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(QUEUE_SIZE)
        self.warned = False
        self.sent = 0
        self._transport = transport(url)
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._drain, name="threadline-openlineage", daemon=True
        )
        self._thread.start()

    def put(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            try:
                self.queue.put_nowait(event)
            except queue.Full:  # keep the newest: drop the oldest
                with contextlib.suppress(queue.Empty):
                    self.queue.get_nowait()
                self.queue.put_nowait(event)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is empty (for tests and at exit); True when it is."""
        done = threading.Event()

        def wait() -> None:
            self.queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def _drain(self) -> None:
        while True:
            event = self.queue.get()
            while not self._send(event):
                self._wake.wait(RETRY_S)
            self.queue.task_done()

    def _send(self, event: dict[str, Any]) -> bool:
        try:
            self._transport.emit(event)
        except Exception as exc:  # never into the engine: log once per outage
            if not self.warned:
                self.warned = True
                log.warning(
                    "OpenLineage endpoint %s unreachable (%s): events are queued and "
                    "sent when it answers",
                    self.url,
                    _reason(exc),
                )
            return False
        self.warned = False
        self.sent += 1
        return True


_senders: dict[str, LiveSender] = {}
_lock = threading.Lock()


def live_sender(url: str) -> LiveSender:
    """The one live sender for ``url`` in this process."""
    with _lock:
        if url not in _senders:
            _senders[url] = LiveSender(url)
        return _senders[url]


def _deliver_at_exit() -> None:
    """Give each sender's queue a bounded time to drain before the process ends; an
    endpoint in an outage is not waited for. Registered at import, before tracking's own
    exit handler (which ends open runs), so it runs after it and sends those ends too."""
    deadline = time.monotonic() + EXIT_WAIT_S
    for sender in list(_senders.values()):
        if not sender.warned:
            sender.flush(max(0.0, deadline - time.monotonic()))


atexit.register(_deliver_at_exit)
