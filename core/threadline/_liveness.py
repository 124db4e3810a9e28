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

import functools
import os
import signal
import socket
import threading
from types import FrameType
from typing import Any

from .adapters import finish_run
from .models import Run

HOST = socket.gethostname()
_state: dict[str, Any] = {"installed": False, "signal": None}


@functools.cache
def _boot_time() -> float | None:
    try:
        with open("/proc/stat", "rb") as handle:
            for line in handle:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def _stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rpartition(b")")[2].split()
    except OSError:
        return None


def process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), where the OS says."""
    fields, boot = _stat(pid), _boot_time()
    if fields is None or boot is None or len(fields) < 20:
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_fields() -> dict[str, Any]:
    """The run fields that name this process (looked up once per process)."""
    pid = os.getpid()
    if _state.get("pid") != pid:  # first call, or a forked child
        _state.update(pid=pid, start=process_start(pid))
    return {"hostname": HOST, "pid": pid, "process_start": _state["start"]}


def is_alive(pid: int, started: float | None) -> bool:
    """Whether process ``pid`` still runs and is the one that started at ``started``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    fields = _stat(pid)
    if fields is not None and fields[0] in (b"Z", b"X"):
        return False  # a zombie: it has ended, its parent has not reaped it yet
    now = process_start(pid)
    return started is None or now is None or abs(now - started) < 2.0


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
