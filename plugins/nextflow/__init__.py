"""threadline.nextflow: record Nextflow runs from what Nextflow writes.

``ingest(launch_dir)`` reads a launch directory after (or during) a run: the trace file,
the lineage store (25.04+), the task work dirs, ``.nextflow/history`` and ``.nextflow.log``,
and records a workflow run with a child run per task and their files as artifacts.
``ingest_traces(path)`` records runs from trace files alone (the launch folder gone).
``Receiver`` records weblog events live; ``run_nextflow`` wraps ``nextflow`` with both.
The readers of each format are public too, for scripts that want the parsed data alone.
See docs/nextflow.md.
"""

from threadline.errors import EventError, TraceError

from ._config import config_text
from ._history import HistoryRun, read_history
from ._ingest import IngestResult, find_trace, ingest, ingest_traces
from ._lineage import LineageStore, Record, read_store
from ._run import RunResult, run_nextflow
from ._server import Receiver
from ._trace import (
    EXTENDED_FIELDS,
    TraceRecord,
    parse_date,
    parse_duration,
    parse_memory,
    parse_percent,
    read_trace,
)
from ._workdir import WorkDir, parse_command_trace, read_workdir

__all__ = [
    "EXTENDED_FIELDS",
    "EventError",
    "HistoryRun",
    "IngestResult",
    "LineageStore",
    "Receiver",
    "Record",
    "RunResult",
    "TraceError",
    "TraceRecord",
    "WorkDir",
    "config_text",
    "find_trace",
    "ingest",
    "ingest_traces",
    "parse_command_trace",
    "parse_date",
    "parse_duration",
    "parse_memory",
    "parse_percent",
    "read_history",
    "read_store",
    "read_trace",
    "read_workdir",
    "run_nextflow",
]
