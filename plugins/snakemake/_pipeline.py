"""The pipeline run of a workflow invocation, and the environment its jobs inherit."""

from __future__ import annotations  # annotations name models: do not load them

import logging
import os
from typing import Any

import threadline as tl
from threadline import adapters
from threadline.errors import InvalidInput

from . import _workflow
from ._claim import open_instance
from ._events import WorkflowInfo
from ._files import output_key
from ._register import Options

log = logging.getLogger("threadline.snakemake")
ENGINE = "snakemake"


def connect(options: Options) -> None:
    """Open the instance now (given, or from the environment, the project file, the
    default) and claim it for the workflow (``_claim``): a workflow that cannot be
    recorded fails at its first event."""
    open_instance(options.db, options.storage, "the threadline logger")


def start_pipeline(
    info: WorkflowInfo, workflow: Any, options: Options, parent_uid: str | None
) -> tl.Run:
    """The run of the Snakefile (its key: the key prefix, else its path), annotated with
    the Snakemake version, the config's hash, the command and the working directory."""
    snakefile = os.path.abspath(os.path.join(info.workdir, info.snakefile))
    key = (
        options.key_prefix
        or output_key(snakefile, info.workdir, None)
        or os.path.basename(snakefile)
    )
    run = adapters.start_run(
        key,
        "pipeline",
        source=_workflow.pipeline_source(workflow, snakefile),
        engine=ENGINE,
        reference=info.workflow_id,
        name=os.path.basename(snakefile),
        started_at=info.started_at,
        params=_workflow.config(workflow) if workflow else None,
        project=options.project,
        hostname=info.host,
        user=info.user,
        parent=tl.Run.filter(uid=parent_uid).first() if parent_uid else None,
    )
    _annotate(run, _features(info))
    return run


def _annotate(run: tl.Run, values: dict[str, Any]) -> None:
    """A value that does not fit an existing feature (a feature ``command`` of another
    dtype) costs that feature, not the recording of the workflow."""
    try:
        adapters.annotate(run, values, create_features=True)
        return
    except InvalidInput:
        pass
    for name, value in values.items():
        try:
            adapters.annotate(run, {name: value}, create_features=True)
        except InvalidInput as exc:
            log.warning(
                "threadline: feature %r not recorded on the Snakemake pipeline run: %s", name, exc
            )


def _features(info: WorkflowInfo) -> dict[str, Any]:
    values = {
        "snakemake_version": info.snakemake_version,
        "config_md5": info.config_md5,
        "command": info.cmd,  # stored with secrets masked, as every feature value
        "workdir": info.workdir,
    }
    return {k: v for k, v in values.items() if v}


class Environment:
    """Job processes (scripts, cluster jobs) write into this instance, under the pipeline
    run: ``tl.track()`` there nests, the storage plugin finds the database. The variables
    are set in this process (jobs inherit them) and restored at the end."""

    def __init__(self) -> None:
        self.saved: dict[str, str | None] = {}

    def export(self, run: tl.Run | None) -> None:
        for name, value in adapters.child_environment(run).items():
            if run is None and name == "THREADLINE_PARENT_RUN":
                continue  # no pipeline run yet: never another thread's current run
            self.saved.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def restore(self) -> None:
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.saved = {}
