"""Real Snakemake runs for the plugin tests: in process through ``snakemake.api`` (fast,
with the live handlers) and, for what users type, through the ``snakemake`` command."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

WORKFLOWS = Path(__file__).resolve().parent / "workflows"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


@pytest.fixture(autouse=True)
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threadline failures inside Snakemake's hooks fail the test instead of being logged."""
    monkeypatch.setenv("THREADLINE_STRICT", "1")


def copy_workflow(name: str, target: Path) -> Path:
    folder = target / "workflows" / name
    shutil.copytree(WORKFLOWS / name, folder)
    return folder


@pytest.fixture
def three_rules(local_instance: Any, tmp_path: Path) -> Path:
    """A fresh copy of the three-rule workflow, with a connected instance."""
    return copy_workflow("three_rules", tmp_path)


def run_snakemake(
    workdir: Path,
    *,
    cores: int = 2,
    executor: str = "local",
    settings: Any = None,
    quiet: Any = None,
    config: dict[str, Any] | None = None,
    forceall: bool = False,
    storage: Any = None,
    executor_settings: Any = None,
    nodes: int | None = None,
    then: Callable[[], None] | None = None,
) -> list[Any]:
    """Run the workflow in ``workdir`` in this process with ``--logger threadline``;
    returns the live log handlers (each has ``failures``). ``then``: the caller's own
    code, run inside ``with SnakemakeApi(...)`` after the workflow."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        ExecutionSettings,
        OutputSettings,
        RemoteExecutionSettings,
        ResourceSettings,
    )
    from threadline.snakemake import LogHandlerSettings

    output = OutputSettings(
        log_handler_settings={"threadline": settings or LogHandlerSettings()}, quiet=quiet
    )
    with SnakemakeApi(output) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=cores, nodes=nodes),
            snakefile=workdir / "Snakefile",
            workdir=workdir,
            config_settings=ConfigSettings(config=config or {}),
            storage_settings=storage,
        )
        dag = workflow.dag(dag_settings=DAGSettings(forceall=forceall))
        try:
            dag.execute_workflow(
                executor=executor,
                execution_settings=ExecutionSettings(),
                executor_settings=executor_settings,
                remote_execution_settings=RemoteExecutionSettings(seconds_between_status_checks=1),
            )
        finally:
            handlers = api.get_log_handlers()
        if then is not None:
            then()
    return handlers


def cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """The ``snakemake`` command of this environment, as users run it."""
    done = subprocess.run(
        [str(SNAKEMAKE), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"snakemake failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


Runner = Callable[..., list[Any]]
