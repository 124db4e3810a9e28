"""Reliability figures: faults caused for real, counted, printed as one table.

    python bench/reliability.py [--trials 8] [--writers 16] [--saves 20]

- kill -9 during folder saves (200 files) on local storage and S3 (moto): records
  without a correct object afterwards (must be 0), and identical re-saves that complete;
- N writer processes saving under 5 shared keys on SQLite and PostgreSQL: lock errors
  (must be 0), versions contiguous per key;
- an S3 endpoint (moto in a child process) killed, frozen (SIGSTOP), then restarted: the
  save's exit code and one-line error, seconds until it, records left, success after;
- the bad-input corpus (tests/reliability/bad_input.py): refused with one line, nothing
  written; the traversal corpus on local, memory and S3 backends: escapes (must be 0);
- the secrets corpus (tests/reliability/test_secrets.py): markers in clear (must be 0).

Uses the test harness's servers (moto, a throwaway PostgreSQL). Nothing here asserts;
docs/reliability.md keeps the table.
"""

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import threadline as tl  # noqa: E402 - after the path fix: tests/ is imported below

from tests import harness  # noqa: E402
from tests.reliability import bad_input, faults  # noqa: E402

WRITER = textwrap.dedent("""
    import pathlib, sys, time
    import threadline as tl
    worker, saves, go = int(sys.argv[1]), int(sys.argv[2]), pathlib.Path(sys.argv[3])
    tl.connect()
    while not go.exists():
        time.sleep(0.005)
    errors = 0
    folder = pathlib.Path(f"w{worker}")
    folder.mkdir(exist_ok=True)
    for i in range(saves):
        path = folder / f"f{i}.txt"
        path.write_text(f"worker {worker} item {i}")
        try:
            tl.Artifact(path, key=f"shared/k{i % 5}.txt").save()
        except tl.errors.ThreadlineError as exc:
            errors += 1
            print(exc, file=sys.stderr)
    print(errors)
""")

Row = tuple[str, str, str]  # measure, result, target


def instance_env(work: Path, db: str, storage: str) -> None:
    os.environ.update(
        THREADLINE_DB=db,
        THREADLINE_STORAGE=storage,
        THREADLINE_HOME=str(work / "home"),
        THREADLINE_CACHE_DIR=str(work / "cache"),
    )


def kill_rows(work: Path, endpoint: str, trials: int) -> list[Row]:
    rows = []
    for kind in ("local", "S3"):
        folder = work / f"kill-{kind}"
        folder.mkdir()
        storage = str(folder / "storage")
        if kind == "S3":
            bucket = f"k{uuid.uuid4().hex[:12]}"
            harness.make_bucket(endpoint, bucket)
            storage = f"s3://{bucket}/data"
        db = f"sqlite:///{folder / 'tl.db'}"
        instance_env(folder, db, storage)
        tl.connect()
        env = faults.child_env(db, storage, THREADLINE_CACHE_DIR=str(folder / "child-cache"))
        spread = 0.25 if kind == "local" else 0.6  # seconds a save takes, about
        result = faults.kill_during_save(folder, env, trials, spread=spread)
        tl.disconnect()
        rows.append(
            (
                f"kill -9 during a 200-file folder save, {kind} ({trials} trials)",
                f"{result.bad_records} bad records; {result.killed_mid_save} killed mid-save, "
                f"{result.partial_left} partial folders left; "
                f"{result.resaved_ok}/{trials} re-saves complete",
                "0 bad records",
            )
        )
    return rows


def writer_rows(work: Path, writers: int, saves: int) -> list[Row]:
    rows = []
    with harness.postgres_server() as pg:
        for kind in ("SQLite", "PostgreSQL"):
            folder = work / f"writers-{kind}"
            folder.mkdir()
            db = (
                f"sqlite:///{folder / 'tl.db'}"
                if kind == "SQLite"
                else pg.create_database(f"w{uuid.uuid4().hex[:8]}")
            )
            instance_env(folder, db, str(folder / "storage"))
            tl.connect()
            errors, elapsed = _run_writers(folder, writers, saves)
            contiguous = all(
                sorted(a.version for a in tl.Artifact.filter(key=f"shared/k{k}.txt"))
                == list(range(1, len(list(tl.Artifact.filter(key=f"shared/k{k}.txt"))) + 1))
                for k in range(5)
            )
            total = tl.Artifact.filter(key__startswith="shared/").count()
            tl.disconnect()
            rows.append(
                (
                    f"{writers} writer processes x {saves} saves, 5 shared keys, {kind}",
                    f"{errors} lock errors; {total}/{writers * saves} records; versions "
                    f"{'contiguous' if contiguous else 'NOT contiguous'}; {elapsed:.1f} s",
                    "0 errors, contiguous",
                )
            )
    return rows


def _run_writers(folder: Path, writers: int, saves: int) -> tuple[int, float]:
    script = folder / "writer.py"
    script.write_text(WRITER)
    go = folder / "go"
    env = faults.child_env(os.environ["THREADLINE_DB"], os.environ["THREADLINE_STORAGE"])
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(n), str(saves), str(go)],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(writers)
    ]
    time.sleep(2.0)
    started = time.perf_counter()
    go.touch()
    errors = 0
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        errors += int(out.strip() or saves) if proc.returncode == 0 else saves
    return errors, time.perf_counter() - started


def outage_rows(work: Path) -> list[Row]:
    os.environ.update(
        faults_env := {
            "THREADLINE_S3_CONNECT_TIMEOUT": "2",
            "THREADLINE_S3_READ_TIMEOUT": "2",
            "THREADLINE_S3_RETRIES": "1",
        }
    )
    rows = []
    with harness.MotoProcess() as server:
        os.environ["AWS_ENDPOINT_URL"] = server.endpoint
        harness.make_bucket(server.endpoint, "outage")
        folder = work / "outage"
        folder.mkdir()
        db = f"sqlite:///{folder / 'tl.db'}"
        instance_env(folder, db, "s3://outage/data")
        tl.connect()
        source = folder / "data.bin"
        source.write_bytes(os.urandom(300_000))
        env = faults.child_env(db, "s3://outage/data")
        for fault in ("killed", "frozen"):
            key = f"outage/{fault}.bin"
            result = faults.save_during_outage(folder, env, str(source), key, fault, server)
            one_line = result.stderr.startswith("error: ") and "\n" not in result.stderr
            if fault == "killed":
                server.restart()
                harness.make_bucket(server.endpoint, "outage")
            else:
                server.thaw()
            after = tl.Artifact(source, key=key).save()
            rows.append(
                (
                    f"S3 endpoint {fault} during a save (timeouts 2 s, 1 retry)",
                    f"exit {result.exit_code}, {'one line' if one_line else 'NOT one line'} "
                    f"after {result.seconds:.1f} s; {result.records_after} records; "
                    f"after recovery: v{after.version} saved",
                    "exit 1, one line, 0 records, saved after",
                )
            )
        tl.disconnect()
    for name in faults_env:
        os.environ.pop(name)
    return rows


def corpus_rows(work: Path, endpoint: str) -> list[Row]:
    folder = work / "corpus"
    folder.mkdir()
    instance_env(folder, f"sqlite:///{folder / 'tl.db'}", str(folder / "storage"))
    os.chdir(folder)
    tl.connect()
    ok = 0
    failed = []
    for i, case in enumerate(bad_input.CASES):
        case_dir = folder / f"case-{i}"
        case_dir.mkdir()
        good, said = bad_input.outcome(case, case_dir)
        ok += good
        if not good:
            failed.append(f"{case.id}: {said[:80]}")
    tl.disconnect()
    rows: list[Row] = [
        (
            f"bad-input corpus ({len(bad_input.CASES)} cases)",
            f"{ok} refused with one line, nothing written"
            + (f"; failing: {'; '.join(failed)}" if failed else ""),
            "all",
        )
    ]
    attempts = refused = escapes = 0
    for kind in ("local", "memory", "s3"):
        top = work / f"traversal-{kind}"
        root = top / "a" / "b" / "c" / "root"
        root.mkdir(parents=True)
        backend: object
        if kind == "local":
            backend = tl.storage.LocalBackend(str(root))
        elif kind == "memory":
            backend = tl.storage.FsspecBackend(f"memory://bench-{uuid.uuid4().hex}/data")
        else:
            bucket = f"t{uuid.uuid4().hex[:12]}"
            harness.make_bucket(endpoint, bucket)
            backend = tl.storage.open_backend(f"s3://{bucket}/data")
        result = faults.traverse_backend(backend, top, root)
        attempts, refused = attempts + result.attempts, refused + result.refused
        escapes += result.escapes
    rows.append(
        (
            f"traversal corpus ({len(faults.TRAVERSAL)} paths x 11 operations x 3 backends)",
            f"{escapes} escapes; {refused}/{attempts} refused",
            "0 escapes",
        )
    )
    return rows


def secrets_rows(work: Path) -> list[Row]:
    """H2a's secrets corpus (tests/reliability/test_secrets.py) on SQLite + local storage:
    markers stored through every route, searched everywhere they could surface."""
    import json

    from tests.reliability import test_secrets as sec

    folder = work / "secrets"
    folder.mkdir()
    instance_env(folder, f"sqlite:///{folder / 'tl.db'}", str(folder / "storage"))
    os.chdir(folder)
    tl.connect()
    sec.store_secrets_through_every_route(folder)
    found: list[str] = []
    for path, data in sec.raw_database_files():
        found += sec.leaks(data, path)
    found += sec.leaks(sec.dumped_tables(), "tables")
    for path, data in sec.storage_files(tl.instance().settings.storage):
        found += sec.leaks(data, path)
    found += sec.leaks(json.dumps(tl.export.openlineage_events()), "openlineage events")
    found += sec.leaks(sec.cli("export", "openlineage"), "export openlineage")
    found += sec.leaks(sec.cli("runs", "--json"), "runs --json")
    tl.disconnect()
    where = "raw SQLite file and WAL, tables, storage, OpenLineage export, runs --json"
    return [
        (
            f"secrets corpus ({len(sec.MARKERS)} markers through every route)",
            f"{len(found)} in clear ({where})",
            "0 in clear",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--saves", type=int, default=20)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tl-reliability-") as tmp:
        work = Path(tmp)
        with harness.s3_server() as endpoint:
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            rows += kill_rows(work, endpoint, args.trials)
            rows += corpus_rows(work, endpoint)
        rows += secrets_rows(work)
        os.chdir(ROOT)
        rows += writer_rows(work, args.writers, args.saves)
        rows += outage_rows(work)
    print("| measure | result | target |")
    print("|---|---|---|")
    for measure, result, target in rows:
        print(f"| {measure} | {result} | {target} |")


if __name__ == "__main__":
    main()
