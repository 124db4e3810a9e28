"""What the command-line tools print: JSON for scripts, text for people, one way for all.

``emit(data, as_json, human)`` is shared by the ``threadline`` command and the engine
plugins' command groups (through ``threadline.adapters``). Dates in JSON are one ISO 8601
format with a timezone and microseconds always written (``2026-12-05T11:32:07.123456+00:00``):
threadline stores UTC.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from collections.abc import Callable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any


def iso(moment: dt.datetime | None) -> str | None:
    """``moment`` in ISO 8601 with its timezone; naive datetimes are UTC (as stored)."""
    if moment is None:
        return None
    if moment.tzinfo is None:  # as stored: UTC (the common case, kept cheap)
        return moment.isoformat(timespec="microseconds") + "+00:00"
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    return str(value)


def to_json(data: Any, indent: int | None = 2) -> str:
    """``data`` as JSON text; datetimes as :func:`iso`, anything else unknown as ``str``."""
    return json.dumps(data, indent=indent, default=_default)


STATUS_STYLES = {
    "completed": "green",
    "errored": "bold red",
    "aborted": "yellow",
    "started": "cyan",
    "scheduled": "dim",
    "cached": "blue",
    "skipped": "dim yellow",
    "rolled_back": "magenta",
}


def human_size(n: int | None) -> str:
    """``1.4 MiB``-style sizes (base 1024); ``-`` when unknown."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        shown = f"{value:.0f}" if unit == "B" else f"{value:.1f}"
        if float(shown) < 1024 or unit == "TiB":  # as rounded: never '1024.0 KiB'
            return f"{shown} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover (the loop always returns)


def human_time(moment: dt.datetime | None) -> str:
    """``2026-12-05 11:32:07`` in UTC (as stored), ``-`` when unknown."""
    if moment is None:
        return "-"
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def human_duration(start: dt.datetime | None, end: dt.datetime | None) -> str:
    """``850ms``, ``12.5s``, ``3m 07s``, ``2h 05m``; ``-`` when either end is unknown."""
    if start is None or end is None:
        return "-"
    seconds = max((end - start).total_seconds(), 0.0)
    if round(seconds * 1000) < 1000:  # as rounded: never '1000ms' or '60.0s'
        return f"{seconds * 1000:.0f}ms"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def table(headers: list[str], rows: list[list[str]], styles: dict[str, str] | None = None) -> str:
    """Rows in aligned columns under a header. On a terminal, drawn by rich with cells
    found in ``styles`` coloured; piped, plain text (two spaces between columns)."""
    if sys.stdout.isatty():
        return _rich_table(headers, rows, styles or {})
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in [headers, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def _rich_table(headers: list[str], rows: list[list[str]], styles: dict[str, str]) -> str:
    import shutil  # with rich, not at import (6 M instructions)

    from rich.console import Console  # heavy: only on a terminal
    from rich.table import Table
    from rich.text import Text

    grid = Table(box=None, header_style="bold", pad_edge=False)
    for header in headers:
        grid.add_column(header, no_wrap=header in ("UID", "HASH"))
    for row in rows:
        grid.add_row(*(Text(c, style=styles.get(c, "")) for c in row))
    width = shutil.get_terminal_size((120, 24)).columns
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=True, width=width, highlight=False).print(grid)
    return buffer.getvalue().rstrip("\n")


def emit(data: Any, as_json: bool, human: Callable[[], str]) -> None:
    """Print ``data`` as JSON when ``as_json``, else the text ``human()`` returns."""
    sys.stdout.write((to_json(data) if as_json else human()) + "\n")
    sys.stdout.flush()
