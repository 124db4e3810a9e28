"""Issue 17 read paths, this tree against another (a git worktree) side by side in one run.

    python bench/query_speed.py --baseline /tmp/base [--rounds 5] [--folder DIR]
                                [--lamindb-python PATH] [--tasks 100000]

Three measures, each in fresh worker processes that alternate between the two trees
(baseline, this tree, baseline, ...), so that the machine's load hits both alike:
``query_2k`` (``Artifact.filter(key__startswith="q/").to_dataframe()`` over 2,000 artifacts
really saved, median of 15 calls per worker), ``walk_10k`` (``tl.lineage.upstream()`` of the
last artifact of a 10,000-hop chain, median of 3) and ``frame_100k``
(``Run.filter(parent__uid=...).to_dataframe(features=True)`` of a 100,000-task Nextflow
run, one call). Wall, CPU (process time) and the calling thread's CPU milliseconds (a
read that parses in a second thread: the calling thread's CPU is about the wall time a
machine with a free core gives, whatever the load here). The instances are made once by
this tree in ``--folder`` (kept for the next call); the baseline reads copies stamped with
its own schema version (``for_baseline``). With
``--lamindb-python``, LaminDB's ``query_2k`` (bench/_lamindb_ops.py) runs between the
rounds. Nothing here asserts.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = r"""
import json, os, statistics, sys, time
from pathlib import Path
import threadline as tl
measure, folder = sys.argv[1], Path(sys.argv[2])
if measure == "frame_100k":
    tl.connect(db=f"sqlite:///{folder}/db.sqlite", storage=f"{folder}/storage")
    uid = (folder / "workflow.txt").read_text().strip()
    call, repeat = lambda: tl.Run.filter(parent__uid=uid).to_dataframe(features=True), 1
else:
    tl.connect(db=f"sqlite:///{folder}/db.sqlite", storage=f"{folder}/storage")
    if measure == "query_2k":
        call, repeat = lambda: tl.Artifact.filter(key__startswith="q/").to_dataframe(), 15
    else:
        last = tl.Artifact.get(uid=(folder / "last.txt").read_text().strip())
        call, repeat = lambda: tl.lineage.upstream(last), 3
call()  # warm-up: imports, first connection
walls, cpus, mains = [], [], []
for _ in range(repeat):
    wall, cpu, main = time.perf_counter(), time.process_time(), time.thread_time()
    call()
    walls.append((time.perf_counter() - wall) * 1000)
    cpus.append((time.process_time() - cpu) * 1000)
    mains.append((time.thread_time() - main) * 1000)
medians = {"wall": walls, "cpu": cpus, "main-thread cpu": mains}
print(json.dumps({k: statistics.median(v) for k, v in medians.items()}))
"""


def link_tree(worktree: Path, into: Path) -> Path:
    """An importable ``threadline`` package made of links into ``worktree`` (core and
    plugins), as the editable install maps them."""
    package = into / "threadline"
    subprocess.run(["cp", "-rs", str(worktree / "core" / "threadline"), str(package)], check=True)
    for plugin in (worktree / "plugins").iterdir():
        if (plugin / "__init__.py").is_file():
            subprocess.run(["rm", "-rf", str(package / plugin.name)], check=True)
            subprocess.run(["cp", "-rs", str(plugin), str(package / plugin.name)], check=True)
    return into


def prepare(folder: Path, tasks: int) -> None:
    """The three instances, made once (by this tree) under ``folder``."""
    import threadline as tl
    from threadline import adapters

    q2k, chain = folder / "q2k", folder / "chain10k"
    if not (q2k / "last.txt").exists():
        files = q2k / "files"
        files.mkdir(parents=True, exist_ok=True)
        tl.connect(db=f"sqlite:///{q2k}/db.sqlite", storage=f"{q2k}/storage")
        paths = [files / f"q{i}.txt" for i in range(2000)]
        for i, path in enumerate(paths):
            path.write_bytes(f"q {i} ".encode() + os.urandom(1000))
        tl.track()
        for start in range(0, len(paths), 250):
            chunk = paths[start : start + 250]
            tl.save([tl.Artifact(p, key=f"q/{start + i}.txt") for i, p in enumerate(chunk)])
        tl.finish()
        (q2k / "last.txt").write_text("done")
        tl.disconnect()
    if not (chain / "last.txt").exists():
        (chain / "files").mkdir(parents=True, exist_ok=True)
        tl.connect(db=f"sqlite:///{chain}/db.sqlite", storage=f"{chain}/storage")
        prev = None
        for i in range(10_000):
            run = adapters.start_run("bench/hop", "step")
            if prev is not None:
                adapters.link_inputs(run, artifacts=[prev])
            path = chain / "files" / f"{i}.txt"
            path.write_text(f"hop {i}")
            output = adapters.Output(str(path), key=f"chain/{i}")
            prev = adapters.register_outputs(run, [output])[0]
        (chain / "last.txt").write_text(prev.uid)
        tl.disconnect()
    frame = folder / "frame100k"
    frame.mkdir(exist_ok=True)
    script = [sys.executable, str(HERE / "query_frame.py"), "--folder", str(frame)]
    subprocess.run(
        [*script, "--tasks", str(tasks), "--repeat", "1"],
        check=True,
        capture_output=True,
    )


def worker(measure: str, folder: Path, path: str | None) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    if path:
        env["PYTHONPATH"] = path
    sub = {"query_2k": "q2k", "walk_10k": "chain10k", "frame_100k": "frame100k"}[measure]
    done = subprocess.run(
        [sys.executable, "-c", WORKER, measure, str(folder / sub)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def lamindb_query(python: str) -> float:
    sys.path.insert(0, str(HERE))
    import _lamindb_ops as ops  # the LaminDB side of bench/core.py

    work = Path(tempfile.mkdtemp(prefix="lamin-q-"))
    (work / "home").mkdir()
    (work / "guard").mkdir()
    (work / "guard" / "sitecustomize.py").write_text(ops.NETGUARD)
    env = ops.bench_env(work)
    python = str(Path(python).absolute())  # the commands run in ``work``; a venv's python is a link
    lamin = Path(python).with_name("lamin")
    subprocess.run(
        [str(lamin), "init", "--storage", str(work / "store")],
        cwd=work,
        env=env,
        capture_output=True,
        check=True,
    )
    args = [str(HERE / "_lamindb_ops.py"), "--workdir", str(work), "--op", "query"]
    try:
        found = subprocess.run(
            [python, *args], cwd=work, env=env, capture_output=True, text=True, check=True
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)  # LaminDB's instance and its 2,000 files
    line = next(x for x in reversed(found.stdout.splitlines()) if x.startswith("RESULT "))
    return float(json.loads(line[len("RESULT ") :])["query_2k_ms"])


def for_baseline(folder: Path, baseline: Path) -> Path:
    """Copies of the instances stamped with the baseline's schema version, which refuses a
    newer one: the steps since (v7: foreign keys) change nothing these reads touch."""
    import re
    import sqlite3

    source = (baseline / "core" / "threadline" / "models" / "_migrations.py").read_text()
    version = int(re.search(r"^LATEST = (\d+)", source, re.M).group(1))  # type: ignore[union-attr]
    copies = folder / f"baseline-v{version}"
    for sub in ("q2k", "chain10k", "frame100k"):
        if not (copies / sub).exists():
            shutil.copytree(folder / sub, copies / sub, symlinks=True)
            with sqlite3.connect(copies / sub / "db.sqlite") as db:
                db.execute("UPDATE threadline_schema_version SET version = ?", (version,))
    return copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a git worktree")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--folder", type=Path, help="keep the instances here")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--lamindb-python", help="python of bench/lamindb_setup.sh's venv")
    parser.add_argument("--measures", default="query_2k,walk_10k,frame_100k")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="tl-query-speed-"))
    folder.mkdir(parents=True, exist_ok=True)
    prepare(folder, args.tasks)
    base = str(link_tree(args.baseline, Path(tempfile.mkdtemp(prefix="tl-base-"))))
    copies = for_baseline(folder, args.baseline)
    results: dict[str, dict[str, list[float]]] = {}
    lamindb: list[float] = []
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for measure in args.measures.split(","):
            for side, path in (("baseline", base), ("this tree", None)):
                found = worker(measure, copies if path else folder, path)
                for unit, value in found.items():
                    results.setdefault(f"{measure} {unit}", {}).setdefault(side, []).append(value)
        if args.lamindb_python:
            lamindb.append(lamindb_query(args.lamindb_python))
        loads.append(os.getloadavg()[0])
    print(f"load average (1 min) over the run: {min(loads):.1f}-{max(loads):.1f}")
    print(f"{'measure (ms, median of rounds)':<32}{'baseline':>10}{'this tree':>11}{'ratio':>8}")
    for name, sides in results.items():
        old, new = statistics.median(sides["baseline"]), statistics.median(sides["this tree"])
        print(f"{name:<32}{old:>10.1f}{new:>11.1f}{old / new:>7.2f}x")
    if lamindb:
        theirs = statistics.median(lamindb)
        for side in ("baseline", "this tree"):
            ours = statistics.median(results["query_2k wall"][side])
            print(f"LaminDB query_2k {theirs:.1f} ms; {side}: 1/{theirs / ours:.1f}")


if __name__ == "__main__":
    main()
