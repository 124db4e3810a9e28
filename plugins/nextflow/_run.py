"""``threadline nextflow run -- ARGS``: nextflow with the receiver, a raw trace and lineage.

Starts a receiver on a free loopback port (with a random basic-auth token), writes a
config that points the weblog at it and turns on a raw trace (and, on Nextflow 25.04+,
lineage), runs ``nextflow -c <that config> ARGS`` in the current directory, waits, and
then ingests the launch directory so cached tasks, files and anything the weblog missed
are recorded too.
"""

import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from threadline.errors import ConfigError

from ._config import config_text
from ._ingest import IngestResult, ingest
from ._server import Receiver

_VERSION = re.compile(r"version (\d+)\.(\d+)")


@dataclass(frozen=True)
class RunResult:
    """How nextflow exited and what was recorded."""

    returncode: int
    ingest: IngestResult | None
    events: int


def find_nextflow() -> str:
    found = shutil.which("nextflow")
    if found is None:
        raise ConfigError(
            "nextflow is not on PATH: install Nextflow (https://nextflow.io) "
            "or add its folder to PATH"
        )
    return found


def nextflow_version(executable: str) -> tuple[int, int] | None:
    """(major, minor) from ``nextflow -version``; None when it cannot be told."""
    try:
        done = subprocess.run(
            [executable, "-version"], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(done.stdout + done.stderr)
    return (int(match[1]), int(match[2])) if match else None


def with_config(args: Sequence[str], config: str) -> list[str]:
    """``args`` with ``-c config`` after the user's own ``-c`` files, so that ours wins."""
    args = list(args)
    position = 0
    index = 0
    while index < len(args) and args[index].startswith("-"):
        if args[index] in ("-c", "-config", "-C") and index + 1 < len(args):
            position = index + 2
            index += 2
        else:
            index += 1
    return [*args[:position], "-c", config, *args[position:]]


def run_nextflow(
    args: Sequence[str], *, launch_dir: str | os.PathLike[str] = ".", lineage: bool | None = None
) -> RunResult:
    """Run nextflow with threadline's config, then ingest the run; see the module doc."""
    executable = find_nextflow()
    if lineage is None:
        lineage = (nextflow_version(executable) or (0, 0)) >= (25, 4)
    token = f"nextflow:{secrets.token_urlsafe(16)}"
    receiver = Receiver(token=token).start()
    with tempfile.TemporaryDirectory(prefix="threadline-nextflow-") as state:
        trace = Path(state) / "trace.txt"
        config = Path(state) / "threadline.config"
        config.write_text(
            config_text(receiver.url, token=token, trace_file=str(trace), lineage=lineage)
        )
        try:
            returncode = subprocess.run(
                [executable, *with_config(args, str(config))], cwd=launch_dir, check=False
            ).returncode
        finally:
            receiver.stop()
        names = receiver.handler.run_names
        result = None
        if names or (Path(launch_dir) / ".nextflow" / "history").is_file():
            result = ingest(
                launch_dir,
                trace=trace if trace.is_file() else None,
                run_name=names[-1] if names else None,
            )
    return RunResult(returncode, result, receiver.received)
