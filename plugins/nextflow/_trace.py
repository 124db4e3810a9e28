"""Nextflow trace files (``-with-trace``): default and raw formats, every field.

A trace file is a TSV whose header names the fields (``TraceRecord.FIELDS``). Values are
``-`` when missing; in the default format dates, durations, sizes and percentages are
human-readable (``2021-03-29 19:50:21.822``, ``4m 19s``, ``3.1 MB``, ``24.1%``), with
``trace.raw = true`` they are plain numbers (epoch ms, ms, bytes, a float). Both parse to
the same values: datetimes, milliseconds, bytes and floats.
"""

import datetime as dt
import itertools
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadline.errors import TraceError

# formatter type of every TraceRecord field (Nextflow's TraceRecord.FIELDS)
FIELD_TYPES: dict[str, str] = {
    "task_id": "str",
    "hash": "str",
    "native_id": "str",
    "process": "str",
    "module": "str",
    "container": "str",
    "tag": "str",
    "name": "str",
    "status": "str",
    "exit": "num",
    "submit": "date",
    "start": "date",
    "complete": "date",
    "duration": "time",
    "realtime": "time",
    "%cpu": "perc",
    "%mem": "perc",
    "rss": "mem",
    "vmem": "mem",
    "peak_rss": "mem",
    "peak_vmem": "mem",
    "rchar": "mem",
    "wchar": "mem",
    "syscr": "num",
    "syscw": "num",
    "read_bytes": "mem",
    "write_bytes": "mem",
    "attempt": "num",
    "workdir": "str",
    "script": "str",
    "scratch": "str",
    "queue": "str",
    "cpus": "num",
    "memory": "mem",
    "disk": "mem",
    "time": "time",
    "env": "str",
    "error_action": "str",
    "vol_ctxt": "num",
    "inv_ctxt": "num",
    "hostname": "str",
    "cpu_model": "str",
    "accelerator": "num",
    "accelerator_type": "str",
}

# the fields threadline asks for in the config it writes (every metric a task has)
EXTENDED_FIELDS = (
    "task_id",
    "hash",
    "native_id",
    "process",
    "tag",
    "name",
    "status",
    "exit",
    "module",
    "container",
    "cpus",
    "time",
    "disk",
    "memory",
    "attempt",
    "submit",
    "start",
    "complete",
    "duration",
    "realtime",
    "queue",
    "%cpu",
    "%mem",
    "rss",
    "vmem",
    "peak_rss",
    "peak_vmem",
    "rchar",
    "wchar",
    "syscr",
    "syscw",
    "read_bytes",
    "write_bytes",
    "vol_ctxt",
    "inv_ctxt",
    "workdir",
    "scratch",
    "error_action",
    "hostname",
    "cpu_model",
)

log = logging.getLogger(__name__)
NO_EXIT = 2147483647  # Integer.MAX_VALUE: no exit status yet
_UNITS = {"B": 0, "KB": 1, "MB": 2, "GB": 3, "TB": 4, "PB": 5, "EB": 6, "ZB": 7}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)", re.ASCII)
_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", re.ASCII)
_DURATION = re.compile(
    r"(?:(\d+)d ?)?(?:(\d+)h ?)?(?:(\d+)m ?)?(?:(\d+(?:\.\d+)?)s)?"
    r"|(\d+)ms",
    re.ASCII,
)
_MISSING = frozenset({"-", ""})
_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", re.ASCII)
_DATES = re.compile(r"(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}(?:\n|\Z))*", re.ASCII)
_from_iso = dt.datetime.fromisoformat


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
    cut = name.find(" (")  # the first one: what ``(.*?) \((.*)\)`` matches, without re
    if cut < 0 or not name.endswith(")") or "\n" in name:
        return name, None
    return name[:cut], name[cut + 2 : -1]


def parse_duration(text: str) -> int:
    """Milliseconds from ``250ms``, ``3.2s``, ``1m 47s``, ``1d 2h`` or raw ``1234``."""
    text = text.strip()
    if text[-1:].isdigit() and _is_number(text):  # raw: plain milliseconds
        return round(float(text))
    usual = _DURATION.fullmatch(text)  # Duration.toString()'s own layouts, in one match
    if usual and text:
        d, h, m, sec, ms = usual.groups()
        return round(
            int(d or 0) * 86_400_000
            + int(h or 0) * 3_600_000
            + int(m or 0) * 60_000
            + float(sec or 0) * 1000
            + int(ms or 0)
        )
    parts = _DURATION_PART.findall(text.replace(" ", ""))
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise TraceError(f"not a Nextflow duration: {text!r}")
    return round(sum(float(n) * _MS[u] for n, u in parts))


def parse_memory(text: str) -> int:
    """Bytes from ``468 B``, ``1005.7 KB``, ``1.5 GB``, ``0`` or raw ``1234``."""
    number, _, unit = text.strip().partition(" ")
    if not unit and _is_number(number):
        return round(float(number))
    if unit not in _UNITS or not _is_number(number):
        raise TraceError(f"not a Nextflow memory size: {text!r}")
    return round(float(number) * (1 << (10 * _UNITS[unit])))


def parse_percent(text: str) -> float:
    """``24.1%`` or raw ``24.1`` -> 24.1."""
    text = text.strip().removesuffix("%")
    if not _is_number(text):
        raise TraceError(f"not a percentage: {text!r}")
    return float(text)


def parse_date(text: str) -> dt.datetime:
    """``2021-03-29 19:50:21.822`` (local time, kept naive) or raw epoch ms (UTC, naive)."""
    text = text.strip()
    if _DATE.fullmatch(text):  # the one layout Nextflow writes: fromisoformat reads it fast
        return dt.datetime.fromisoformat(text)
    if _is_number(text):  # raw: epoch milliseconds
        return dt.datetime.fromtimestamp(int(float(text)) / 1000, dt.UTC).replace(tzinfo=None)
    try:  # the same layout with fewer fraction digits (written by other tools)
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")
    except ValueError:
        raise TraceError(f"not a Nextflow date: {text!r}") from None


def _is_number(text: str) -> bool:
    """A plain decimal number (``12``, ``-3.5``, ``1e6``); unsigned ones, nearly every
    cell of a trace, without a regular expression."""
    plain = text.replace(".", "", 1)
    return (plain.isdigit() and plain.isascii()) or _NUMBER.fullmatch(text) is not None


def _parse_number(text: str) -> int | float | None:
    if not _is_number(text):
        raise TraceError(f"not a number: {text!r}")
    number = float(text)
    return int(number) if number.is_integer() else number


def _parse_exit(text: str) -> int | float | None:
    number = _parse_number(text)
    return None if number == NO_EXIT else number


_PARSERS: dict[str, Callable[[str], Any]] = {
    "time": parse_duration,
    "mem": parse_memory,
    "perc": parse_percent,
    "date": lambda text: None if text == "0" else parse_date(text),
    "num": _parse_number,
}


def _parser(field: str) -> Callable[[str], Any] | None:
    """How to read a field's cells (None: kept as text)."""
    return _parse_exit if field == "exit" else _PARSERS.get(FIELD_TYPES.get(field, "str"))


def parse_value(field: str, text: str) -> Any:
    """One cell, by the field's formatter type; ``-`` and ``""`` are None."""
    if text in ("-", ""):
        return None
    parse = _parser(field)
    try:
        return text if parse is None else parse(text)
    except TraceError as exc:
        raise TraceError(f"field {field}: {exc}") from None


_REMEMBERED = 65_536  # answers kept per column of a trace; cleared when full


def _remembering(parse: Callable[[str], Any] | None) -> Callable[[str], Any] | None:
    """``parse`` answering each text it saw before from a dict: Nextflow writes sizes,
    durations and percentages rounded (``1.7 GB``, ``4m 19s``), so a trace of 100,000
    tasks holds a few thousand different ones per column. Dates are nearly all
    different, and text cells are not parsed: both are left as they are."""
    if parse is None or parse is _PARSERS["date"]:
        return parse
    seen: dict[str, Any] = {}

    def remembered(text: str) -> Any:
        value = seen.get(text, seen)  # the dict itself: not seen yet
        if value is seen:
            if len(seen) >= _REMEMBERED:
                seen.clear()
            value = seen[text] = parse(text)
        return value

    return remembered


def iter_trace(path: str | Path, sep: str = "\t") -> Iterator[TraceRecord]:
    """The rows of a trace file, in file order (completion order, not task_id order)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        header = handle.readline().rstrip("\r\n").split(sep)
        if "task_id" not in header and "hash" not in header and "name" not in header:
            raise TraceError(f"{path}: not a Nextflow trace file (header {header[:3]})")
        parsers = [_remembering(_parser(field)) for field in header]
        for number, line in enumerate(handle, start=2):
            cells = line.rstrip("\r\n").split(sep)
            if cells == [""]:
                continue
            if len(cells) != len(header) and not line.endswith("\n"):
                log.warning("%s:%d: skipped a truncated last row", path, number)
                return  # the row Nextflow was writing when it stopped
            if len(cells) != len(header):
                raise TraceError(f"{path}:{number}: {len(cells)} cells, header has {len(header)}")
            try:
                yield _record(header, parsers, cells)
            except TraceError as exc:
                raise TraceError(f"{path}:{number}: {exc}") from None


def _record(
    header: list[str], parsers: list[Callable[[str], Any] | None], cells: list[str]
) -> TraceRecord:
    try:  # the fast way; on a bad cell, again cell by cell to say which field it is
        return TraceRecord(
            tuple(
                [
                    (field, None if text in _MISSING else text if parse is None else parse(text))
                    for field, parse, text in zip(header, parsers, cells, strict=True)
                ]
            )
        )
    except TraceError:  # parse_value names the field
        return TraceRecord(
            tuple((f, parse_value(f, t)) for f, t in zip(header, cells, strict=True))
        )


def read_trace(path: str | Path, sep: str = "\t") -> list[TraceRecord]:
    return list(iter_trace(path, sep))


def read_columns(path: str | Path, sep: str = "\t") -> tuple[list[str], list[list[Any]]] | None:
    """The header and the parsed columns of a well-formed trace file (what ``iter_trace``
    reads, column by column: each different cell of a size, duration, percentage or
    number column is parsed once and the column looked up in one list comprehension).
    None when a row has another number of cells or a cell does not parse: ``iter_trace``
    then reads the file again row by row and says where, exactly as before."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        header = handle.readline().rstrip("\r\n").split(sep)
        if "task_id" not in header and "hash" not in header and "name" not in header:
            raise TraceError(f"{path}: not a Nextflow trace file (header {header[:3]})")
        lines = handle.read().removesuffix("\n").split("\n")  # universal newlines: "\n"
    lines = lines if lines != [""] else []
    counts = set(map(str.count, lines, itertools.repeat(sep)))
    if sep == "\n" or "" in lines or counts - {len(header) - 1}:
        return None  # blank lines, a short or a long row: ``iter_trace`` reads them
    columns: list[list[Any]] = [[] for _ in header]
    seen: list[dict[str, Any]] = [{} for _ in header]  # parsed cells, by column
    try:
        for start in range(0, len(lines), _CHUNK):  # the cells of one chunk at a time
            cells = sep.join(lines[start : start + _CHUNK]).split(sep)
            for i, field in enumerate(header):
                columns[i] += _column(field, cells[i :: len(header)], seen[i])
    except TraceError:
        return None
    return header, columns


_CHUNK = 10_000  # rows split into cells at a time


def _column(field: str, cells: list[str], seen: dict[str, Any]) -> list[Any]:
    """One column's values, as ``_record`` reads its cells; ``seen`` keeps the parsed
    cells of the column's earlier chunks (up to ``_REMEMBERED``)."""
    parse = _parser(field)
    if parse is None:
        return [None if text in _MISSING else text for text in cells]
    if parse is _PARSERS["date"]:  # nearly all different: each parsed
        present = [text for text in cells if text not in _MISSING]
        if _DATES.fullmatch("\n".join(present)):  # the one layout Nextflow writes
            return [None if text in _MISSING else _from_iso(text) for text in cells]
        return [None if text in _MISSING else parse(text) for text in cells]
    if len(seen) > _REMEMBERED:
        seen.clear()
    seen.update({text: parse(text) for text in set(cells).difference(seen, _MISSING)})
    seen.update(dict.fromkeys(_MISSING))
    return [seen[text] for text in cells]
