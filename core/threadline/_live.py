"""Live OpenLineage events: what the run-recording code calls as runs start and end.

When the instance names an OpenLineage endpoint (``openlineage_url`` in threadline.toml,
or ``THREADLINE_OPENLINEAGE_URL``), ``runs_started`` queues each run's ``START`` event and
``runs_ended`` its ``COMPLETE``, ``FAIL`` or ``ABORT`` event for the background sender;
otherwise both return at once. Neither ever raises nor waits on the network: a failure
here is logged once and the engine goes on.
"""

import logging
import os
from collections.abc import Iterable

from . import _context
from ._openlineage_send import live_sender
from .export import run_events
from .models import Run

ENV_URL = "THREADLINE_OPENLINEAGE_URL"
log = logging.getLogger("threadline.openlineage")
_failed_once: set[str] = set()


def endpoint() -> str | None:
    """The live OpenLineage URL of the current instance, if it names one."""
    url = os.environ.get(ENV_URL)  # set after the instance opened: still honoured
    if url:
        return url
    return _context.instance().settings.openlineage_url  # a run was just written: it is open


def runs_started(runs: Iterable[Run]) -> None:
    """Queue the ``START`` event of each run (runs still ``scheduled`` have none)."""
    _queue(runs, started=True)


def runs_ended(runs: Iterable[Run]) -> None:
    """Queue the end event of each ended run (``COMPLETE``, ``FAIL``, ``ABORT``)."""
    _queue(runs, started=False)


def _queue(runs: Iterable[Run], started: bool) -> None:
    url = None
    try:
        url = endpoint()
        if not url:
            return
        chosen = [r for r in runs if r.id is not None]
        events = [event for _, kind, _, event in run_events(chosen) if (kind == "START") == started]
        live_sender(url).put(events)
    except Exception as exc:  # never into the engine
        if str(url) not in _failed_once:
            _failed_once.add(str(url))
            log.warning("cannot queue OpenLineage events for %s: %s", url, exc, exc_info=True)
