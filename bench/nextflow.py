"""Nextflow adapter benchmark: trace ingest and weblog receiver throughput.

    python bench/nextflow.py [--tasks 100000] [--events 5000] [--db URL | --postgres]
    (--events 0: ingest only; --postgres: a throwaway local PostgreSQL cluster)
    python bench/nextflow.py --baseline WORKTREE [--rounds 2] [--tasks N] [--postgres]
    (the ingest alone, a fresh process each, alternating the baseline tree and this one)

Prints, on a fresh embedded instance in a temporary folder:
- parse: reading a generated trace (the real default format, ``--tasks`` tasks plus
  retries) with ``read_trace``;
- ingest: ``threadline.nextflow.ingest`` of that trace (a workflow run, a task run per
  row with process, tag, exit and its ``trace`` dict as features); target 10 s for
  100,000 tasks; with the CPU seconds of this process and, on a local PostgreSQL, of the
  server process serving it (a busy machine stretches the wall time, not these);
- receiver: weblog events per second posted over HTTP on one kept-alive connection, as
  Nextflow's client does, until all are applied (the real capture's task events, renamed per task);
  target 2,000 events/s.
Nothing here asserts.
"""

import argparse
import contextlib
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import threadline as tl
from threadline.nextflow import Receiver, ingest, read_trace

ROOT = Path(__file__).resolve().parents[1]
# the trace generator lives with the tests (test data, not part of the package)
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
CAPTURE = (
    ROOT
    / "tests"
    / "plugins"
    / "nextflow"
    / "fixtures"
    / "weblog"
    / "nf-executor_nf23.04.2_mock_hello_full_run.json"
)


def bench_ingest(folder: Path, tasks: int) -> dict[str, float]:
    from tests.plugins.nextflow.synthetic import write_synthetic_trace

    (folder / ".nextflow").mkdir()
    (folder / ".nextflow" / "history").write_text(
        "2026-01-01 09:00:00\t1h\tbench_run\tOK\t56503691ebd13d4b795bdaa317807c02\t"
        "s-bench\tnextflow run bench.nf\n"
    )
    rows = write_synthetic_trace(folder / "trace.txt", tasks)
    started = time.perf_counter()
    read_trace(folder / "trace.txt")
    parse_s = time.perf_counter() - started
    server = server_cpu_s()
    cpu, started = time.process_time(), time.perf_counter()
    result = ingest(folder)
    ingest_s = time.perf_counter() - started
    assert result.tasks == rows
    return {
        "rows": rows,
        "parse_s": parse_s,
        "ingest_s": ingest_s,
        "tasks_per_s": rows / ingest_s,
        "cpu_s": time.process_time() - cpu,
        "server_cpu_s": server_cpu_s() - server,
    }


def server_cpu_s() -> float:
    """CPU seconds used so far by the local PostgreSQL server of this connection: every
    process of it (the ingest writes its batches over several connections), the ones that
    ended counted through the postmaster's children's time; 0 on SQLite, or when the
    server is not on this machine."""
    db = tl.Run._meta.database
    if "postgres" not in type(db.obj).__name__.lower():
        return 0.0
    pid = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    try:
        postmaster = int(_stat(pid)[1])
        ticks = sum(map(int, _stat(postmaster)[13:15]))  # children's utime + stime, ended ones
        for entry in os.listdir("/proc"):
            fields = _stat(int(entry), missing=True) if entry.isdigit() else []
            if fields and int(fields[1]) == postmaster:
                ticks += int(fields[11]) + int(fields[12])  # utime + stime
    except OSError:
        return 0.0
    return ticks / os.sysconf("SC_CLK_TCK")


def _stat(pid: int, missing: bool = False) -> list[str]:
    """Fields of /proc/PID/stat after the command name (index 0: state, 1: parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        if missing:  # a process that ended meanwhile
            return []
        raise


def events(count: int) -> list[dict]:
    capture = json.loads(CAPTURE.read_text())
    first, task_events = capture[0], [e for e in capture if "trace" in e]
    made = [first]
    for index in range(count - 1):
        event = json.loads(json.dumps(task_events[index % len(task_events)]))
        event["trace"]["workdir"] = f"/w/{index % 256:02x}/{index:030x}"
        made.append(event)
    return made


def bench_receiver(count: int) -> dict[str, float]:
    bodies = [json.dumps(e).encode("latin-1") for e in events(count)]
    receiver = Receiver().start()
    host, port = receiver.server.server_address[:2]
    connection = http.client.HTTPConnection(host, port)  # kept alive, as Java's client does
    headers = {"Content-Type": "application/json"}
    started = time.perf_counter()
    for body in bodies:
        connection.request("POST", "/", body, headers)
        connection.getresponse().read()
    connection.close()
    answered_s = time.perf_counter() - started
    receiver.drain()
    applied_s = time.perf_counter() - started
    receiver.stop()
    return {
        "events": count,
        "answered_per_s": count / answered_s,
        "applied_per_s": count / applied_s,
    }


INGEST = re.compile(
    r"ingest\s+(?P<rows>[\d,]+) rows\s+(?P<wall>[\d.]+) s.*CPU (?P<cpu>[\d.]+) s here "
    r"\+ (?P<server>[\d.]+) s server\s+\(load (?P<load>[\d.]+)\)"
)


def side_by_side(baseline: Path, rounds: int, tasks: int, postgres: bool) -> None:
    """The ingest of ``tasks`` tasks in fresh processes, baseline tree and this tree in
    turn, ``rounds`` times; each run's line, then the medians."""
    from bench.query_speed import link_tree

    base = str(link_tree(baseline, Path(tempfile.mkdtemp(prefix="tl-base-"))))
    args = ["--tasks", str(tasks), "--events", "0", *(["--postgres"] if postgres else [])]
    sides = {
        "baseline": ([sys.executable, __file__, *args], base),
        "this tree": ([sys.executable, __file__, *args], None),
    }
    found: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    for _ in range(rounds):
        for side, (command, path) in sides.items():
            env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
            if path:
                env["PYTHONPATH"] = path
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            match = INGEST.search(out.stdout)
            if match is None:
                raise SystemExit(f"{side}: no ingest line in its output:\n{out.stdout}")
            print(f"{side:>9}: {match[0]}", flush=True)
            found[side].append({k: float(v.replace(",", "")) for k, v in match.groupdict().items()})
    print(f"medians of {rounds}, {'PostgreSQL' if postgres else 'SQLite'}:")
    for side, runs in found.items():
        wall, cpu, server = (
            statistics.median(r[k] for r in runs) for k in ("wall", "cpu", "server")
        )
        print(f"{side:>9}: ingest {wall:.2f} s wall, CPU {cpu:.2f} s here + {server:.2f} s server")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument(
        "--db",
        help="database URL (default: SQLite in a temporary folder); "
        "an empty PostgreSQL database measures the server",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="a throwaway local PostgreSQL (tests/harness.py) instead of --db",
    )
    parser.add_argument("--baseline", type=Path, help="a git worktree to compare with")
    parser.add_argument("--rounds", type=int, default=2, help="with --baseline")
    args = parser.parse_args()
    if args.baseline is not None:
        side_by_side(args.baseline.resolve(), args.rounds, args.tasks, args.postgres)
        return
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if args.postgres:
            from tests.harness import postgres_server

            args.db = stack.enter_context(postgres_server()).create_database("bench")
        tl.connect(db=args.db or f"sqlite:///{tmp}/db.sqlite", storage=f"{tmp}/storage")
        launch = Path(tmp) / "launch"
        launch.mkdir()
        found = bench_ingest(launch, args.tasks)
        print(f"parse   {found['rows']:>8,} rows  {found['parse_s']:8.2f} s")
        print(
            f"ingest  {found['rows']:>8,} rows  {found['ingest_s']:8.2f} s  "
            f"({found['tasks_per_s']:,.0f} tasks/s; target 100,000 in 10 s)  "
            f"CPU {found['cpu_s']:.2f} s here + {found['server_cpu_s']:.2f} s server  "
            f"(load {os.getloadavg()[0]:.1f})"
        )
        if args.events <= 0:
            tl.disconnect()
            return
        served = bench_receiver(args.events)
        print(
            f"receiver {served['events']:>7,} events  answered "
            f"{served['answered_per_s']:,.0f}/s, applied {served['applied_per_s']:,.0f}/s "
            "(target 2,000/s)"
        )
        tl.disconnect()


if __name__ == "__main__":
    main()
