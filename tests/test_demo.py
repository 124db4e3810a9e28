"""The demo's Python part end to end (scripts/demo without the venv set-up): one lineage
graph in which the best checkpoint depends on Nextflow, Snakemake and Prefect runs."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import threadline as tl

from tests import harness

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo" / "run.py"

pytest.importorskip("prefect")
pytest.importorskip("snakemake")
pytest.importorskip("lightning")
pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """Run the demo once; returns its folder, its output and the untouched home."""
    base = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THREADLINE_", "PREFECT_"))}
    env.update(THREADLINE_HOME=str(base / "home"), HOME=str(base / "user"))
    done = subprocess.run(
        [sys.executable, str(DEMO), "--workdir", "threadline-demo", "--epochs", "3"],
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return base / "threadline-demo", done.stdout, base / "home"


@pytest.fixture
def demo_instance(demo, isolated):
    work, _, _ = demo
    tl.connect(
        db=f"sqlite:///{work / '.threadline' / 'threadline.db'}", storage=str(work / "storage")
    )
    yield work
    harness.end_open_runs()  # a failed test may leave one: disconnect would refuse
    tl.disconnect()


def test_the_best_checkpoint_depends_on_every_engine(demo_instance):
    best = tl.Artifact.get(is_best_model=True)
    assert best.kind == "model" and best.run.engine == "prefect"
    upstream = tl.lineage.upstream(best)
    engines = {run.engine for run in upstream.runs}
    assert engines == {"nextflow", "snakemake", "prefect"}
    processes = {run.transform.key for run in upstream.runs if run.engine == "nextflow"}
    assert processes == {"main.nf/SAYHELLO", "main.nf/CONVERTTOUPPER"}
    keys = {a.key for a in upstream.artifacts}
    assert {"results/UPPER-Hello-output.txt", "tables/letters.tsv"} <= keys
    assert "features/greetings.parquet" in keys
    features = tl.Artifact.get(key="features/greetings.parquet")
    assert features.schema.name == "greeting-letter-profile" and features.n_observations == 4


def test_engines_are_joined_by_content(demo_instance):
    """Snakemake read the published files by a path of its own: the inputs of its jobs
    are the Nextflow artifacts, found by their hash."""
    published = tl.Artifact.get(key="results/UPPER-Hola-output.txt")
    assert published.run.engine == "nextflow" and published.run.name == "CONVERTTOUPPER (3)"
    job = tl.Run.get(engine="snakemake", name="count_letters (greeting=Hola)")
    assert {a.hash for a in job.inputs} == {published.hash}
    flow_task = tl.Run.get(engine="prefect", transform__key="greetings-model/build_features")
    assert [a.key for a in flow_task.inputs] == ["tables/letters.tsv"]


def test_the_checkpoint_is_linked_to_mlflow(demo_instance):
    best = tl.Artifact.get(is_best_model=True)
    mlflow_id = best.run.features.get_values()["mlflow_run_id"]
    with sqlite3.connect(demo_instance / "mlflow.db") as db:
        tags = dict(db.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (mlflow_id,)))
    assert tags["threadline.run_uid"] == best.run.uid
    assert tags["threadline.checkpoint.best"] == best.uri


def test_the_cli_lineage_names_every_engines_runs(demo, demo_instance):
    work, output, home = demo
    best = tl.Artifact.get(is_best_model=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("threadline")), "lineage", best.key],
        cwd=work,  # its threadline.toml names the demo's instance
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    for engine in ("nextflow", "snakemake", "prefect"):
        assert any(run.uid in done.stdout for run in tl.Run.filter(engine=engine)), engine
    assert f"threadline lineage {best.key}" in output
    assert "runs: 19 (nextflow 9, snakemake 7, prefect 3)" in output
    assert "results/UPPER-" in output.split("the chain")[1]
    assert not home.exists()  # the user's default instance was never touched
