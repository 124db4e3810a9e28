"""Nextflow trace files (``-with-trace``): default and raw formats, every field.

A trace file is a TSV whose header names the fields (``TraceRecord.FIELDS``). Values are
``-`` when missing; in the default format dates, durations, sizes and percentages are
human-readable (``2021-03-29 19:50:21.822``, ``4m 19s``, ``3.1 MB``, ``24.1%``), with
``trace.raw = true`` they are plain numbers (epoch ms, ms, bytes, a float). Both parse to
the same values: datetimes, milliseconds, bytes and floats.
"""

import datetime as dt
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# formatter type of every TraceRecord field (Nextflow's TraceRecord.FIELDS)
FIELD_TYPES: dict[str, str] = {
    "task_id": "str", "hash": "str", "native_id": "str", "process": "str", "module": "str",
    "container": "str", "tag": "str", "name": "str", "status": "str", "exit": "num",
    "submit": "date", "start": "date", "complete": "date", "duration": "time",
    "realtime": "time", "%cpu": "perc", "%mem": "perc", "rss": "mem", "vmem": "mem",
    "peak_rss": "mem", "peak_vmem": "mem", "rchar": "mem", "wchar": "mem", "syscr": "num",
    "syscw": "num", "read_bytes": "mem", "write_bytes": "mem", "attempt": "num",
    "workdir": "str", "script": "str", "scratch": "str", "queue": "str", "cpus": "num",
    "memory": "mem", "disk": "mem", "time": "time", "env": "str", "error_action": "str",
    "vol_ctxt": "num", "inv_ctxt": "num", "hostname": "str", "cpu_model": "str",
    "accelerator": "num", "accelerator_type": "str",
}

# the fields threadline asks for in the config it writes (every metric a task has)
EXTENDED_FIELDS = (
    "task_id", "hash", "native_id", "process", "tag", "name", "status", "exit", "module",
    "container", "cpus", "time", "disk", "memory", "attempt", "submit", "start", "complete",
    "duration", "realtime", "queue", "%cpu", "%mem", "rss", "vmem", "peak_rss", "peak_vmem",
    "rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes", "vol_ctxt", "inv_ctxt",
    "workdir", "scratch", "error_action", "hostname", "cpu_model",
)

log = logging.getLogger(__name__)
NO_EXIT = 2147483647  # Integer.MAX_VALUE: no exit status yet
_UNITS = {"B": 0, "KB": 1, "MB": 2, "GB": 3, "TB": 4, "PB": 5, "EB": 6, "ZB": 7}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


class TraceError(ValueError):
    """A trace file or value that cannot be read."""


@dataclass(frozen=True)
class TraceRecord:
    """One row of a trace file: a task attempt (retries and cached tasks are rows too)."""

    values: tuple[tuple[str, Any], ...]

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.values).get(name, default)

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self.values)

    @property
    def process(self) -> str | None:
        """The process name: the ``process`` field, else ``name`` without its ``(tag)``."""
        return self.get("process") or split_name(self.get("name"))[0]

    @property
    def tag(self) -> str | None:
        return self.get("tag") or split_name(self.get("name"))[1]


def split_name(name: str | None) -> tuple[str | None, str | None]:
    """``"CONVERTTOUPPER (2)"`` -> ``("CONVERTTOUPPER", "2")``."""
    if not name:
        return None, None
    match = re.fullmatch(r"(.*?) \((.*)\)", name)
    return (match[1], match[2]) if match else (name, None)


def parse_duration(text: str) -> int:
    """Milliseconds from ``250ms``, ``3.2s``, ``1m 47s``, ``1d 2h`` or raw ``1234``."""
    text = text.strip()
    if _NUMBER.fullmatch(text):
        return round(float(text))
    parts = _DURATION_PART.findall(text.replace(" ", ""))
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise TraceError(f"not a Nextflow duration: {text!r}")
    return round(sum(float(n) * _MS[u] for n, u in parts))


def parse_memory(text: str) -> int:
    """Bytes from ``468 B``, ``1005.7 KB``, ``1.5 GB``, ``0`` or raw ``1234``."""
    text = text.strip()
    if _NUMBER.fullmatch(text):
        return round(float(text))
    number, _, unit = text.partition(" ")
    if unit not in _UNITS or not _NUMBER.fullmatch(number):
        raise TraceError(f"not a Nextflow memory size: {text!r}")
    return round(float(number) * (1 << (10 * _UNITS[unit])))


def parse_percent(text: str) -> float:
    """``24.1%`` or raw ``24.1`` -> 24.1."""
    text = text.strip().removesuffix("%")
    if not _NUMBER.fullmatch(text):
        raise TraceError(f"not a percentage: {text!r}")
    return float(text)


def parse_date(text: str) -> dt.datetime:
    """``2021-03-29 19:50:21.822`` (local time, kept naive) or raw epoch ms (UTC, naive)."""
    text = text.strip()
    if _NUMBER.fullmatch(text):
        return dt.datetime.fromtimestamp(int(float(text)) / 1000, dt.UTC).replace(tzinfo=None)
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")
    except ValueError:
        raise TraceError(f"not a Nextflow date: {text!r}") from None


def parse_value(field: str, text: str) -> Any:
    """One cell, by the field's formatter type; ``-`` and ``""`` are None."""
    if text in ("-", ""):
        return None
    kind = FIELD_TYPES.get(field, "str")
    if kind == "time":
        return parse_duration(text)
    if kind == "mem":
        return parse_memory(text)
    if kind == "perc":
        return parse_percent(text)
    if kind == "date":
        return None if text == "0" else parse_date(text)
    if kind == "num":
        if not _NUMBER.fullmatch(text):
            raise TraceError(f"field {field}: not a number: {text!r}")
        number = float(text)
        if field == "exit" and number == NO_EXIT:
            return None
        return int(number) if number.is_integer() else number
    return text


def iter_trace(path: str | Path, sep: str = "\t") -> Iterator[TraceRecord]:
    """The rows of a trace file, in file order (completion order, not task_id order)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        header = handle.readline().rstrip("\r\n").split(sep)
        if "task_id" not in header and "hash" not in header and "name" not in header:
            raise TraceError(f"{path}: not a Nextflow trace file (header {header[:3]})")
        for number, line in enumerate(handle, start=2):
            cells = line.rstrip("\r\n").split(sep)
            if cells == [""]:
                continue
            if len(cells) != len(header) and not line.endswith("\n"):
                log.warning("%s:%d: skipped a truncated last row", path, number)
                return  # the row Nextflow was writing when it stopped
            if len(cells) != len(header):
                raise TraceError(f"{path}:{number}: {len(cells)} cells, header has "
                                 f"{len(header)}")
            try:
                yield TraceRecord(tuple((f, parse_value(f, c))
                                        for f, c in zip(header, cells, strict=True)))
            except TraceError as exc:
                raise TraceError(f"{path}:{number}: {exc}") from None


def read_trace(path: str | Path, sep: str = "\t") -> list[TraceRecord]:
    return list(iter_trace(path, sep))
