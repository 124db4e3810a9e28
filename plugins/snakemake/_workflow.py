"""What the events lack, read from the live workflow in the controller process.

Params, the config, the Snakefile's includes and each rule's code are not in any log
event. The controller's ``Workflow`` object has them: Snakemake keeps the current one as
the global ``workflow`` of the ``snakemake.workflow`` module (it runs Snakefiles in that
namespace). These attributes are not a declared interface, so every reader here returns
nothing rather than fail when Snakemake changes them.
"""

import json
import logging
import os
import sys
from typing import Any

log = logging.getLogger("threadline.snakemake")


def live_workflow() -> Any:
    """The controller's current ``Workflow``, or None (another process, or not found)."""
    module = sys.modules.get("snakemake.workflow")
    workflow = getattr(module, "workflow", None)
    if workflow is None or not getattr(workflow, "is_main_process", True):
        return None
    return workflow


def snakefiles(workflow: Any, main: str) -> list[str]:
    """The main Snakefile and every local file it included, in include order."""
    paths = [main]
    try:
        for source in workflow.included:
            local = source.is_local  # a property on local files, a method on others
            if local() if callable(local) else local:
                path = os.path.abspath(source.get_path_or_uri(secret_free=True))
                if path not in paths:
                    paths.append(path)
    except Exception:  # an internal attribute: fall back to the main file
        log.debug("could not list included Snakefiles", exc_info=True)
    return paths


def pipeline_source(workflow: Any, main: str) -> str:
    """The Snakefile and its includes as one text (each under a header naming it)."""
    parts = []
    for path in snakefiles(workflow, main) if workflow is not None else [main]:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                parts.append(f"# ---- {os.path.basename(path)} ----\n{handle.read()}")
        except OSError:
            continue
    return "\n".join(parts) or main


def rule_source(workflow: Any, rule_name: str) -> str | None:
    """The rule's code: its shell template, script (path and text), run block or wrapper."""
    try:
        rule = workflow.get_rule(rule_name)
    except Exception:  # unknown rule or no workflow
        return None
    if rule.shellcmd:
        return f"shell: {rule.shellcmd}"
    if rule.script or rule.notebook:
        name = rule.script or rule.notebook
        kind = "script" if rule.script else "notebook"
        return f"{kind}: {name}\n{_read_near(rule, name)}"
    if rule.wrapper:
        return f"wrapper: {rule.wrapper}"
    if rule.run_func_src:
        return f"run:\n{rule.run_func_src}"
    return None


def _read_near(rule: Any, name: str) -> str:
    try:
        path = rule.basedir.join(name).get_path_or_uri(secret_free=True)
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except Exception:  # remote or missing script: the name alone
        return ""


class JobIndex:
    """Jobs of the workflow's DAG by job id, refreshed when an id is not found."""

    def __init__(self, workflow: Any) -> None:
        self.workflow = workflow
        self.jobs: dict[int, Any] = {}
        self.missing: set[int] = set()  # ids not found after a refresh: do not refresh again

    def get(self, jobid: int) -> Any:
        if jobid not in self.jobs and jobid not in self.missing and self.workflow is not None:
            try:
                dag = self.workflow.dag
                self.jobs = {dag.jobid(job): job for job in dag.jobs}
            except Exception:  # no DAG (yet), or a changed internal API
                log.debug("could not index the DAG's jobs", exc_info=True)
            if jobid not in self.jobs:
                self.missing.add(jobid)
        return self.jobs.get(jobid)

    def has_temp_outputs(self, jobid: int) -> bool:
        """Whether Snakemake will delete some of the job's outputs (``temp()``) soon."""
        job = self.get(jobid)
        return bool(getattr(job, "temp_output", None))

    def params(self, jobid: int) -> dict[str, Any] | None:
        """The job's named params (values made JSON-safe), or None."""
        job = self.get(jobid)
        if job is None:
            return None
        try:
            return {str(k): plain(v) for k, v in job.params.items()}
        except Exception:  # params that fail to evaluate here
            log.debug("could not read params of job %s", jobid, exc_info=True)
            return None


def config(workflow: Any) -> dict[str, Any] | None:
    try:
        values = dict(workflow.config)
    except Exception:
        return None
    return plain(values) or None  # type: ignore[no-any-return]


def plain(value: Any) -> Any:
    """``value`` as JSON (nested dicts, lists, scalars); anything else as its ``str``."""
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)
