"""The process a run runs in: host, pid and start time, and whether it still runs.

No threadline imports: the adapter API and tracking both stamp runs with
``process_fields()``; ``_liveness`` judges them with ``is_alive``.
"""

import functools
import os
import socket
from typing import Any

HOST = socket.gethostname()
_self: dict[str, Any] = {}


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
    if _self.get("pid") != pid:  # first call, or a forked child
        _self.update(pid=pid, start=process_start(pid))
    return {"hostname": HOST, "pid": pid, "process_start": _self["start"]}


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
