"""Core benchmark: threadline against LaminDB (and sha256sum + cp), measured in one run.

    python bench/core.py [--no-lamindb] [--quick] [--lamindb-python PATH]

Prints a table of milliseconds and ratios. Each threadline figure is measured here on a
fresh embedded instance (SQLite + local folder in a temporary directory); the LaminDB
figures come from bench/_lamindb_ops.py run in its own venv (bench/lamindb_setup.sh),
in the same invocation. Nothing here asserts; targets are printed beside the ratios.
"""

import argparse
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

HERE = Path(__file__).resolve().parent
TARGETS = {  # threadline / LaminDB must be at most this ratio
    "import_ms": 1 / 20,
    "track_finish_ms": 1 / 50,
    "save_small_ms": 1 / 15,
    "query_2k_ms": 1 / 15,
    "step_overhead_ms": 1 / 300,
    "walk_50_ms": 1 / 20,
}


def ms(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
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


def bench_import(env: dict[str, str]) -> dict[str, float]:
    plain = (
        "import time; t = time.perf_counter(); import threadline; "
        "print((time.perf_counter() - t) * 1000)"
    )
    used = (
        "import time; t = time.perf_counter(); import threadline as tl; "
        "tl.Artifact.filter().count(); print((time.perf_counter() - t) * 1000)"
    )
    return {
        "import_ms": in_subprocess(plain, env),
        "import_and_connect_ms": in_subprocess(used, env),
    }


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
        for _ in range(5)
    ]
    return statistics.median(values)


def small_files(folder: Path, n: int, tag: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{tag}{i}.txt"
        path.write_bytes(f"{tag} {i} ".encode() + os.urandom(1000))
        paths.append(path)
    os.sync()  # flush the new files first: their writeback must not land in the timing
    return paths


def bench_saves(tl: object, work: Path) -> dict[str, float]:
    singles = small_files(work / "small", 200, "s")
    bulk = small_files(work / "bulk", 200, "b")
    tl.track()  # type: ignore[attr-defined]  # saves inside a run, as LaminDB's are
    start = time.perf_counter()
    for i, path in enumerate(singles):
        tl.Artifact(path, key=f"small/{i}.txt").save()  # type: ignore[attr-defined]
    single = (time.perf_counter() - start) * 1000 / len(singles)
    start = time.perf_counter()
    tl.save([tl.Artifact(p, key=f"bulk/{i}.txt") for i, p in enumerate(bulk)])  # type: ignore[attr-defined]
    many = (time.perf_counter() - start) * 1000 / len(bulk)
    tl.finish()  # type: ignore[attr-defined]
    return {"save_small_ms": single, "save_small_bulk_ms": many}


def bench_big_file(tl: object, work: Path, size_mib: int) -> dict[str, float]:
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
    tl.Artifact(big, key="big/file.bin").save()  # type: ignore[attr-defined]
    ours = (time.perf_counter() - start) * 1000
    big.unlink()
    return {"save_big_ms": ours, "sha256sum_cp_ms": baseline, "size_mib": size_mib}


def bench_queries(tl: object, n_large: int) -> dict[str, float]:
    from threadline.models import Artifact, Storage

    storage = Storage.select().first()
    rows = [_fake_row(storage.id, f"q/{i}.txt", i) for i in range(2000)]
    for chunk in range(0, len(rows), 2000):
        Artifact.insert_many(rows[chunk : chunk + 2000]).execute()
    small = ms(lambda: tl.Artifact.filter(key__startswith="q/").to_dataframe())  # type: ignore[attr-defined]
    db = Artifact._meta.database
    for start in range(0, n_large, 20000):
        with db.atomic():
            for chunk in range(start, min(start + 20000, n_large), 2000):
                Artifact.insert_many(
                    [
                        _fake_row(storage.id, f"p{i % 1000}/f{i}", i + 10**7)
                        for i in range(chunk, min(chunk + 2000, n_large))
                    ]
                ).execute()
    large = ms(lambda: tl.Artifact.filter(key__startswith="p7/").to_dataframe())  # type: ignore[attr-defined]
    count = tl.Artifact.filter(key__startswith="p7/").count()  # type: ignore[attr-defined]
    return {
        "query_2k_ms": small,
        "query_large_ms": large,
        "query_large_rows": count,
        "query_large_table": n_large + 2000,
    }


def _fake_row(storage_id: int, key: str, i: int) -> dict[str, object]:
    """A record only (no object): the query benchmark measures the database side."""
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


def bench_steps(tl: object, n: int = 200) -> float:
    @tl.step()  # type: ignore[attr-defined]
    def noop(i: int) -> int:
        return i

    def plain(i: int) -> int:
        return i

    @tl.flow()  # type: ignore[attr-defined]
    def loop(fn: Callable[[int], int]) -> float:
        fn(-1)  # warm-up: creates the step's transform
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        return (time.perf_counter() - start) * 1000

    return (loop(noop) - loop(plain)) / n


def bench_walks(tl: object, work: Path) -> dict[str, float]:
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
        last = prev
        results[f"walk_{50 if hops == 50 else '10k'}_ms"] = ms(
            lambda a=last: tl.lineage.upstream(a)
        )  # type: ignore[attr-defined]
        assert len(tl.lineage.upstream(last).artifacts) == hops - 1  # type: ignore[attr-defined]
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


def run_threadline(quick: bool) -> dict[str, float]:
    byte_compile()
    work = Path(tempfile.mkdtemp(prefix="tl-bench-"))
    env = {
        **os.environ,
        "THREADLINE_HOME": str(work / "home"),
        "THREADLINE_CACHE_DIR": str(work / "cache"),
    }
    for name in ("THREADLINE_DB", "THREADLINE_STORAGE", "THREADLINE_PARENT_RUN"):
        env.pop(name, None)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(work)
    results = {**bench_import(env), "track_finish_ms": bench_track(env, work)}
    import threadline as tl

    results.update(bench_saves(tl, work))
    results.update(bench_big_file(tl, work, 64 if quick else 1024))
    results.update(bench_queries(tl, 20_000 if quick else 1_000_000))
    results["step_overhead_ms"] = bench_steps(tl)
    results.update(bench_walks(tl, work))
    shutil.rmtree(work, ignore_errors=True)
    return results


def run_lamindb(python: str | None) -> dict[str, object]:
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


def report(ours: dict[str, float], theirs: dict[str, object]) -> None:
    print(f"{'measure':<24}{'threadline':>14}{'LaminDB':>12}{'ratio':>10}{'target':>10}")
    for name, value in ours.items():
        other = theirs.get(name)
        ratio = f"1/{other / value:.0f}" if isinstance(other, int | float) and value > 0 else ""
        target = f"1/{1 / TARGETS[name]:.0f}" if name in TARGETS else ""
        shown = f"{other:.2f}" if isinstance(other, int | float) else ""
        print(f"{name:<24}{value:>14.3f}{shown:>12}{ratio:>10}{target:>10}")
    big = ours["save_big_ms"] / ours["sha256sum_cp_ms"]
    print(f"\n{ours['size_mib']:.0f} MiB save / (sha256sum + cp): {big:.2f}x (target <= 1.3x)")
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
    report(ours, theirs)


if __name__ == "__main__":
    main()
