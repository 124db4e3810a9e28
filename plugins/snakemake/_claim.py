"""One threadline instance per Snakemake workflow.

The logger plugin and every storage provider (one per ``storage:`` tag) may name an
instance (their ``db``/``storage`` options), while a process has one current instance:
two that differ would send the workflow's records, or a provider's outputs, wherever the
last of them to connect pointed. So the first plugin to open an instance for a workflow
claims it, and a plugin naming another database in the same workflow (not merely another
spelling of its URL) is refused with a one-line ``TrackingError`` naming both, before it
opens anything. The claim belongs to the live ``Workflow`` object: the next workflow in
the same process (Snakemake's API) starts a new one, and the logger lets go of its
workflow's claim at the workflow's end. Where no live workflow is found (a job's own
process) nothing is claimed.
"""

import threading
import weakref
from typing import Any

import threadline as tl
from threadline import adapters
from threadline.errors import TrackingError

from ._workflow import live_workflow

_lock = threading.Lock()
_claim: tuple[Any, str, str] | None = None  # (weak ref to the workflow, database URL, who)


def open_instance(db: str | None, storage: str | None, who: str) -> None:
    """Make the instance ``who`` names current (neither ``db`` nor ``storage``: the one
    already claimed, else resolved as usual), unless this workflow records elsewhere."""
    global _claim
    workflow = live_workflow()
    with _lock:
        claimed = _claimed_by(workflow)
        if claimed is not None and (db or storage):
            url, owner = claimed
            wanted = adapters.database_url(db, storage)
            if not adapters.same_database(wanted, url):
                raise TrackingError(
                    f"{who} names {adapters.redact(wanted)}, but this workflow records into "
                    f"{adapters.redact(url)} (opened by {owner}): name the same instance for "
                    "both, or name it once with THREADLINE_DB and THREADLINE_STORAGE"
                )
        instance = tl.connect(db=db, storage=storage) if db or storage else tl.instance()
        if claimed is None and workflow is not None:
            _claim = (weakref.ref(workflow), instance.settings.db, who)


def _claimed_by(workflow: Any) -> tuple[str, str] | None:
    if _claim is None or workflow is None or _claim[0]() is not workflow:
        return None
    return _claim[1], _claim[2]


def release(workflow: Any) -> None:
    """``workflow`` has ended: its claim, if it has one, is let go."""
    global _claim
    with _lock:
        if _claimed_by(workflow) is not None:
            _claim = None
