"""threadline's demo: one lineage graph across Nextflow, Snakemake, Prefect and Lightning.

1. Nextflow: a real run (lineage store of Nextflow 26.04.3) is ingested with
   ``threadline.nextflow.ingest``; its four published greetings become artifacts.
2. Snakemake: ``snakemake --logger threadline`` runs examples/demo/workflow/Snakefile,
   unmodified, on the published files and writes a table of letter counts.
3. Prefect: a flow (``threadline.prefect``) builds a feature table from that table,
   validated by a schema, and
4. trains a tiny PyTorch Lightning model on the CPU; ``threadline.lightning.Checkpoint``
   saves the checkpoints, linked to an MLflow run (``threadline.mlflow``).

Nothing joins the steps but content: each engine reads the files the previous one wrote,
and threadline finds them by their hash. Everything lives in a throwaway folder
(``--workdir``, default ./threadline-demo, emptied first): the instance (SQLite and a
storage folder, with a threadline.toml so that ``threadline`` commands run in that folder
use it), the Prefect server's home, the MLflow store and each engine's working folder.

    python examples/demo/run.py [--workdir DIR] [--epochs N]
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STARTED = time.monotonic()
sys.path.insert(0, str(HERE))

import threadline as tl  # noqa: E402
from nextflow_launch import prepare  # noqa: E402
from prefect_server import PrefectServer  # noqa: E402
from summary import report  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default="threadline-demo", type=Path)
    parser.add_argument("--epochs", default=8, type=int)
    args = parser.parse_args(argv)
    work = args.workdir.absolute()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    _isolate(work)
    server = PrefectServer(work / "prefect")  # starts now, answers a few seconds later
    os.environ.update(server.environ)
    try:
        tl.init(storage=str(work / "storage"), folder=str(work))
        results = _nextflow(work)
        letters = _snakemake(work, results)
        best_uid = _prefect(work, letters, server, args.epochs)
    finally:
        server.stop()
    report(tl.Artifact.get(uid=best_uid), work, time.monotonic() - STARTED)


def _isolate(work: Path) -> None:
    """This process and its children use the demo's instance, never the user's."""
    os.environ.update(
        THREADLINE_DB=f"sqlite:///{work / '.threadline' / 'threadline.db'}",
        THREADLINE_STORAGE=str(work / "storage"),
        THREADLINE_HOME=str(work / "home"),
        THREADLINE_CACHE_DIR=str(work / "cache"),
        PYTHONWARNINGS="ignore",
    )
    os.environ.pop("THREADLINE_PARENT_RUN", None)


def _step(text: str) -> None:
    print(f"==> {time.monotonic() - STARTED:4.1f} s  {text}", flush=True)


def _nextflow(work: Path) -> Path:
    from threadline.nextflow import ingest

    launch = work / "nextflow"
    results = prepare(launch)
    done = ingest(launch, published=[results])
    _step(
        f"nextflow: ingested run {done.run_name} ({done.tasks} tasks, "
        f"{done.artifacts} files) from {launch}"
    )
    return results


def _snakemake(work: Path, results: Path) -> Path:
    folder = work / "snakemake"
    shutil.copytree(HERE / "workflow", folder)
    command = [
        str(Path(sys.executable).with_name("snakemake")),
        "--cores",
        "2",
        "--logger",
        "threadline",
        "--config",
        f"published={results}",
    ]
    _step("snakemake: " + " ".join(["snakemake", *command[1:]]))
    with (work / "snakemake.log").open("w") as log:
        job = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
        _preload()  # import the training stack while Snakemake runs
        if job.wait() != 0:
            raise SystemExit(f"snakemake failed; its log: {work / 'snakemake.log'}")
    _step("snakemake: done; torch, lightning, prefect and mlflow imported meanwhile")
    return folder / "tables" / "letters.tsv"


def _preload() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    import lightning  # noqa: F401
    import mlflow  # noqa: F401
    import pandera.pandas  # noqa: F401
    import prefect  # noqa: F401

    for name in ("lightning.pytorch", "lightning.fabric", "mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)  # their start-up chatter


def _prefect(work: Path, letters: Path, server: PrefectServer, epochs: int) -> str:
    folder = work / "prefect-flow"
    folder.mkdir()
    server.wait()
    os.chdir(folder)
    from flow import greetings_model

    _step(f"prefect: flow greetings-model on {server.api_url} (lightning on the CPU, mlflow)")
    return greetings_model(letters, epochs, f"sqlite:///{work / 'mlflow.db'}")


if __name__ == "__main__":
    main()
