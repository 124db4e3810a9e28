"""Task work directories (``<workDir>/<h[0:2]>/<h[2:32]>/``): inputs, outputs, exit, metrics.

- inputs: ``nxf_stage()`` in ``.command.run`` (``ln -s SRC NAME``, ``cp``, ``rsync``), and
  the symlinks in the directory (their targets);
- outputs: the non-hidden files and folders that are not staged inputs;
- ``.exitcode`` (no trailing newline) and ``.command.trace`` (v2 key=value or legacy).
"""

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TASK_LINE = re.compile(r"^# NEXTFLOW TASK: (?P<name>.*)$", re.M)
_STAGE = re.compile(r"^\s*(?:ln -s|cp -fRL|cp -fR|cp|rsync -rRl)\s+(.*)$")
_KB_FIELDS = ("vmem", "rss", "peak_vmem", "peak_rss")


@dataclass(frozen=True)
class WorkDir:
    """What a task's work directory says about the task."""

    path: Path
    task_hash: str
    name: str | None
    exit_status: int | None
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    metrics: tuple[tuple[str, Any], ...]


def task_hash(path: str | Path) -> str:
    """The 32-hex task hash of a work dir: its last two path parts joined."""
    parts = Path(path).parts
    return parts[-2] + parts[-1]


def find_workdir(work: Path, short_hash: str) -> Path | None:
    """``work/ec/9a4ecd...`` for a trace hash such as ``ec/9a4ecd`` (or a full hash)."""
    flat = short_hash.replace("/", "")
    folder, rest = work / flat[:2], flat[2:]
    if not folder.is_dir():
        return None
    matches = [p for p in folder.iterdir() if p.name.startswith(rest) and p.is_dir()]
    return matches[0] if len(matches) == 1 else None


def staged_inputs(command_run: str) -> list[tuple[str, str]]:
    """``(source, staged name)`` pairs from the ``nxf_stage()`` function of ``.command.run``."""
    body = command_run.partition("nxf_stage() {")[2].partition("\n}")[0]
    pairs = []
    for line in body.splitlines():
        match = _STAGE.match(line)
        if match is None:
            continue
        try:
            words = shlex.split(match[1])
        except ValueError:
            continue
        words = [w for w in words if not w.startswith("-")]
        if len(words) >= 2:
            pairs.append((words[0], words[-1]))
    return pairs


def read_exitcode(folder: Path) -> int | None:
    try:
        text = (folder / ".exitcode").read_text().strip()
    except OSError:
        return None
    return int(text) if text.lstrip("-").isdigit() else None


def parse_command_trace(text: str) -> dict[str, Any]:
    """Metrics of ``.command.trace``: %cpu/%mem in percent, sizes in bytes, realtime in ms."""
    lines = text.splitlines()
    if lines and lines[0].strip() == "nextflow.trace/v2":
        raw = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    elif len(lines) >= 2:  # legacy: a ps-style header, a values row, a realtime row
        raw = dict(zip(lines[0].split(), lines[1].split(), strict=False))
        raw.pop("pid", None)
        raw.pop("state", None)
        if len(lines) >= 3 and lines[2].strip().isdigit():
            raw["realtime"] = lines[2].strip()
    else:
        return {}
    metrics: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "cpu_model":
            metrics[key] = value
        elif value.strip().lstrip("-").isdigit():
            number = int(value)
            metrics[key] = (
                number / 10
                if key in ("%cpu", "%mem")
                else number * 1024
                if key in _KB_FIELDS
                else number
            )
    return metrics


def read_workdir(folder: str | Path) -> WorkDir:
    """Everything a work dir holds about its task; missing files are simply absent."""
    folder = Path(folder)
    command_run = _read(folder / ".command.run")
    name_match = _TASK_LINE.search(command_run)
    staged = staged_inputs(command_run)
    staged_names = {name for _, name in staged}
    inputs = [src for src, _ in staged]
    outputs = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            if entry.name not in staged_names:
                inputs.append(os.path.join(folder, os.readlink(entry)))
            continue
        if entry.name not in staged_names:
            outputs.append(str(entry))
    trace = _read(folder / ".command.trace")
    return WorkDir(
        folder,
        task_hash(folder),
        name_match["name"] if name_match else None,
        read_exitcode(folder),
        tuple(dict.fromkeys(inputs)),
        tuple(outputs),
        tuple(parse_command_trace(trace).items()),
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
