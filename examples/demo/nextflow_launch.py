"""The demo's Nextflow run: a real lineage store, its task work dirs rebuilt from it.

The store (tests/plugins/nextflow/fixtures/.../.lineage, 27 files written by Nextflow
26.04.3 for the training pipeline SAYHELLO x4 -> CONVERTTOUPPER x4, run
``elegant_davinci``) keeps every task's script and inputs but not the files the tasks
wrote. The demo copies the store into a launch dir, recreates each task's work dir by
running the script the store recorded for it (``echo``, ``tr``) with its inputs staged as
symlinks, as Nextflow does, checks each file against the size the store recorded, and
publishes the four results with symlinks (``publishDir``'s default mode). Then
``threadline.nextflow.ingest`` reads the launch dir like any finished run.
"""

import shutil
import subprocess
from pathlib import Path

from threadline.nextflow import read_store

ROOT = Path(__file__).resolve().parents[2]
STORE = (
    ROOT
    / "tests"
    / "plugins"
    / "nextflow"
    / "fixtures"
    / "lineage"
    / "store_training_sidequest_nf26.04.3"
    / ".lineage"
)


def prepare(launch: Path) -> Path:
    """Build the launch dir ``launch``; returns its published output dir."""
    shutil.copytree(STORE, launch / ".lineage")
    store = read_store(launch / ".lineage")
    tasks = store.tasks_of(store.workflow_run())
    staged_last = sorted(tasks, key=lambda t: any(i["type"] == "path" for i in t.spec["input"]))
    for task in staged_last:
        _rerun(launch, task.key, task.spec)
    for record in store.of_kind("FileOutput"):
        written = launch / "work" / record.spec["path"].split("/work/", 1)[1]
        if written.stat().st_size != record.spec["size"]:
            raise RuntimeError(f"{written}: not the {record.spec['size']} bytes Nextflow wrote")
    results = launch / "results"
    results.mkdir()
    for task in tasks:
        for output in _work_dir(launch, task.key).glob("UPPER-*"):
            (results / output.name).symlink_to(output)
    return results


def _work_dir(launch: Path, task_hash: str) -> Path:
    return launch / "work" / task_hash[:2] / task_hash[2:]


def _rerun(launch: Path, task_hash: str, spec: dict) -> None:
    """Stage a task's inputs and run its recorded script in its work dir."""
    folder = _work_dir(launch, task_hash)
    folder.mkdir(parents=True)
    for entry in spec["input"]:
        if entry["type"] != "path":
            continue
        for lid in entry["value"]:
            source, name = lid.removeprefix("lid://").split("/", 1)
            (folder / name).symlink_to(_work_dir(launch, source) / name)
    (folder / ".command.sh").write_text("#!/bin/bash -ue\n" + spec["script"].strip() + "\n")
    subprocess.run(["bash", "-ue", ".command.sh"], cwd=folder, check=True)
    (folder / ".exitcode").write_text("0")
