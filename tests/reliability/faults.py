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
from typing import Any

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
    partial_left: int = 0  # folder objects the kills left without a manifest (redone)


def kill_during_save(
    work: Path,
    env: dict[str, str],
    trials: int,
    n_files: int = 200,
    size: int = 4096,
    spread: float = 0.6,
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
        time.sleep(0.01 + spread * (trial + 0.5) / trials)  # spread over the save
        if proc.poll() is None:
            killed += 1
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    bad = len(tl.maintenance.check())
    partial = _unfinished_folders()
    resaved = 0
    for trial, source in enumerate(sources):
        tl.Artifact(str(source), key=f"kill/trial-{trial}").save()
        resaved += 1
    bad += len(tl.maintenance.check())
    return KillResult(trials, killed, bad, resaved, partial)


def _unfinished_folders() -> int:
    """Object folders (or temporary copies) present without their manifest."""
    from threadline.storage import OBJECTS, manifest_path

    backend = tl_backend()
    tops = {"/".join(p.split("/")[:5]) for p in backend.list(OBJECTS) if p.count("/") >= 5}
    return sum(1 for top in tops if not backend.exists(manifest_path(top)))


def tl_backend() -> Any:
    import threadline as tl

    return tl.instance().backend


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


# -- traversal ------------------------------------------------------------------------------

TRAVERSAL = [
    "../escape",
    "../../escape",
    "../../../escape",
    "a/../../escape",
    "a/b/../../../escape",
    ".threadline/objects/../../../escape",
    "./../escape",
    "a/./../../escape",
    "..",
    "../",
    "a/..",
    "/escape",
    "/tmp/escape",
    "//escape",
    "/../escape",
    "..\\escape",
    "a\\..\\..\\escape",
    "C:\\escape",
    "C:/escape",
    "a\x00b",
    "\x00",
    "../\x00",
]


@dataclass
class TraversalResult:
    attempts: int
    refused: int
    escapes: int


def _outside_files(top: Path, root: Path, before: set[Path]) -> set[Path]:
    found = {p for p in top.rglob("*") if p.is_file() and root not in p.parents}
    return found - before


def traverse_backend(backend: object, top: Path, root: Path) -> TraversalResult:
    """Every backend operation with every corpus path; count refusals and files that
    appeared under ``top`` but outside ``root`` (escapes)."""
    from threadline.errors import StorageError

    scratch = top / "scratch-source.txt"
    scratch.write_text("payload")
    before = _outside_files(top, root, set())
    ops = [
        lambda p: backend.put_bytes(b"x", p),  # type: ignore[attr-defined]
        lambda p: backend.put_file(str(scratch), p),  # type: ignore[attr-defined]
        lambda p: backend.put_folder(str(top), "objs", [p]),  # type: ignore[attr-defined]
        lambda p: backend.get_file(p, str(root / "got")),  # type: ignore[attr-defined]
        lambda p: backend.open(p).close(),  # type: ignore[attr-defined]
        lambda p: backend.info(p),  # type: ignore[attr-defined]
        lambda p: backend.remove(p),  # type: ignore[attr-defined]
        lambda p: backend.move("objs", p),  # type: ignore[attr-defined]
        lambda p: backend.sha256(p),  # type: ignore[attr-defined]
        lambda p: backend.list(p),  # type: ignore[attr-defined]
        lambda p: backend.local_path(p),  # type: ignore[attr-defined]
    ]
    attempts = refused = 0
    for path in TRAVERSAL:
        for op in ops:
            attempts += 1
            try:
                op(path)
            except StorageError as exc:
                if "refusing path" in str(exc):
                    refused += 1
    escapes = len(_outside_files(top, root, before))
    return TraversalResult(attempts, refused, escapes)
