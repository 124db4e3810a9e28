"""A flow on prefect-dask's DaskTaskRunner with a local cluster of 2 worker processes."""

from pathlib import Path

import threadline as tl
from prefect_dask import DaskTaskRunner
from threadline.prefect import flow, task

from tests.plugins.prefect.flows_more import gather_parts, where


@task
def save_part(i: int) -> str:
    """Saves an artifact in its body, in a worker process."""
    Path(f"saved-{i}.txt").write_text(f"part {i}\n")
    tl.Artifact(f"saved-{i}.txt", key=f"parts/saved-{i}.txt").save()
    return f"saved-{i}.txt"


RUNNER = DaskTaskRunner(
    cluster_kwargs={
        "n_workers": 2,
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": ":0",  # any free port: never 8787, which another run may hold
    }
)


@flow(name="on-dask", task_runner=RUNNER)
def on_dask(n: int = 4) -> list[int]:
    parts = where.map(range(n))
    save_part.map(range(2)).wait()
    return gather_parts.submit(parts).result()
