"""Core benchmark: threadline against LaminDB (and sha256sum + cp), measured in one run.

    python bench/core.py [--no-lamindb] [--quick] [--lamindb-python PATH]

Prints a table of milliseconds and ratios. Each threadline figure is measured here on a
fresh embedded instance (SQLite + local folder in a temporary directory); the LaminDB
figures come from bench/_lamindb_ops.py run in its own venv (bench/lamindb_setup.sh),
in the same invocation. Nothing here asserts; targets are printed beside the ratios.
"""

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGETS = {  # threadline / LaminDB must be at most this ratio
    "import_and_connect_ms": 1 / 20,
    "track_finish_ms": 1 / 50,
    "save_small_ms": 1 / 15,
    "query_2k_ms": 1 / 15,
    "step_overhead_ms": 1 / 300,
    "walk_50_ms": 1 / 20,
}


# LaminDB connects on import: its import is compared with threadline's import + first query
COMPARED = {"import_and_connect_ms": "import_ms", "import_ms": ""}
WRITES = ("track_finish_ms", "save_small_ms", "save_small_bulk_ms", "step_overhead_ms")


def ms(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def cpu_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median CPU time (this process, all threads): what load on a shared machine does
    not stretch, unlike ``ms``."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times)


def in_subprocess(code: str, env: dict[str, str], repeat: int = 5) -> float:
    """Median of a number printed by ``code`` run in fresh interpreters."""
    values = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        values.append(float(out[-1]))
    return statistics.median(values)


def whole_process(code: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) milliseconds of ``python -c code``, start to exit."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    if status != 0:
        raise RuntimeError(f"python -c {code!r} failed ({status})")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


WHOLE = {  # whole processes, run interleaved so that the load hits all alike
    "python": "pass",
    "peewee": "import peewee",
    "threadline": "import threadline as tl; tl.Artifact.filter().count()",
}


def bench_import(env: dict[str, str], repeat: int = 15) -> dict[str, float]:
    plain = (
        "import time; t = time.perf_counter(); import threadline; "
        "print((time.perf_counter() - t) * 1000)"
    )
    used = (
        "import time; t = time.perf_counter(); import threadline as tl; "
        "tl.Artifact.filter().count(); print((time.perf_counter() - t) * 1000)"
    )
    results = {
        "import_ms": in_subprocess(plain, env),
        "import_and_connect_ms": in_subprocess(used, env),
    }
    walls: dict[str, list[float]] = {name: [] for name in WHOLE}
    cpus: dict[str, list[float]] = {name: [] for name in WHOLE}
    for _ in range(repeat):
        for name, code in WHOLE.items():
            wall, cpu = whole_process(code, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    for name in WHOLE:
        results[f"process_{name}_ms"] = statistics.median(walls[name])
        results[f"process_{name}_cpu_ms"] = statistics.median(cpus[name])
    return results


TRACK_SCRIPT = """
import time, threadline as tl
tl.Artifact.filter().count()  # connect first: LaminDB connects on import
t = time.perf_counter()
tl.track(params={"alpha": 1})
tl.finish()
print((time.perf_counter() - t) * 1000)
"""


def bench_track(env: dict[str, str], work: Path) -> float:
    script = work / "tracked_script.py"
    script.write_text(TRACK_SCRIPT)
    subprocess.run([sys.executable, str(script)], env=env, check=True, capture_output=True)
    values = [
        float(
            subprocess.run(
                [sys.executable, str(script)], env=env, check=True, capture_output=True, text=True
            ).stdout.split()[-1]
        )
        for _ in range(3)
    ]
    return statistics.median(values)  # after one warm-up run, as on LaminDB's side


def small_files(folder: Path, n: int, tag: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{tag}{i}.txt"
        path.write_bytes(f"{tag} {i} ".encode() + os.urandom(1000))
        paths.append(path)
    os.sync()  # flush the new files first: their writeback must not land in the timing
    return paths


def bench_saves(tl: Any, work: Path) -> dict[str, float]:
    singles = small_files(work / "small", 200, "s")
    bulk = small_files(work / "bulk", 200, "b")
    tl.track()  # saves inside a run, as LaminDB's are
    start = time.perf_counter()
    for i, path in enumerate(singles):
        tl.Artifact(path, key=f"small/{i}.txt").save()
    single = (time.perf_counter() - start) * 1000 / len(singles)
    start = time.perf_counter()
    tl.save([tl.Artifact(p, key=f"bulk/{i}.txt") for i, p in enumerate(bulk)])
    many = (time.perf_counter() - start) * 1000 / len(bulk)
    tl.finish()
    return {"save_small_ms": single, "save_small_bulk_ms": many}


def bench_big_file(tl: Any, work: Path, size_mib: int) -> dict[str, float]:
    big = work / "big.bin"
    with open(big, "wb") as handle:
        for _ in range(size_mib):
            handle.write(os.urandom(1 << 20))
    subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)  # warm cache
    start = time.perf_counter()
    subprocess.run(["sha256sum", str(big)], check=True, capture_output=True)
    subprocess.run(["cp", str(big), str(work / "copy.bin")], check=True)
    baseline = (time.perf_counter() - start) * 1000
    (work / "copy.bin").unlink()
    start = time.perf_counter()
    tl.Artifact(big, key="big/file.bin").save()
    ours = (time.perf_counter() - start) * 1000
    big.unlink()
    return {"save_big_ms": ours, "sha256sum_cp_ms": baseline, "size_mib": size_mib}


def bench_queries(tl: Any, work: Path, n_large: int) -> dict[str, float]:
    from threadline.models import Artifact, Storage

    paths = small_files(work / "q", 2000, "q")  # really saved, as LaminDB's side does
    tl.track()
    for start in range(0, len(paths), 250):
        chunk = paths[start : start + 250]
        tl.save([tl.Artifact(p, key=f"q/{start + i}.txt") for i, p in enumerate(chunk)])
    tl.finish()
    small = ms(lambda: tl.Artifact.filter(key__startswith="q/").to_dataframe())
    assert len(tl.Artifact.filter(key__startswith="q/").to_dataframe()) == len(paths)
    storage = Storage.select().first()
    db = Artifact._meta.database
    for start in range(0, n_large, 20000):  # records only: the large query's haystack
        with db.atomic():
            for chunk_start in range(start, min(start + 20000, n_large), 2000):
                Artifact.insert_many(
                    [
                        _fake_row(storage.id, f"p{i % 1000}/f{i}", i + 10**7)
                        for i in range(chunk_start, min(chunk_start + 2000, n_large))
                    ]
                ).execute()
    large = ms(lambda: tl.Artifact.filter(key__startswith="p7/").to_dataframe())
    count = tl.Artifact.filter(key__startswith="p7/").count()
    return {
        "query_2k_ms": small,
        "query_large_ms": large,
        "query_large_rows": count,
        "query_large_table": n_large + 2000,
    }


def _fake_row(storage_id: int, key: str, i: int) -> dict[str, object]:
    """A record only (no object): the 1,000,000-row haystack of ``query_large``."""
    return {
        "uid": f"{i:016d}",
        "key": key,
        "hash": f"{i:064x}",
        "storage": storage_id,
        "path": f"objects/{i}",
        "size": 1024,
        "suffix": ".txt",
        "version": 1,
        "is_latest": True,
        "visibility": "main",
        "hash_type": "sha256",
        "in_place": False,
        "created_at": "2026-11-30 00:00:00",
    }


def bench_steps(tl: Any, n: int = 200) -> float:
    def plain(i: int) -> int:
        return i

    def timed(fn: Callable[[int], int]) -> float:
        fn(-1)  # warm-up: creates the step's transform
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        return (time.perf_counter() - start) * 1000

    noop, loop = tl.step()(plain), tl.flow()(timed)
    return float(loop(noop) - loop(plain)) / n


def bench_walks(tl: Any, work: Path) -> dict[str, float]:
    from threadline import adapters

    results = {}
    for hops in (50, 10_000):
        prev, folder = None, work / f"chain{hops}"
        folder.mkdir()
        for i in range(hops):
            run = adapters.start_run("bench/hop", "step")
            if prev is not None:
                adapters.link_inputs(run, artifacts=[prev])
            path = folder / f"{i}.txt"
            path.write_text(f"hop {i}")
            prev = adapters.register_outputs(
                run, [adapters.Output(str(path), key=f"chain{hops}/{i}")]
            )[0]
        last: Any = prev
        name = f"walk_{50 if hops == 50 else '10k'}"
        results[f"{name}_ms"] = ms(functools.partial(tl.lineage.upstream, last))
        results[f"{name}_cpu_ms"] = cpu_ms(functools.partial(tl.lineage.upstream, last))
        assert len(tl.lineage.upstream(last).artifacts) == hops - 1
    return results


def byte_compile() -> None:
    """Compile threadline's modules, as pip does for an installed package (LaminDB's are).

    An editable install under PYTHONDONTWRITEBYTECODE=1 would otherwise compile every
    module from source on each import, which is not what users of a release see.
    """
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("threadline")
    assert spec is not None and spec.submodule_search_locations
    for folder in spec.submodule_search_locations:
        compileall.compile_dir(folder, quiet=1)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


def sqlite_settings(tl: Any) -> dict[str, object]:
    db = tl.instance().db
    names = ("journal_mode", "synchronous")
    return {name: db.execute_sql(f"PRAGMA {name}").fetchone()[0] for name in names}


def fresh_instance(work: Path, name: str, extra: dict[str, str]) -> dict[str, str]:
    """Point this process (and the returned env, for children) at a new embedded instance."""
    env = {
        **os.environ,
        "THREADLINE_HOME": str(work / name / "home"),
        "THREADLINE_CACHE_DIR": str(work / name / "cache"),
        **extra,
    }
    for key in ("THREADLINE_DB", "THREADLINE_STORAGE", "THREADLINE_PARENT_RUN"):
        env.pop(key, None)
    os.environ.clear()
    os.environ.update(env)
    return env


def run_threadline(quick: bool) -> dict[str, Any]:
    byte_compile()
    work = Path(tempfile.mkdtemp(prefix="tl-bench-"))
    env = fresh_instance(work, "normal", {})
    os.chdir(work)
    results: dict[str, Any] = {**bench_import(env), "track_finish_ms": bench_track(env, work)}
    import threadline as tl

    results.update(bench_saves(tl, work))
    results.update(bench_big_file(tl, work, 64 if quick else 1024))
    results.update(bench_queries(tl, work, 20_000 if quick else 1_000_000))
    results["step_overhead_ms"] = bench_steps(tl)
    results.update(bench_walks(tl, work))
    results["sqlite"] = sqlite_settings(tl)
    tl.disconnect()
    # the writes again with every commit synced (synchronous=FULL), on a new instance
    env = fresh_instance(work, "full", {"THREADLINE_SQLITE_SYNCHRONOUS": "full"})
    full: dict[str, Any] = {
        "track_finish_ms": bench_track(env, work),
        **bench_saves(tl, work / "full"),
    }
    full["step_overhead_ms"] = bench_steps(tl)
    full["sqlite"] = sqlite_settings(tl)
    results["full_sync"] = full
    shutil.rmtree(work, ignore_errors=True)
    return results


def run_lamindb(python: str | None) -> dict[str, Any]:
    if python is None:
        setup = subprocess.run(
            ["bash", str(HERE / "lamindb_setup.sh")], capture_output=True, text=True
        )
        if setup.returncode != 0:
            return {"errors": {"setup": setup.stderr.strip()[-300:]}}
        python = setup.stdout.strip().splitlines()[-1]
    work = tempfile.mkdtemp(prefix="lamin-bench-")
    done = subprocess.run(
        [python, str(HERE / "_lamindb_ops.py"), "--workdir", work], capture_output=True, text=True
    )
    shutil.rmtree(work, ignore_errors=True)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
    except (IndexError, json.JSONDecodeError):
        return {"errors": {"run": done.stderr.strip()[-300:]}}


def report(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    print(f"{'measure':<24}{'threadline':>14}{'LaminDB':>12}{'ratio':>10}{'target':>10}")
    for name, value in ours.items():
        if not isinstance(value, int | float) or name.startswith("process_"):
            continue
        other = theirs.get(COMPARED.get(name, name))
        ratio = f"1/{other / value:.0f}" if isinstance(other, int | float) and value > 0 else ""
        target = f"1/{1 / TARGETS[name]:.0f}" if name in TARGETS else ""
        shown = f"{other:.2f}" if isinstance(other, int | float) else ""
        print(f"{name:<24}{value:>14.3f}{shown:>12}{ratio:>10}{target:>10}")
    print("\nwhole process, median of interleaved runs (ms): wall / CPU")
    for name, code in WHOLE.items():
        wall, cpu = ours[f"process_{name}_ms"], ours[f"process_{name}_cpu_ms"]
        print(f"  {name:<11}{wall:>8.1f} /{cpu:>7.1f}   python -c {code!r}")
    wall = ours["process_threadline_ms"] - ours["process_peewee_ms"]
    cpu = ours["process_threadline_cpu_ms"] - ours["process_peewee_cpu_ms"]
    print(f"  threadline - peewee: {wall:+.1f} ms wall, {cpu:+.1f} ms CPU (target <= +20)")
    big = ours["save_big_ms"] / ours["sha256sum_cp_ms"]
    print(f"\n{ours['size_mib']:.0f} MiB save / (sha256sum + cp): {big:.2f}x (target <= 1.3x)")
    full = ours["full_sync"]
    print(f"\nthreadline SQLite {ours['sqlite']}; again at {full['sqlite']}:")
    for name in WRITES:
        print(f"  {name:<22}{ours[name]:>10.3f} -> {full[name]:>10.3f} ms")
    if theirs.get("sqlite"):
        print(f"LaminDB SQLite {theirs['sqlite']}")
    if theirs.get("errors"):
        print(f"LaminDB errors: {theirs['errors']}")
    if theirs.get("versions"):
        print(f"LaminDB {theirs['versions']}; notes: {theirs.get('notes', '')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-lamindb", action="store_true", help="threadline figures only")
    parser.add_argument("--quick", action="store_true", help="64 MiB file, 20k-row table")
    parser.add_argument("--lamindb-python", help="python of an existing LaminDB venv")
    args = parser.parse_args()
    theirs = {} if args.no_lamindb else run_lamindb(args.lamindb_python)
    ours = run_threadline(args.quick)
    load, cores, version = os.getloadavg()[0], os.cpu_count(), sys.version.split()[0]
    print(f"load average {load:.1f}, {cores} cores, Python {version}")
    report(ours, theirs)


if __name__ == "__main__":
    main()
