"""``.nextflow/history`` (the table behind ``nextflow log``) and ``.nextflow.log`` task lines.

History: one TSV line per run, ``timestamp, duration, runName, status (OK|ERR|-),
revisionId (= scriptId), sessionId, command line``. The log is a last resort for the tasks
of a run that wrote neither a trace file nor a lineage store: its
``Task completed > TaskHandler[id: 1; name: ...; status: ...; exit: 0; ...; workDir: ...]``
lines.
"""

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

STATUS = {"OK": "completed", "ERR": "errored"}
_TASK = re.compile(
    r"Task completed > TaskHandler\[id: (?P<id>\d+); name: (?P<name>.*?); "
    r"status: (?P<status>\w+); exit: (?P<exit>-?\w+);.*workDir: (?P<dir>[^\]]+)\]"
)
_RUN_NAME = re.compile(r"Run name: (?P<name>\S+)")


@dataclass(frozen=True)
class HistoryRun:
    """One line of ``.nextflow/history``."""

    started_at: dt.datetime | None
    duration: str | None
    run_name: str
    status: str | None  # threadline's status: completed, errored, or None (never finished)
    script_id: str
    session_id: str
    command: str


@dataclass(frozen=True)
class LoggedTask:
    """A ``Task completed`` line of ``.nextflow.log``."""

    task_id: str
    name: str
    status: str
    exit_status: int | None
    workdir: str


def read_history(path: str | Path) -> list[HistoryRun]:
    """Every run in the file, oldest first; malformed lines are skipped."""
    runs = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        cells = line.split("\t")
        if len(cells) < 7:
            continue
        try:
            started = dt.datetime.strptime(cells[0], "%Y-%m-%d %H:%M:%S")
        except ValueError:
            started = None
        runs.append(
            HistoryRun(
                started,
                None if cells[1] == "-" else cells[1],
                cells[2],
                STATUS.get(cells[3]),
                cells[4],
                cells[5],
                "\t".join(cells[6:]),
            )
        )
    return runs


def find_run(runs: list[HistoryRun], run_name: str | None) -> HistoryRun | None:
    """The run named ``run_name``, or the latest one."""
    if run_name is None:
        return runs[-1] if runs else None
    return next((r for r in reversed(runs) if r.run_name == run_name), None)


def logged_tasks(path: str | Path, run_name: str) -> list[LoggedTask]:
    """The completed tasks a ``.nextflow.log`` records, if it is the log of ``run_name``."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    named = _RUN_NAME.search(text)
    if named is None or named["name"] != run_name:
        return []
    return [
        LoggedTask(
            m["id"],
            m["name"],
            m["status"],
            int(m["exit"]) if m["exit"].lstrip("-").isdigit() else None,
            m["dir"].strip(),
        )
        for m in _TASK.finditer(text)
    ]
