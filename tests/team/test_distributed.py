"""Distributed engines writing into one team instance (PostgreSQL + S3) at once.

Three "machines" (separate processes with separate HOME and cache folders, each with its
own copy of threadline.toml) run at the same time:

- a Prefect flow on a DaskTaskRunner whose tasks run in a ``distributed`` cluster of two
  worker processes;
- a Snakemake workflow whose jobs go through the cluster-generic executor (each job a
  separate process, started by a submit command);
- Lightning DDP on two processes (only rank zero writes).

Each reads the same input file (its own local copy, or by key from the instance), so the
result is one lineage graph joined by content. 0 errors: every process exits 0 with
THREADLINE_STRICT=1 (an adapter failure raises), every run is completed, and each run
names the host and the process that recorded it.
"""

import shutil
import socket
import sys
from pathlib import Path

import pytest
import threadline as tl

from tests.plugins.prefect.server import SETTINGS

HERE = Path(__file__).resolve().parent
WORKLOADS = HERE / "workloads"
SUBMIT = HERE.parent / "plugins" / "snakemake" / "submit.sh"
INPUT = "sample,reads\nA,120\nB,340\nC,95\n"

pytest.importorskip("snakemake_executor_plugin_cluster_generic")
pytest.importorskip("lightning")


def _start_all(team, prefect_api_url, base: Path) -> dict:
    flow, smk, ddp = (team.machine(base, name) for name in ("prefect", "snakemake", "ddp"))
    for machine in (flow, smk):
        (machine.folder / "input.csv").write_text(INPUT)
    shutil.copy(WORKLOADS / "Snakefile", smk.folder / "Snakefile")
    python = sys.executable
    prefect_env = {**SETTINGS, "PREFECT_API_URL": prefect_api_url}
    return {
        flow: flow.start(
            python,
            str(WORKLOADS / "team_flow.py"),
            "input.csv",
            "4",
            PREFECT_HOME=str(flow.folder / "prefect-home"),
            # worker processes import threadline and Prefect before they answer; a nanny
            # start failed once on the busy 2-core machine: more room than the 30 s default
            DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="180s",
            **prefect_env,
        ),
        smk: smk.start(
            str(Path(python).with_name("snakemake")),
            *("--executor", "cluster-generic", "--jobs", "3", "--logger", "threadline"),
            *("--cluster-generic-submit-cmd", str(SUBMIT), "--latency-wait", "5"),
        ),
        ddp: ddp.start(python, str(WORKLOADS / "ddp_train.py")),
    }


@pytest.mark.slow
def test_three_distributed_engines_write_one_graph(team, prefect_api_url, tmp_path, monkeypatch):
    for name in ("THREADLINE_DB", "THREADLINE_STORAGE", "THREADLINE_PARENT_RUN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THREADLINE_HOME", str(tmp_path / "test-home"))
    monkeypatch.setenv("THREADLINE_CACHE_DIR", str(tmp_path / "test-cache"))
    tl.connect(db=team.db, storage=team.storage)
    try:
        (tmp_path / "input.csv").write_text(INPUT)
        shared = tl.Artifact(tmp_path / "input.csv", key="team/input.csv").save()
        processes = _start_all(team, prefect_api_url, tmp_path / "machines")
        for machine, process in processes.items():
            assert process.wait(timeout=500) == 0, machine.output
        _check_graph(shared)
    finally:
        tl.disconnect()


def _check_graph(shared) -> None:
    runs = list(tl.Run.filter())
    assert [r for r in runs if r.status != "completed"] == []
    engines = {r.engine for r in runs}
    assert {"prefect", "snakemake"} <= engines
    downstream = tl.lineage.downstream(shared)
    reached = {(r.engine, r.transform.key) for r in downstream.runs}
    assert ("prefect", "team-dask/measure") in reached
    assert ("snakemake", "Snakefile/split") in reached
    assert any(key == "team/ddp_train.py" for _, key in reached)
    host = socket.gethostname()
    where = [(r.engine, r.name, r.hostname, getattr(r, "pid", None)) for r in runs]
    assert all(h == host and pid for _, _, h, pid in where), where
    measure = [r for r in runs if r.transform.key == "team-dask/measure"]
    flow_run = tl.Run.get(transform__key="team-dask")
    assert len(measure) == 4 and flow_run.pid not in {r.pid for r in measure}  # dask workers
    checkpoints = tl.Artifact.filter(kind="model")
    assert checkpoints.count() == 2 and all(c.uri.startswith("s3://") for c in checkpoints)
