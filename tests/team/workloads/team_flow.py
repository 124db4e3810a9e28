"""One "machine" of the team test: a Prefect flow on a Dask cluster of 2 worker processes.

Each task reads the shared input (a local copy: threadline finds it by content) and runs
in a worker process; the flow process records the flow run, the workers their task runs.
"""

import os
import sys
from pathlib import Path

from prefect import unmapped
from prefect_dask import DaskTaskRunner
from threadline.prefect import flow, task


@task
def measure(source: Path, part: int) -> Path:
    rows = source.read_text().splitlines()
    out = Path("parts") / f"part-{part}.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(f"part {part}: {len(rows)} rows, pid {os.getpid()}\n")
    return out


@task
def combine(parts: list[Path]) -> Path:
    out = Path("combined.txt")
    out.write_text("".join(p.read_text() for p in parts))
    return out


RUNNER = DaskTaskRunner(
    cluster_kwargs={
        "n_workers": 2,
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": None,
    }
)


@flow(name="team-dask", task_runner=RUNNER)
def team_dask(source: Path, n: int = 4) -> str:
    parts = measure.map(unmapped(source), range(n))
    return str(combine.submit(parts).result())


if __name__ == "__main__":
    print(team_dask(Path(sys.argv[1]), int(sys.argv[2])))
