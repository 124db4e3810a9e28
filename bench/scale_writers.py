"""How much one PostgreSQL takes: runs and artifacts per second from N writer processes.

Starts a throwaway PostgreSQL cluster (tests/harness.py: initdb in a temp folder,
fsync off, max_connections 200), and for each N a fresh database. N writer processes
each open the instance first (imports, connection, schema check), wait for a common start,
then for ``--seconds`` repeat one unit of work: ``tl.track()`` a run, save ``--artifacts``
small files of new content under keys of their own, ``tl.finish()``. Objects go to a local
storage folder, so what is measured is the database path plus hashing and local copies.

Reported per N: runs/s and artifacts/s (completed units over the window), the p50 and
p95 time of one unit, and where the CPU went in the window (this cluster's PostgreSQL processes
against the writers'), from /proc. Clients and server share this machine's cores, so
past a few writers the figure is the machine's, not PostgreSQL's alone.

    .venv/bin/python bench/scale_writers.py [--writers 1 4 16 64] [--seconds 15] [--json out]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(args: argparse.Namespace) -> None:
    """One writer: open, report ready, wait for the start, work until the window ends."""
    import threadline as tl

    tl.connect(db=args.db, storage=args.storage)
    tl.Run.filter().count()  # opened and checked before the clock starts
    Path(args.sync, f"ready-{args.index}").touch()
    go = Path(args.sync, "go")
    while not go.exists():
        time.sleep(0.01)
    start = float(go.read_text())
    scratch = Path(tempfile.mkdtemp(prefix=f"writer{args.index}-"))
    units: list[float] = []
    done = 0
    while time.time() < start + args.seconds:
        began = time.perf_counter()
        n = len(units)
        tl.track(key=f"bench/writer-{args.index}.py", params={"unit": n})
        for i in range(args.artifacts):
            path = scratch / f"{n}-{i}.txt"
            path.write_text(f"writer {args.index} unit {n} file {i} {time.time_ns()}\n")
            tl.Artifact(path, key=f"bench/{args.index}/{n}/{i}.txt").save()
        tl.finish()
        done += 1
        if time.time() <= start + args.seconds:
            units.append(time.perf_counter() - began)
    print(json.dumps({"units": units, "done": done}))


def _cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / ticks


def _db_counters(db: str) -> dict[str, int]:
    """Transactions committed and rows written in ``db`` so far (pg_stat_database)."""
    import psycopg2

    with psycopg2.connect(db) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
        commits, rows = cursor.fetchone()
    conn.close()
    return {"commits": commits, "rows": rows}


def _postgres_pids(datadir: str) -> list[int]:
    """The cluster's postmaster and its children (other clusters on the host excluded)."""
    postmaster = int(Path(datadir, "postmaster.pid").read_text().split()[0])
    found = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == postmaster:  # the parent pid
                found.append(int(entry.name))
    return found


def measure(server: object, n: int, seconds: float, artifacts: int) -> dict[str, float]:
    name = f"scale{n}_{os.getpid()}"
    db = server.create_database(name)  # type: ignore[attr-defined]
    work = Path(tempfile.mkdtemp(prefix=f"scale{n}-"))
    storage, sync = work / "storage", work / "sync"
    sync.mkdir()
    subprocess.run(  # create the tables once, outside the window
        [
            sys.executable,
            "-c",
            f"import threadline as tl; tl.connect(db={db!r}, "
            f"storage={str(storage)!r}); tl.Run.filter().count()",
        ],
        check=True,
    )
    command = [sys.executable, __file__, "--worker", "--db", db, "--storage", str(storage)]
    command += ["--sync", str(sync), "--seconds", str(seconds), "--artifacts", str(artifacts)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = [
        subprocess.Popen([*command, "--index", str(i)], stdout=subprocess.PIPE, env=env, text=True)
        for i in range(n)
    ]
    while len(list(sync.glob("ready-*"))) < n:
        if any(p.poll() not in (None, 0) for p in procs):
            raise SystemExit("a writer failed before the start")
        time.sleep(0.05)
    counters = _db_counters(db)
    pg_pids = _postgres_pids(server.datadir)  # type: ignore[attr-defined]
    pg_before, writers_before = _cpu_seconds(pg_pids), _cpu_seconds([p.pid for p in procs])
    (sync / "go.tmp").write_text(str(time.time() + 0.5))
    (sync / "go.tmp").rename(sync / "go")  # whole, never read half-written
    time.sleep(0.5 + seconds)
    later = _postgres_pids(server.datadir)  # type: ignore[attr-defined]
    pg_cpu = _cpu_seconds(sorted(set(pg_pids + later))) - pg_before
    writers_cpu = _cpu_seconds([p.pid for p in procs]) - writers_before
    reports = [json.loads(p.communicate()[0]) for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit("a writer failed")
    time.sleep(1.5)  # backends flush their statistics at exit
    after = _db_counters(db)
    done = sum(r["done"] for r in reports)
    units = sorted(u for r in reports for u in r["units"])
    return {
        "writers": n,
        "runs_per_s": len(units) / seconds,
        "artifacts_per_s": len(units) * artifacts / seconds,
        "unit_p50_ms": 1000 * statistics.median(units),
        "unit_p95_ms": 1000 * units[int(0.95 * (len(units) - 1))],
        "postgres_cpu_s": pg_cpu,
        "writers_cpu_s": writers_cpu,
        "commits_per_unit": (after["commits"] - counters["commits"] - 1) / done,
        "rows_per_unit": (after["rows"] - counters["rows"]) / done,
        "load_1m": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--artifacts", type=int, default=4, help="artifacts per run")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--db", "--storage", "--sync", "--index"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.index = int(args.index)
        worker(args)
        return
    sys.path.insert(0, str(ROOT))
    from tests.harness import postgres_server

    rows = []
    print(f"{os.cpu_count()} cores; load before: {os.getloadavg()[0]:.1f}", flush=True)
    print(
        "writers  runs/s  artifacts/s  unit p50 ms  unit p95 ms  pg CPU s  writers CPU s  "
        "commits/unit  rows/unit  load"
    )
    with postgres_server() as server:
        for n in args.writers:
            row = measure(server, n, args.seconds, args.artifacts)
            rows.append(row)
            print(
                f"{n:7d}  {row['runs_per_s']:6.1f}  {row['artifacts_per_s']:11.1f}  "
                f"{row['unit_p50_ms']:11.0f}  {row['unit_p95_ms']:11.0f}  "
                f"{row['postgres_cpu_s']:8.1f}  {row['writers_cpu_s']:13.1f}  "
                f"{row['commits_per_unit']:12.1f}  {row['rows_per_unit']:9.1f}  "
                f"{row['load_1m']:4.1f}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
