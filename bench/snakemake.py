"""Snakemake logger benchmark: a workflow's wall time with and without ``--logger threadline``.

    python bench/snakemake.py [--jobs 500] [--cores 2] [--repeats 1]

Generates a workflow of ``--jobs`` trivial shell jobs (``echo {i} > out/{i}.txt``) plus a
target rule that gathers them, and runs it with the ``snakemake`` command of this
environment, alternately plain and with ``--logger threadline`` (a fresh working
directory and a fresh embedded instance each time, ``--repeats`` pairs). Prints each
run's wall time and CPU time (Snakemake and its job processes; steadier than wall time
on a shared machine), the ratios of the medians and of the best runs (target <= 1.10x)
and the overhead per job, and checks that the logged runs recorded every job. Nothing
here asserts a time.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SNAKEFILE = """\
N = int(config.get("jobs", 500))


rule all:
    input:
        expand("out/{i}.txt", i=range(N)),


rule make:
    output:
        "out/{i}.txt",
    shell:
        "echo {wildcards.i} > {output}"
"""
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def run_once(base: Path, name: str, jobs: int, cores: int, logged: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds of snakemake and its job processes)."""
    folder = base / name
    folder.mkdir()
    (folder / "Snakefile").write_text(SNAKEFILE)
    env = {
        **os.environ,
        "THREADLINE_DB": f"sqlite:///{folder / 'tl' / 'threadline.db'}",
        "THREADLINE_STORAGE": str(folder / "tl" / "storage"),
        "THREADLINE_CACHE_DIR": str(folder / "tl" / "cache"),
    }
    args = [
        str(SNAKEMAKE),
        "--cores",
        str(cores),
        "--config",
        f"jobs={jobs}",
        "--workflow-profile",
        "none",
    ]
    if logged:
        args += ["--logger", "threadline"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(args, cwd=folder, env=env, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if logged:
        check_recorded(env, jobs + 1)
    return elapsed, cpu


def check_recorded(env: dict[str, str], expected: int) -> None:
    code = (
        "import threadline as tl; p = tl.Run.get(engine='snakemake', parent=None); "
        "print(p.status, p.children.count(), tl.Artifact.filter().count())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    status, children, artifacts = done.stdout.split()
    if status != "completed" or int(children) != expected:
        raise SystemExit(f"logged run incomplete: {status}, {children}/{expected} job runs")
    print(f"  recorded: pipeline {status}, {children} job runs, {artifacts} artifacts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    plain: list[tuple[float, float]] = []
    logged: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.repeats):
            for label, runs, with_logger in (("plain ", plain, False), ("logger", logged, True)):
                runs.append(
                    run_once(
                        Path(tmp), f"{label.strip()}{index}", args.jobs, args.cores, with_logger
                    )
                )
                print(f"{label} #{index + 1}: {runs[-1][0]:.2f} s wall, {runs[-1][1]:.2f} s CPU")
    print(f"jobs: {args.jobs} (+1 target), cores: {args.cores}, load: {os.getloadavg()[0]:.1f}")
    for what, column in (("wall", 0), ("CPU", 1)):
        for stat, pick in (("median", statistics.median), ("best", min)):
            base = pick(r[column] for r in plain)
            with_logger = pick(r[column] for r in logged)
            per_job = (with_logger - base) / (args.jobs + 1) * 1000
            print(
                f"{what:4s} {stat:6s}: with/without --logger threadline "
                f"{with_logger / base:.3f}x (target <= 1.10x), {per_job:+.1f} ms per job"
            )


if __name__ == "__main__":
    main()
