"""Which pipeline and which run: identity from ``.nextflow/history`` and the lineage store.

A run is ``(sessionId, runName)``. The pipeline transform is keyed by its repository
(without scheme and ``.git``), else the project name, else the script named on the command
line; its version identity is the commit id, else the main script's id (``scriptId``), so
each edit of a local script is a new transform version.
"""

import datetime as dt
import re
import shlex
from dataclasses import dataclass
from typing import Any

import threadline as tl
from threadline import adapters

from ._history import HistoryRun
from ._lineage import LineageStore, Record, params_of


@dataclass(frozen=True)
class Identity:
    """A workflow run as the sources name it."""

    run_name: str
    session_id: str  # "" when unknown (a trace file alone)
    workflow: Record | None = None  # the lineage WorkflowRun, when there is a store
    completed: bool = False  # the store holds the run's WorkflowOutput
    key: str | None = None  # the reference when it is not ``<sessionId>/<runName>``

    @property
    def reference(self) -> str:
        return self.key or f"{self.session_id}/{self.run_name}"

    @property
    def metadata(self) -> dict[str, Any]:
        return (self.workflow.spec.get("metadata") or {}) if self.workflow else {}

    @property
    def params(self) -> dict[str, Any]:
        return params_of(self.workflow) if self.workflow else {}

    @property
    def user(self) -> str | None:
        return self.metadata.get("userName")

    @property
    def started_at(self) -> dt.datetime | None:
        return _utc(self.metadata.get("start"))

    @property
    def finished_at(self) -> dt.datetime | None:
        return _utc(self.metadata.get("complete"))

    def pipeline(self) -> dict[str, Any]:
        """repository, commitId, revision, scriptId, projectName of the lineage record."""
        workflow = (self.workflow.spec.get("workflow") or {}) if self.workflow else {}
        scripts = workflow.get("scriptFiles") or [{}]
        meta = self.metadata
        return {
            "repository": meta.get("repository") or workflow.get("repository"),
            "commit": meta.get("commitId") or workflow.get("commitId"),
            "revision": meta.get("revision"),
            "script_id": meta.get("scriptId") or (scripts[0].get("checksum") or {}).get("value"),
            "project": meta.get("projectName"),
        }


def resolve_identity(
    run_name: str | None, history: HistoryRun | None, store: LineageStore | None
) -> Identity | None:
    """The run named ``run_name`` (else the latest in the history, else in the store)."""
    wanted = run_name or (history.run_name if history else None)
    workflow = store.workflow_run(wanted) if store is not None else None
    name = wanted or (workflow.spec.get("name") if workflow else None)
    session = (
        history.session_id if history else (workflow.spec.get("sessionId") if workflow else None)
    )
    if not name or not session:
        return None
    completed = bool(workflow and store and f"{workflow.key}#output" in store.records)
    return Identity(str(name), str(session), workflow, completed)


def pipeline_key(found: dict[str, Any], command: str | None = None) -> str:
    """The transform key: repository, else manifest or project name, else the script run."""
    if found.get("repository"):
        repo = re.sub(r"^\w+://", "", str(found["repository"]))
        return repo.removesuffix(".git").rstrip("/")
    if found.get("project"):
        return str(found["project"])
    try:
        words = shlex.split(command) if command else []
    except ValueError:  # unbalanced quotes: a command line as typed, not as run
        words = (command or "").split()
    if "run" in words and words.index("run") + 1 < len(words):
        return words[words.index("run") + 1]
    return "nextflow-pipeline"


def transform_for(found: dict[str, Any], command: str | None = None) -> tl.Transform:
    """The pipeline transform: a new version per commit (or per main-script id).

    ``found`` has ``repository``, ``commit``, ``revision``, ``script_id``, ``project``.
    """
    version = found.get("commit") or found.get("script_id")
    reference = (
        f"{found['repository']}@{found['commit']}"
        if found.get("repository") and found.get("commit")
        else found.get("revision") or found.get("script_id")
    )
    return adapters.get_transform(
        pipeline_key(found, command), "pipeline", hash=version, reference=reference
    )


def pipeline_transform(ident: Identity, history: HistoryRun | None) -> tl.Transform:
    found = ident.pipeline()
    if history is not None:
        found["script_id"] = found["script_id"] or history.script_id
    return transform_for(found, history.command if history else None)


def workflow_features(ident: Identity, history: HistoryRun | None) -> dict[str, Any]:
    found = ident.pipeline()
    nextflow = ident.metadata.get("nextflow") or {}
    values = {
        "session_id": ident.session_id,
        "script_id": found["script_id"] or (history.script_id if history else None),
        "revision": found["revision"],
        "nextflow_version": nextflow.get("version"),
        "lineage_lid": ident.workflow.lid if ident.workflow else None,
    }
    return {k: v for k, v in values.items() if v}


def _utc(text: Any) -> dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed
