"""LaminDB side of the threadline benchmark (run with a venv that has `lamindb`).

Never imported by threadline: `bench/core.py` runs it as

    <lamindb-venv>/bin/python bench/_lamindb_ops.py --workdir EMPTY_TMP_DIR

and reads the JSON object printed on the last line of stdout. All times are
milliseconds. Everything (HOME, lamin settings, cache, storage, SQLite db) lives
under --workdir; the instance is created offline with
`lamin init --storage WORKDIR/store`, and every process sets
`ln.setup.settings.instance._is_on_hub = False` right after `import lamindb`.
A sitecustomize guard refuses any non-loopback socket connection (so nothing
can hang on the hub) and logs the attempt; they are reported in
`network_attempts` (empty list = fully offline).

Measurements (each op runs in its own worker subprocess, so a failing op only
sets its key to null and adds its error text to `errors`):

- import_ms: `import lamindb` (which also connects the instance) in a fresh
  interpreter, timed inside it; median of 3 subprocesses.
- sqlite: the instance's `PRAGMA journal_mode` and `synchronous` (Django's
  connection), reported beside threadline's.
- track_finish_ms: `ln.track()` + `ln.finish()` inside a small real script run
  as __main__; one warm-up run first (it creates the Transform), as on
  threadline's side, then the median of 3 runs. This
  includes what lamindb does on track/finish, e.g. its `pip freeze` of the
  environment and saving the run report/source.
- save_small_ms: mean per artifact, 200 x 1 KiB files saved one by one with
  `ln.Artifact(path, key=f"small/{i}.txt").save()` under an `ln.track()` run.
- save_small_bulk_ms: mean per artifact, 200 other 1 KiB files constructed as
  `ln.Artifact(...)` and saved with one `ln.save([...])` (construction included).
- query_2k_ms: `ln.Artifact.filter(key__startswith="q/").to_dataframe(limit=None)`
  (`.df()` on old versions) over `query_count` artifacts (2,000, bulk-created
  first; fewer if creation passes 5 minutes); median of 5.
- step_overhead_ms: inside an `@ln.flow()` function, (N calls of an
  `@ln.step()` no-op - N calls of a plain no-op) / N with N=50, after one
  warm-up step call (which creates the step's Transform). Every step call
  creates and finishes a Run record.
- walk_50_ms: upstream lineage of the last artifact of a 50-hop chain
  (flow -> 50 steps, each `prev.cache()` (registers the run input) and saving
  the next artifact). Timed with `lamindb.models.has_parents._get_all_parent_runs`,
  the programmatic part of `artifact.view_lineage()` (graphviz rendering left
  out); the artifact is re-fetched before each timing so no relation is cached;
  median of 5. `walk_50_manual_ms` is the hand-written equivalent (recursively
  following `artifact.run.input_artifacts`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve()
N_SMALL, N_QUERY, N_STEPS, N_HOPS = 200, 2000, 50, 50
QUERY_CREATE_BUDGET_S = 300

NETGUARD = """\
import os, socket
_log = os.environ.get("BENCH_NET_LOG")
def _refuse(host):
    h = str(host)
    if h in ("localhost", "::1") or h.startswith("127."):
        return False
    if _log:
        with open(_log, "a") as f:
            f.write(h + "\\n")
    return True
_orig_gai, _orig_connect = socket.getaddrinfo, socket.socket.connect
def getaddrinfo(host, *a, **k):
    if host is not None and _refuse(host):
        raise socket.gaierror(-2, "benchmark: network disabled")
    return _orig_gai(host, *a, **k)
def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and _refuse(address[0]):
        raise OSError(101, "benchmark: network disabled")
    return _orig_connect(self, address)
socket.getaddrinfo, socket.socket.connect = getaddrinfo, connect
"""

IMPORT_SNIPPET = (
    "import time, json; t = time.perf_counter(); import lamindb; "
    "print('RESULT ' + json.dumps((time.perf_counter() - t) * 1000))"
)

TRACKED_SCRIPT = """\
import json, time
import lamindb as ln
ln.setup.settings.instance._is_on_hub = False
t = time.perf_counter()
ln.track()
ln.finish()
print("RESULT " + json.dumps((time.perf_counter() - t) * 1000))
"""


# ----------------------------------------------------------------- orchestrator
def bench_env(workdir: Path) -> dict:
    env = dict(os.environ)
    home = workdir / "home"
    env.update(
        HOME=str(home),
        LAMIN_SETTINGS_DIR=str(home),
        LAMIN_CACHE_DIR=str(workdir / "cache"),
        XDG_CACHE_HOME=str(workdir / "xdg-cache"),
        XDG_CONFIG_HOME=str(workdir / "xdg-config"),
        PYTHONPATH=str(workdir / "guard"),
        BENCH_NET_LOG=str(workdir / "net_attempts.log"),
        NO_COLOR="1",
    )
    for k in ("LAMIN_API_KEY", "LAMIN_ENV", "LAMIN_CURRENT_INSTANCE", "LAMINDB_INSTANCE_DB"):
        env.pop(k, None)
    return env


def run_py(args: list[str], workdir: Path, env: dict, timeout: float = 1200):
    """Run the venv python with args in workdir; return the value of its RESULT line."""
    p = subprocess.run(
        [sys.executable, *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (p.stdout[-1500:] + "\n" + p.stderr[-2500:]).strip()
    raise RuntimeError(f"exit {p.returncode}, no RESULT line:\n{tail}")


def orchestrate(workdir: Path) -> dict:
    out: dict = dict.fromkeys(
        (
            "import_ms",
            "track_finish_ms",
            "save_small_ms",
            "save_small_bulk_ms",
            "query_2k_ms",
            "query_count",
            "step_overhead_ms",
            "walk_50_ms",
            "walk_50_manual_ms",
            "versions",
            "sqlite",
        )
    )
    errors: dict = {}
    notes: list[str] = []
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "home").mkdir(exist_ok=True)
    (workdir / "guard").mkdir(exist_ok=True)
    (workdir / "guard" / "sitecustomize.py").write_text(NETGUARD)
    (workdir / "tracked_script.py").write_text(TRACKED_SCRIPT)
    env = bench_env(workdir)

    def attempt(name, fn):
        try:
            fn()
        except Exception as e:
            errors[name] = f"{type(e).__name__}: {e}"[-3000:]

    def init():
        lamin = Path(sys.executable).with_name("lamin")
        cmd = [str(lamin)] if lamin.exists() else [sys.executable, "-m", "lamin_cli"]
        p = subprocess.run(
            [*cmd, "init", "--storage", str(workdir / "store")],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if p.returncode != 0:
            raise RuntimeError(f"lamin init failed ({p.returncode}): {p.stderr[-2000:]}")

    attempt("init", init)
    if "init" not in errors:

        def imports():
            out["import_ms"] = statistics.median(
                run_py(["-c", IMPORT_SNIPPET], workdir, env) for _ in range(3)
            )

        def track():
            run_py([str(workdir / "tracked_script.py")], workdir, env)  # warm-up, as threadline's
            out["track_finish_ms"] = statistics.median(
                run_py([str(workdir / "tracked_script.py")], workdir, env) for _ in range(3)
            )

        attempt("import_ms", imports)
        attempt("track_finish_ms", track)
        for op in ("versions", "save_small", "query", "step_overhead", "walk"):

            def worker(op=op):
                res = run_py([str(HERE), "--workdir", str(workdir), "--op", op], workdir, env)
                errors.update(res.pop("errors", {}))
                notes.extend(res.pop("notes", []))
                out.update(res)

            attempt(op, worker)

    log = workdir / "net_attempts.log"
    out["network_attempts"] = sorted(set(log.read_text().split())) if log.exists() else []
    notes.append(
        "walk_50_ms uses lamindb.models.has_parents._get_all_parent_runs (the traversal "
        "behind artifact.view_lineage(), no graphviz); walk_50_manual_ms follows "
        "artifact.run.input_artifacts recursively. Every run (ln.track, each @ln.step call) "
        "snapshots the environment with a `python -m pip freeze` subprocess (no setting "
        "turns it off); that dominates track_finish_ms and step_overhead_ms. Offline: "
        "lamin init --storage, _is_on_hub=False, socket guard (see network_attempts)."
    )
    out["errors"] = errors
    out["notes"] = " ".join(notes)
    return out


# ----------------------------------------------------------------------- worker
def write_files(d: Path, n: int, tag: str) -> list[Path]:
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (d / f"{i}.txt").write_bytes((f"{tag}{i}:".encode() * 1024)[:1024])
    os.sync()  # flush the new files first: their writeback must not land in the timing
    return [d / f"{i}.txt" for i in range(n)]


def op_versions(ln, wd: Path) -> dict:
    import lamindb_setup

    notes = [
        f"lamindb {ln.__version__}, lamindb_setup {lamindb_setup.__version__}, "
        f"python {sys.version.split()[0]}."
    ]
    from django.db import connection

    with connection.cursor() as cursor:  # the SQLite settings LaminDB's writes run under
        sqlite = {}
        for name in ("journal_mode", "synchronous"):
            cursor.execute(f"PRAGMA {name}")
            sqlite[name] = cursor.fetchone()[0]
    return {"versions": ln.__version__, "notes": notes, "sqlite": sqlite}


def op_save_small(ln, wd: Path) -> dict:
    ln.track()
    paths = write_files(wd / "data" / "small", N_SMALL, "s")
    t = time.perf_counter()
    for i, p in enumerate(paths):
        ln.Artifact(p, key=f"small/{i}.txt").save()
    res = {"save_small_ms": (time.perf_counter() - t) * 1000 / N_SMALL}
    paths = write_files(wd / "data" / "bulk", N_SMALL, "b")
    t = time.perf_counter()
    ln.save([ln.Artifact(p, key=f"bulk/{i}.txt") for i, p in enumerate(paths)])
    res["save_small_bulk_ms"] = (time.perf_counter() - t) * 1000 / N_SMALL
    ln.finish()
    return res


def op_query(ln, wd: Path) -> dict:
    ln.track()
    paths = write_files(wd / "data" / "q", N_QUERY, "q")
    t0, count, chunk = time.perf_counter(), 0, 250
    while count < N_QUERY and time.perf_counter() - t0 < QUERY_CREATE_BUDGET_S:
        batch = paths[count : count + chunk]
        ln.save([ln.Artifact(p, key=f"q/{count + i}.txt") for i, p in enumerate(batch)])
        count += len(batch)
    ln.finish()
    qs = ln.Artifact.filter(key__startswith="q/")

    def query():
        return qs.all().to_dataframe(limit=None) if hasattr(qs, "to_dataframe") else qs.all().df()

    times = []
    for _ in range(5):
        t = time.perf_counter()
        df = query()
        times.append((time.perf_counter() - t) * 1000)
    if len(df) != count:
        raise RuntimeError(f"query returned {len(df)} rows, expected {count}")
    return {"query_2k_ms": statistics.median(times), "query_count": count}


def op_step_overhead(ln, wd: Path) -> dict:
    @ln.step()
    def noop_step(i):
        return i

    def noop_plain(i):
        return i

    @ln.flow()
    def flow():
        noop_step(-1)  # warm-up: creates the step's Transform
        t = time.perf_counter()
        for i in range(N_STEPS):
            noop_step(i)
        t_step = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(N_STEPS):
            noop_plain(i)
        return t_step - (time.perf_counter() - t)

    return {"step_overhead_ms": flow() * 1000 / N_STEPS}


def op_walk(ln, wd: Path) -> dict:
    from lamindb.models.has_parents import _get_all_parent_runs

    d = wd / "data" / "chain"
    d.mkdir(parents=True, exist_ok=True)

    @ln.step()
    def hop(prev, i: int):
        data = Path(prev.cache()).read_text()  # cache() records prev as run input
        p = d / f"{i}.txt"
        p.write_text(data + f"{i}\n")
        return ln.Artifact(p, key=f"chain/{i}.txt").save()

    @ln.flow()
    def chain():
        p = d / "0.txt"
        p.write_text("0\n")
        a = ln.Artifact(p, key="chain/0.txt").save()
        for i in range(1, N_HOPS + 1):
            a = hop(a, i)
        return a.uid

    uid = chain()

    def helper_walk(a):
        arts, runs = set(), set()
        for edge in _get_all_parent_runs(a):  # [([inputs], run), (run, [outputs]), ...]
            for x in (y for end in edge for y in (end if isinstance(end, list) else [end])):
                (runs if isinstance(x, ln.Run) else arts).add(x.uid)
        arts.discard(a.uid)  # the walk also lists the start artifact as an output
        return arts, runs

    def manual_walk(a):
        arts, runs, frontier = set(), set(), [a]
        while frontier:
            nxt = []
            for art in frontier:
                run = art.run
                if run is None or run.uid in runs:
                    continue
                runs.add(run.uid)
                for inp in run.input_artifacts.all():
                    if inp.uid not in arts:
                        arts.add(inp.uid)
                        nxt.append(inp)
            frontier = nxt
        return arts, runs

    res, notes = {}, []
    for key, fn in (("walk_50_ms", helper_walk), ("walk_50_manual_ms", manual_walk)):
        times = []
        for _ in range(5):
            last = ln.Artifact.get(uid=uid)
            t = time.perf_counter()
            arts, runs = fn(last)
            times.append((time.perf_counter() - t) * 1000)
        res[key] = statistics.median(times)
        notes.append(f"{key}: found {len(arts)} artifacts, {len(runs)} runs upstream.")
    res["notes"] = notes
    return res


def worker(op: str, wd: Path) -> dict:
    import lamindb as ln

    ln.setup.settings.instance._is_on_hub = False
    fn = {
        "versions": op_versions,
        "save_small": op_save_small,
        "query": op_query,
        "step_overhead": op_step_overhead,
        "walk": op_walk,
    }[op]
    try:
        return fn(ln, wd)
    except Exception:
        return {"errors": {op: traceback.format_exc()[-3000:]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", required=True, type=Path)
    ap.add_argument("--op", help=argparse.SUPPRESS)
    a = ap.parse_args()
    wd = a.workdir.resolve()
    if a.op:
        print("RESULT " + json.dumps(worker(a.op, wd)))
        return
    try:
        result = orchestrate(wd)
    except Exception:  # last resort: still print a JSON object
        result = {"errors": {"orchestrator": traceback.format_exc()[-3000:]}}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
