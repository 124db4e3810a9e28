"""A million-record instance: are everyday reads still interactive?

    .venv/bin/python bench/scale.py [--n 1000000] [--db sqlite postgres] [--repeat 15]
                                    [--cache DIR] [--explain]

Builds (or reuses, under ``--cache``) an instance of ``--n`` artifacts and ``--n`` runs on
SQLite and on a throwaway local PostgreSQL (tests/harness.py's binaries: initdb in a temp
folder, fsync off), then times each operation ``--repeat`` times, each time on another
part of the instance (another batch, sample, chain), and prints the median and the worst:

- ``ls PREFIX``: what ``threadline ls data/batch-NNNNN/`` runs once connected
  (``list_artifacts`` + the text table): the 100 artifacts of one batch;
- ``ls data/ --limit 50``: a broad prefix, the first 50 rows in key order;
- feature filter: ``tl.Artifact.filter(sample="S01234")`` listed (100 artifacts), and
  ``tl.Run.filter(process="STEP_07", exit=1)`` listed (two features of runs);
- 50-hop walk: ``tl.lineage.upstream(artifact, depth=50)`` from the end of a chain;
- ``describe KEY``: the artifact found by key and ``describe(as_text=True)`` (its run,
  transform, the run's inputs, features, labels), what ``threadline describe KEY`` prints.

The schema is threadline's own (``tl.connect`` creates it through its migrations); rows
go in through the models' bulk helper ``insert_columns`` (SQLite: executemany;
PostgreSQL: COPY), 100,000 runs and artifacts per transaction, with explicit ids
(PostgreSQL's sequences are moved past them afterwards; the load skips PostgreSQL's
per-row foreign-key triggers, ``session_replication_role = replica``, as the rows are
consistent by construction). The instance: 100 transforms; run ``i`` (transform
``i % 100``) makes artifact ``i``, keyed ``data/batch-{i // 100:05d}/sample-{i:07d}.csv``;
runs form chains of 100: run ``i`` reads artifact ``i - 1`` (except at a chain's start),
and every 25th run also reads a shared input (the first artifact of its block of 100
chains, like a reference genome). Features: artifacts ``sample`` (text, 10,000 values,
100 artifacts each) and ``score`` (float); runs ``process`` (text) and ``exit`` (int, 1
on every 97th run). PostgreSQL gets ``ANALYZE`` after the load (autovacuum does it on a
live server); SQLite gets only what threadline does itself. A cached instance made by
an older schema is upgraded when opened (the time is printed).
Nothing here asserts; ``--explain`` prints the query plans of the slow operations.
"""

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import threadline as tl  # noqa: E402
from threadline import models  # noqa: E402
from threadline._listing import list_artifacts  # noqa: E402
from threadline.cli.artifacts import _ls_text  # noqa: E402
from threadline.models._base import insert_columns  # noqa: E402

from tests.harness import Postgres, free_port, postgres_bindir  # noqa: E402

BATCH = 100_000
CHAIN = 100
TRANSFORMS = 100
SAMPLES = 10_000
BASE_TIME = dt.datetime(2026, 1, 1)
FEATURES = (("sample", str), ("score", float), ("process", str), ("exit", int))


def uid(kind: str, i: int) -> str:
    """16 characters, unique per kind and number (not random: rebuilds are identical)."""
    return f"{kind}{i:015d}"


def artifact_rows(lo: int, hi: int, storage: int) -> dict[str, list[Any]]:
    ids = range(lo, hi)
    return {
        "id": list(ids),
        "uid": [uid("a", i) for i in ids],
        "key": [f"data/batch-{i // 100:05d}/sample-{i:07d}.csv" for i in ids],
        "suffix": [".csv"] * len(ids),
        "kind": ["file"] * len(ids),
        "size": [1000 + i % 5000 for i in ids],
        "hash": [hashlib.sha256(i.to_bytes(8, "big")).hexdigest() for i in ids],
        "hash_type": ["sha256"] * len(ids),
        "storage": [storage] * len(ids),
        "path": [f".threadline/{uid('a', i)}.csv" for i in ids],
        "in_place": [False] * len(ids),
        "version": [1] * len(ids),
        "is_latest": [True] * len(ids),
        "visibility": ["main"] * len(ids),
        "run": list(ids),
        "created_at": [BASE_TIME + dt.timedelta(seconds=i) for i in ids],
    }


def run_rows(lo: int, hi: int) -> dict[str, list[Any]]:
    ids = range(lo, hi)
    return {
        "id": list(ids),
        "uid": [uid("r", i) for i in ids],
        "transform": [1 + i % TRANSFORMS for i in ids],
        "status": ["completed"] * len(ids),
        "started_at": [BASE_TIME + dt.timedelta(seconds=i) for i in ids],
        "finished_at": [BASE_TIME + dt.timedelta(seconds=i, milliseconds=900) for i in ids],
        "engine": ["python"] * len(ids),
        "reference": [f"task-{i}" for i in ids],
        "hostname": ["node-1"] * len(ids),
    }


def input_rows(lo: int, hi: int) -> dict[str, list[Any]]:
    runs: list[int] = []
    artifacts: list[int] = []
    for i in range(lo, hi):
        if (i - 1) % CHAIN:  # not a chain's first run: reads its predecessor's output
            runs.append(i)
            artifacts.append(i - 1)
        shared = reference(i)
        if i % 25 == 0 and shared < i - 1:  # and a shared input (a reference file)
            runs.append(i)
            artifacts.append(shared)
    return {"run": runs, "artifact": artifacts, "unverified": [False] * len(runs)}


def reference(i: int) -> int:
    """The shared input of run ``i``: the first artifact of its block of 100 chains."""
    return (i - 1) // (CHAIN * 100) * CHAIN * 100 + 1


def feature_rows(
    owner: str, lo: int, hi: int, features: list[tuple[int, Callable[[int], Any]]]
) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {owner: [], "feature": [], "value": [], "num": [], "text": []}
    for feature_id, value_of in features:
        for i in range(lo, hi):
            value = value_of(i)
            text = value if isinstance(value, str) else None
            columns[owner].append(i)
            columns["feature"].append(feature_id)
            columns["value"].append(json.dumps(value))
            columns["num"].append(None if text is not None else float(value))
            columns["text"].append(text)
    return columns


def transforms() -> dict[str, list[Any]]:
    ids = range(1, TRANSFORMS + 1)
    return {
        "id": list(ids),
        "uid": [uid("t", i) for i in ids],
        "key": [f"pipeline/step_{i:02d}.py" for i in ids],
        "version": [1] * TRANSFORMS,
        "hash": [f"{i:064x}" for i in ids],
        "kind": ["function"] * TRANSFORMS,
        "created_at": [BASE_TIME] * TRANSFORMS,
    }


def load(n: int) -> None:
    """The instance's rows, batch by batch, through ``insert_columns``."""
    db = tl.Run._meta.database
    storage = models.Storage.select(models.Storage.id).scalar()
    with db.atomic():
        insert_columns(tl.Transform, transforms())
    ids = {name: tl.Feature(name=name, dtype=kind).save().id for name, kind in FEATURES}
    on_artifacts = [
        (ids["sample"], lambda i: f"S{i % SAMPLES:05d}"),
        (ids["score"], lambda i: i % 1000 / 1000),
    ]
    on_runs = [
        (ids["process"], lambda i: f"STEP_{i % TRANSFORMS:02d}"),
        (ids["exit"], lambda i: int(i % 97 == 0)),
    ]
    for lo in range(1, n + 1, BATCH):
        hi = min(lo + BATCH, n + 1)
        with db.atomic():
            if is_postgres():  # rows made consistent here: no foreign-key trigger per row
                db.execute_sql("SET LOCAL session_replication_role = replica")
            insert_columns(tl.Run, run_rows(lo, hi))
            insert_columns(tl.Artifact, artifact_rows(lo, hi, storage))
            insert_columns(models.RunInput, input_rows(lo, hi))
            insert_columns(
                models.ArtifactFeatureValue, feature_rows("artifact", lo, hi, on_artifacts)
            )
            insert_columns(models.RunFeatureValue, feature_rows("run", lo, hi, on_runs))
        print(f"  loaded {hi - 1:>9,} of {n:,}", file=sys.stderr, flush=True)


def is_postgres() -> bool:
    return "postgres" in type(tl.Run._meta.database.obj).__name__.lower()


def after_load() -> None:
    """PostgreSQL: sequences past the explicit ids, then statistics for the planner."""
    if not is_postgres():
        return
    db = tl.Run._meta.database
    for table in ("transform", "run", "artifact", "run_input"):
        db.execute_sql(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
            f'(SELECT MAX(id) FROM "{table}"))'
        )
    for table in ("run_feature_value", "artifact_feature_value"):
        db.execute_sql(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
            f'(SELECT COUNT(*) FROM "{table}"))'
        )
    db.execute_sql("ANALYZE")


# -- the operations ------------------------------------------------------------------------
def op_ls(n: int, pick: random.Random) -> int:
    batch = pick.randrange(1, n // 100)
    found = list_artifacts(f"data/batch-{batch:05d}/")
    _ls_text(found)
    return len(found)


def op_ls_broad(n: int, pick: random.Random) -> int:
    found = list_artifacts("data/", limit=50)
    _ls_text(found)
    return len(found)


def op_feature(n: int, pick: random.Random) -> int:
    return len(list(tl.Artifact.filter(sample=f"S{pick.randrange(SAMPLES):05d}")))


def op_run_features(n: int, pick: random.Random) -> int:
    step = pick.randrange(TRANSFORMS)
    return len(list(tl.Run.filter(process=f"STEP_{step:02d}", exit=1)))


def chain_end(n: int, pick: random.Random) -> Any:
    end = CHAIN * pick.randrange(1, n // CHAIN)
    return tl.Artifact.get(uid=uid("a", end))


def op_walk(n: int, pick: random.Random) -> int:
    found = tl.lineage.upstream(chain_end(n, pick), depth=50)
    return len(found.artifacts) + len(found.runs)


def op_describe(n: int, pick: random.Random) -> int:
    i = pick.randrange(CHAIN + 1, n)
    artifact = tl.Artifact.get(key=f"data/batch-{i // 100:05d}/sample-{i:07d}.csv")
    return len(str(artifact.describe(as_text=True)).splitlines())


OPERATIONS: list[tuple[str, Callable[[int, random.Random], int]]] = [
    ("ls data/batch-NNNNN/ (100 rows)", op_ls),
    ("ls data/ --limit 50", op_ls_broad),
    ("Artifact.filter(sample=...)", op_feature),
    ("Run.filter(process=..., exit=1)", op_run_features),
    ("upstream(artifact, depth=50)", op_walk),
    ("describe KEY", op_describe),
]


def measure(n: int, repeat: int) -> list[dict[str, Any]]:
    results = []
    for name, operation in OPERATIONS:
        pick = random.Random(name)
        operation(n, pick)  # warm-up: statements prepared, code paths loaded
        walls, cpus, rows = [], [], 0
        for _ in range(repeat):
            cpu, started = time.process_time(), time.perf_counter()
            rows = operation(n, pick)
            walls.append(1000 * (time.perf_counter() - started))
            cpus.append(1000 * (time.process_time() - cpu))
        results.append(
            {
                "operation": name,
                "rows": rows,
                "median_ms": statistics.median(walls),
                "worst_ms": max(walls),
                "cpu_ms": statistics.median(cpus),
            }
        )
    return results


def explain(n: int) -> None:
    """The plans of the feature filter and the walk's statements, as the database sees them."""
    db = tl.Run._meta.database
    prefix = "EXPLAIN ANALYZE " if is_postgres() else "EXPLAIN QUERY PLAN "
    queries = {
        "feature filter": tl.Artifact.filter(sample="S01234").select(),
        "run features": tl.Run.filter(process="STEP_07", exit=1).select(),
        "ls": tl.Artifact.filter(key__startswith="data/batch-01234/", is_latest=True)
        .order_by("key", "version")
        .select(),
    }
    for name, query in queries.items():
        sql, params = query.sql()
        print(f"-- {name}: {sql}")
        for row in db.execute_sql(prefix + sql, params).fetchall():
            print("   ", *row)


# -- the databases ---------------------------------------------------------------------------
@contextlib.contextmanager
def postgres(folder: Path) -> Iterator[str]:
    """A PostgreSQL cluster in ``folder`` (made there once, started again on reuse)."""
    bindir = postgres_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL server binaries not found")
    as_user = "postgres" if os.geteuid() == 0 else None
    server = Postgres(bindir, str(folder / "data"), free_port(), as_user)
    fresh = not (folder / "data").exists()
    if fresh:
        folder.mkdir(parents=True, exist_ok=True)
        if as_user:
            shutil.chown(folder, user=as_user)
        initdb = [f"{bindir}/initdb", "-D", server.datadir, "-U", "postgres", "-A", "trust"]
        subprocess.run(server._cmd(*initdb, "-E", "UTF8", "--no-sync"), check=True)
    options = (
        f"-p {server.port} -c listen_addresses=127.0.0.1 -k {folder} -c fsync=off "
        "-c shared_buffers=256MB"
    )
    start = [f"{bindir}/pg_ctl", "-D", server.datadir, "-o", options, "-l", f"{folder}/log"]
    subprocess.run(server._cmd(*start, "-w", "-t", "60", "start"), check=True)
    try:
        if fresh:
            server.create_database("scale")
        yield server.url("scale")
    finally:
        stop = [f"{bindir}/pg_ctl", "-D", server.datadir, "-m", "fast", "stop"]
        subprocess.run(server._cmd(*stop), capture_output=True)


@contextlib.contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{folder}/scale.db"
    else:
        with postgres(folder / "pg") as url:
            yield url


def bench(kind: str, folder: Path, n: int, repeat: int, show_plans: bool) -> list[dict[str, Any]]:
    with database(kind, folder) as url:
        done = folder / f"built-{n}"
        started = time.perf_counter()
        tl.connect(db=url, storage=str(folder / "storage"))  # a cached older schema: upgraded
        print(f"{kind}: opened in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        if not done.exists():
            started = time.perf_counter()
            load(n)
            after_load()
            build_s = time.perf_counter() - started
            done.write_text(f"{build_s:.0f}\n")
            print(f"{kind}: built {n:,} + {n:,} in {build_s:.0f} s", file=sys.stderr)
        if show_plans:
            explain(n)
        results = measure(n, repeat)
        tl.disconnect()
    for row in results:
        row["db"] = kind
        row["build_s"] = float(done.read_text())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="artifacts (and runs)")
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--cache", help="keep the built instances here for the next run")
    parser.add_argument("--explain", action="store_true", help="print query plans")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    scratch = None if args.cache else tempfile.mkdtemp(prefix="threadline-scale-")
    base = Path(args.cache or scratch)  # type: ignore[arg-type]
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)  # the PostgreSQL server's user must reach its folder below
    rows = []
    try:
        for kind in args.db:
            rows += bench(kind, base / kind / str(args.n), args.n, args.repeat, args.explain)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{args.n:,} artifacts + {args.n:,} runs, load {os.getloadavg()[0]:.1f}")
    print(f"{'db':<9}{'operation':<34}{'rows':>6}{'median ms':>11}{'worst ms':>10}{'CPU ms':>8}")
    for r in rows:
        print(
            f"{r['db']:<9}{r['operation']:<34}{r['rows']:>6}{r['median_ms']:>11.1f}"
            f"{r['worst_ms']:>10.1f}{r['cpu_ms']:>8.1f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
