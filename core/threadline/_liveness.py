"""Runs that end: SIGTERM ends open runs like Ctrl-C, and dead runs are recognised.

A run started by ``track()`` or ``@flow``/``@step`` records its process: ``hostname``,
``pid`` and ``process_start`` (seconds since the epoch, from ``/proc`` on Linux; None
elsewhere). A run still ``started`` on this host whose process is gone, or whose pid now
belongs to a process started at another time, is dead: ``dead_runs()`` lists them and
``abort_dead_runs()`` marks them ``aborted`` (``threadline check --fix``). Runs of other
hosts are never judged: their processes cannot be seen from here.

``install_sigterm()`` (called when a run starts in the main thread) makes SIGTERM raise
``SystemExit(143)`` so that open runs unwind and end ``aborted``, as Ctrl-C does with
``KeyboardInterrupt``. A handler set before is called instead (chained); an ignored
SIGTERM stays ignored.
"""

import signal
import threading
from types import FrameType
from typing import Any

from ._process import HOST, is_alive, process_fields, process_start
from .adapters import finish_run
from .models import Run

__all__ = [
    "HOST",
    "abort_dead_runs",
    "dead_run_rows",
    "dead_runs",
    "install_sigterm",
    "is_alive",
    "process_fields",
    "process_start",
    "terminated",
]

_state: dict[str, Any] = {"installed": False, "signal": None}


def dead_runs() -> list[Run]:
    """Runs still ``started`` on this host whose process is gone."""
    query = Run.select().where(
        (Run.status == "started") & (Run.hostname == HOST) & Run.pid.is_null(False)
    )
    runs = query.order_by(Run.id)  # type: ignore[misc]
    return [run for run in runs if run.pid is not None and not is_alive(run.pid, run.process_start)]


def abort_dead_runs() -> list[Run]:
    """Mark every dead run ``aborted``; returns them."""
    runs = dead_runs()
    for run in runs:
        finish_run(run, "aborted", error=f"process {run.pid} on {run.hostname} is gone")
    return runs


def dead_run_rows(fix: bool = False) -> list[dict[str, Any]]:
    """``dead_runs()`` (or, with ``fix``, ``abort_dead_runs()``) as rows for ``check``."""
    runs = abort_dead_runs() if fix else dead_runs()
    issue = "dead run, aborted" if fix else "dead run"
    return [
        {"uid": r.uid, "transform": r.transform.key, "host": r.hostname, "pid": r.pid}
        | {"issue": issue}
        for r in runs
    ]


def terminated() -> int | None:
    """The signal that ended this process through ``install_sigterm``'s handler, if any."""
    return _state["signal"]  # type: ignore[no-any-return]


def install_sigterm() -> None:
    """Make SIGTERM end open runs as ``aborted`` (once per process, main thread only)."""
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    _state["installed"] = True
    if previous in (signal.SIG_IGN, None):
        return  # ignored, or set outside Python: leave it as it is

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if callable(previous):
            try:
                previous(signum, frame)
            except BaseException:
                _state["signal"] = signum
                raise
            return
        _state["signal"] = signum
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
