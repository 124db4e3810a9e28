"""Faults caused for real, shared by tests/reliability and bench/reliability.py.

- ``kill_during_save``: a child process saves a folder or a big file and is SIGKILLed
  after a delay; afterwards every record must have a complete, correct object.
- ``s3_outage``: a moto server in a child process is killed or frozen (SIGSTOP) while a
  child process saves to it; the save must end with one clear line within its timeouts,
  leave no record, and succeed once the server is back.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

SAVE = textwrap.dedent("""
    import sys, time
    import threadline as tl
    tl.connect()
    ready = sys.argv[3] if len(sys.argv) > 3 else None
    if ready:
        open(ready, "w").close()
        while not __import__("os").path.exists(ready + ".go"):
            time.sleep(0.01)
    try:
        a = tl.Artifact(sys.argv[1], key=sys.argv[2]).save()
    except tl.errors.ThreadlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(a.uid)
""")


def child_env(db: str, storage: str, **extra: str) -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "THREADLINE_DB": db, "THREADLINE_STORAGE": storage, **extra}
    env["PYTHONPATH"] = os.pathsep.join([root, *sys.path])
    return env


def save_process(
    work: Path, source: str, key: str, env: dict[str, str], ready: Path | None = None
) -> subprocess.Popen[str]:
    script = work / "save_child.py"
    if not script.exists():
        script.write_text(SAVE)
    args = [sys.executable, str(script), source, key] + ([str(ready)] if ready else [])
    return subprocess.Popen(
        args, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def make_folder(folder: Path, n_files: int, size: int, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        (folder / f"part-{i:04d}.bin").write_bytes(
            seed.to_bytes(4, "big") + os.urandom(max(0, size - 4))
        )
    return folder


@dataclass
class KillResult:
    trials: int
    killed_mid_save: int  # the child was still running when it got SIGKILL
    bad_records: int  # records whose object is missing or wrong after all trials
    resaved_ok: int  # identical saves afterwards that completed and checked clean


def kill_during_save(
    work: Path, env: dict[str, str], trials: int, n_files: int = 200, size: int = 4096
) -> KillResult:
    """SIGKILL a saving child at spread-out moments; then save the same content again.

    Call with the instance connected in this process (``tl.maintenance.check`` runs here).
    """
    import threadline as tl

    killed = 0
    sources = []
    for trial in range(trials):
        source = make_folder(work / f"trial-{trial}", n_files, size, trial)
        sources.append(source)
        ready = work / f"ready-{trial}"
        proc = save_process(work, str(source), f"kill/trial-{trial}", env, ready)
        _wait_for(ready, proc)
        (work / f"ready-{trial}.go").touch()
        time.sleep(0.02 + 0.6 * (trial + 0.5) / trials)  # spread over the upload
        if proc.poll() is None:
            killed += 1
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    bad = len(tl.maintenance.check())
    resaved = 0
    for trial, source in enumerate(sources):
        tl.Artifact(str(source), key=f"kill/trial-{trial}").save()
        resaved += 1
    bad += len(tl.maintenance.check())
    return KillResult(trials, killed, bad, resaved)


def _wait_for(ready: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not ready.exists():
        if proc.poll() is not None or time.time() > deadline:
            _, err = proc.communicate()
            raise RuntimeError(f"save child did not start: {err.strip()[-500:]}")
        time.sleep(0.01)


@dataclass
class OutageResult:
    fault: str  # "killed" or "frozen"
    exit_code: int
    stderr: str
    seconds: float
    records_after: int  # records under the key after the failed save


def save_during_outage(
    work: Path, env: dict[str, str], source: str, key: str, fault: str, server: object
) -> OutageResult:
    """Start a save child (connected while the server is up), break the server, let it
    save, and collect how it ended. ``server`` is a ``harness.MotoProcess``."""
    import threadline as tl

    ready = work / f"ready-{fault}"
    proc = save_process(work, source, key, env, ready)
    _wait_for(ready, proc)
    getattr(server, "kill" if fault == "killed" else "freeze")()
    start = time.time()
    Path(f"{ready}.go").touch()
    try:
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    seconds = time.time() - start
    records = tl.Artifact.filter(key=key).count()
    return OutageResult(fault, proc.returncode, err.strip(), seconds, records)
