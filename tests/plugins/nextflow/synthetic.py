"""Synthetic trace files in Nextflow's real formats, for tests and benchmarks.

Values are formatted as ``TraceRecord`` does (``Duration.toString()``,
``MemoryUnit.toString()``, ``%.1f%%``, ``yyyy-MM-dd HH:mm:ss.SSS``), or as plain numbers
with ``raw=True``. Every 20th task fails once and is retried; every 7th is CACHED.
"""

import datetime as dt
import random
from pathlib import Path

DEFAULT_FIELDS = (
    "task_id",
    "hash",
    "native_id",
    "name",
    "status",
    "exit",
    "submit",
    "duration",
    "realtime",
    "%cpu",
    "peak_rss",
    "peak_vmem",
    "rchar",
    "wchar",
)
_UNITS = ("B", "KB", "MB", "GB", "TB", "PB", "EB", "ZB")


def format_duration(ms: int) -> str:
    """As Nextflow's ``Duration.toString()``: ``250ms``, ``3.2s``, ``1m 47s``, ``1d 2h``."""
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{round(ms / 1000, 1):g}s"
    parts = []
    seconds = ms // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)


def format_memory(size: int) -> str:
    """As ``MemoryUnit.toString()``: base 1024, ``0.#``, a unit; ``0`` has no unit."""
    if size == 0:
        return "0"
    power = 0
    value = float(size)
    while value >= 1024 and power < len(_UNITS) - 1:
        value /= 1024
        power += 1
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text} {_UNITS[power]}"


def _row(
    task_id: int, name: str, status: str, rng: random.Random, raw: bool, submit: dt.datetime
) -> dict[str, str]:
    failed = status == "FAILED"
    ms, rss = rng.randint(5, 5_000_000), rng.randint(0, 8 * 1024**3)
    digest = f"{rng.getrandbits(128):032x}"
    values = {
        "task_id": str(task_id),
        "hash": f"{digest[:2]}/{digest[2:8]}",
        "native_id": str(10_000 + task_id),
        "name": name,
        "status": status,
        "exit": "1" if failed else "0",
    }
    if raw:
        values |= {
            "submit": str(int(submit.timestamp() * 1000)),
            "duration": str(ms + 50),
            "realtime": str(ms),
            "%cpu": f"{rng.uniform(0, 800):.1f}",
            "peak_rss": str(rss),
            "peak_vmem": str(rss * 2),
            "rchar": str(rss // 3),
            "wchar": str(rss // 5),
        }
    else:
        values |= {
            "submit": submit.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            "duration": format_duration(ms + 50),
            "realtime": format_duration(ms),
            "%cpu": f"{rng.uniform(0, 800):.1f}%",
            "peak_rss": format_memory(rss),
            "peak_vmem": format_memory(rss * 2),
            "rchar": format_memory(rss // 3),
            "wchar": format_memory(rss // 5),
        }
    if failed:
        for field in ("%cpu", "peak_rss", "peak_vmem", "rchar", "wchar"):
            values[field] = "-"
    return values


def write_synthetic_trace(path: str | Path, tasks: int, *, raw: bool = False, seed: int = 0) -> int:
    """Write a trace of ``tasks`` tasks (plus retries) to ``path``; returns the row count."""
    rng = random.Random(seed)
    start = dt.datetime(2026, 1, 1, 9, 0, 0)
    lines = ["\t".join(DEFAULT_FIELDS)]
    task_id = 0
    for index in range(tasks):
        name = f"PROCESS_{index % 12} (sample_{index})"
        statuses = (["FAILED"] if index % 20 == 19 else []) + [
            "CACHED" if index % 7 == 6 else "COMPLETED"
        ]
        for status in statuses:
            task_id += 1
            submit = start + dt.timedelta(milliseconds=task_id * 37)
            row = _row(task_id, name, status, rng, raw, submit)
            lines.append("\t".join(row[f] for f in DEFAULT_FIELDS))
    Path(path).write_text("\n".join(lines) + "\n")
    return len(lines) - 1
