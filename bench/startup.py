"""Start-up cost: ``import threadline`` + first query, as a whole process, against
``python -c "import peewee"`` (issue 17: at most peewee + 20 ms), this tree beside a
baseline tree, in one run.

    python bench/startup.py --base /tmp/base-6db4dff          # CPU and wall, interleaved
    python bench/startup.py --base /tmp/base-6db4dff --instructions   # + cachegrind

``--base`` is a checkout of the baseline commit (``git worktree add /tmp/base-6db4dff
6db4dff``); both trees are imported from their ``core/`` folder (``PYTHONPATH``, set for
the peewee process too, so that all three search the same folders) with their bytecode
compiled first (a start that compiles from source costs 1.6x). Each tree opens its own
new embedded instance (SQLite + a local folder, as ``THREADLINE_HOME`` places it). The
processes run interleaved (peewee, baseline, this tree, again and again) so that the
machine's load hits all three alike; the medians of CPU time (user + system) and wall
time are printed, and with ``--instructions`` the instruction counts of one process each
under ``valgrind --tool=cachegrind`` (deterministic: the measure for a busy machine).
"""

import argparse
import compileall
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
FIRST_QUERY = "import threadline as tl; tl.Artifact.filter().count()"


def environment(core: Path, work: Path, name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as users run: bytecode cached
    env["PYTHONHASHSEED"] = "0"  # the same string hashes in every run (instruction counts)
    env["THREADLINE_HOME"] = str(work / name / "home")
    env["THREADLINE_CACHE_DIR"] = str(work / name / "cache")
    env["PYTHONPATH"] = str(core)
    return env


def one(code: str, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU milliseconds of ``python -c code``, start to exit."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=cwd)
    _, status, usage = os.wait4(child.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    if status != 0:
        raise RuntimeError(f"python -c {code!r} failed ({status})")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def instructions(code: str, env: dict[str, str], cwd: Path) -> int:
    valgrind = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
    ]
    command = [*valgrind, sys.executable, "-c", code]
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError("no instruction count in valgrind's output")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="baseline checkout")
    parser.add_argument("--repeat", type=int, default=25, help="processes per case")
    parser.add_argument("--instructions", action="store_true", help="also cachegrind")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tl-startup-"))
    cases = {
        # peewee with a PYTHONPATH entry as well: every import searches one folder more
        "peewee": ("import peewee", environment(HERE / "core", work, "peewee")),
        "baseline": (FIRST_QUERY, environment(args.base / "core", work, "baseline")),
        "this tree": (FIRST_QUERY, environment(HERE / "core", work, "this")),
    }
    for core in (args.base / "core", HERE / "core"):
        compileall.compile_dir(core / "threadline", quiet=1)
    for code, env in cases.values():  # warm-up: opens (creates) each instance once
        one(code, env, work)
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, (code, env) in cases.items():
            wall, cpu = one(code, env, work)
            walls[name].append(wall)
            cpus[name].append(cpu)
    print(f"load average {os.getloadavg()[0]:.1f}; medians of {args.repeat} processes")
    peewee = statistics.median(cpus["peewee"]), statistics.median(walls["peewee"])
    for name in cases:
        cpu, wall = statistics.median(cpus[name]), statistics.median(walls[name])
        extra = f" (peewee {cpu - peewee[0]:+.1f} CPU, {wall - peewee[1]:+.1f} wall)"
        print(
            f"  {name:10} CPU {cpu:6.1f} ms  wall {wall:6.1f} ms{'' if name == 'peewee' else extra}"
        )
    if args.instructions:
        counts = {name: instructions(code, env, work) for name, (code, env) in cases.items()}
        for name, count in counts.items():
            over = count - counts["peewee"]
            extra = "" if name == "peewee" else f" (peewee {over / 1e6:+.1f} M)"
            print(f"  {name:10} {count / 1e6:7.1f} M instructions{extra}")


if __name__ == "__main__":
    main()
