"""``to_dataframe(features=True)`` of a large Nextflow run: one row per task run, a column
per feature and per key of the ``trace`` dictionary.

    python bench/query_frame.py [--tasks 100000] [--repeat 5] [--folder DIR] [--db URL]

Ingests a synthetic trace of ``--tasks`` tasks (plus retries; the generator of the tests)
once into a fresh instance (SQLite in ``--folder``, kept for the next call, or a temporary
folder; ``--db`` for PostgreSQL), then times
``tl.Run.filter(parent__uid=<workflow>).to_dataframe(features=True)``, the call
docs/nextflow.md shows, ``--repeat`` times. Target: 1 s for 100,000 tasks.
Nothing here asserts.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import threadline as tl
from threadline.nextflow import ingest

ROOT = Path(__file__).resolve().parents[1]
# the trace generator lives with the tests (test data, not part of the package)
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]


def prepare(folder: Path, tasks: int, db: str | None) -> str:
    """Connect to the instance in ``folder`` (ingesting the trace if it is new); returns
    the workflow run's uid."""
    from tests.plugins.nextflow.synthetic import write_synthetic_trace

    made = (folder / "workflow.txt").is_file()
    tl.connect(db=db or f"sqlite:///{folder}/db.sqlite", storage=f"{folder}/storage")
    if made:
        return (folder / "workflow.txt").read_text().strip()
    launch = folder / "launch"
    (launch / ".nextflow").mkdir(parents=True)
    (launch / ".nextflow" / "history").write_text(
        "2026-01-01 09:00:00\t1h\tbench_run\tOK\t56503691ebd13d4b795bdaa317807c02\t"
        "s-bench\tnextflow run bench.nf\n"
    )
    write_synthetic_trace(launch / "trace.txt", tasks)
    started = time.perf_counter()
    workflow = ingest(launch).workflow
    print(f"ingested {tasks:,} tasks in {time.perf_counter() - started:.1f} s")
    (folder / "workflow.txt").write_text(workflow)
    return workflow


def measure(workflow: str, repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each call (the CPU time of this process: a busy machine
    stretches the first, hardly the second)."""
    times, cpu = [], []
    for _ in range(repeat):
        started, used = time.perf_counter(), time.process_time()
        frame = tl.Run.filter(parent__uid=workflow).to_dataframe(features=True)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    print(f"frame: {frame.shape[0]:,} rows x {frame.shape[1]} columns")
    return times, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--folder", type=Path, help="keep the instance here (SQLite)")
    parser.add_argument("--db", help="database URL (default: SQLite in the folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        workflow = prepare(folder, args.tasks, args.db)
        times, cpu = measure(workflow, args.repeat)
        print(
            f"to_dataframe(features=True)  best {min(times):.3f} s  "
            f"median {statistics.median(times):.3f} s  (CPU best {min(cpu):.3f} s; "
            f"load {os.getloadavg()[0]:.1f}; target 1 s for 100,000 tasks)"
        )
        tl.disconnect()


if __name__ == "__main__":
    main()
