"""Run templates: what many runs of one transform share, prepared once.

An engine's task runs differ in little. Each has its own uid, start time, reference, name
and parameters; the transform, the parent (the flow run), the project, the engine and the
recording process (host, user, pid) are the same for all of them. ``RunTemplate`` checks,
stamps and redacts those once, and ``start`` makes a run of the template, adding only
what is its own: a task run's start is the hot path of every engine adapter.
``start_run`` is a template used once, so both make the same row.
"""

import datetime as dt
from typing import Any

import peewee

from .._live import runs_ended, runs_started
from .._redact import redact, redact_key
from ..errors import InvalidInput
from ..models import Run, Transform
from ..models._base import new_uid, utcnow
from ..models.run import RUN_STATUSES
from ._deferred import defer
from ._fields import as_run, project_named, stamped, texts
from ._guard import Guard
from ._transforms import get_transform
from ._writer import writer

OPEN_STATUSES = ("scheduled", "started")
PER_RUN = frozenset({"uid", "started_at", "reference", "name", "params"})  # start's own
_PLAIN_FIELDS = frozenset(
    name for name, f in Run._meta.fields.items() if not isinstance(f, peewee.ForeignKeyField)
)
_OWN = ("__data__", "_dirty", "__rel__")  # a model object's own state, per run


class RunTemplate:
    """Runs of the transform ``key``/``kind`` (or ``transform``, from ``get_transform``)
    under one ``parent`` (a Run or its uid) that share every other field given here:
    ``engine``, ``project``, ``status``, ``hostname``, ``user``... checked, stamped with
    this process and redacted once. ``start(reference=, name=, params=, ...)`` makes each
    run. Raises ``InvalidInput`` for a bad status or a per-run field given here."""

    def __init__(
        self,
        key: str,
        kind: str,
        *,
        source: str | None = None,
        hash: str | None = None,
        transform: Transform | None = None,
        engine: str | None = None,
        parent: Run | str | None = None,
        project: str | None = None,
        status: str = "started",
        **fields: Any,
    ) -> None:
        own = sorted(PER_RUN.intersection(fields))
        if own:
            raise InvalidInput(f"a run template's runs each have their own {', '.join(own)}")
        if status not in RUN_STATUSES:
            raise InvalidInput(f"run status must be one of {RUN_STATUSES}, not {status!r}")
        self.parent = as_run(parent)  # an unknown uid is refused before anything is written
        self.transform = transform or get_transform(key, kind, source=source, hash=hash)
        values = {"engine": engine, "status": status, **texts(stamped(fields))}
        prototype = _prototype(self.transform, project_named(project), values)
        self._data: dict[str, Any] = prototype.__data__
        self._rel: dict[str, Any] = prototype.__rel__
        self._extra = {k: v for k, v in vars(prototype).items() if k not in _OWN}

    def start(
        self,
        *,
        reference: str | None = None,
        name: str | None = None,
        params: dict[str, Any] | None = None,
        started_at: dt.datetime | None = None,
        later: bool = False,
        guard: Guard | None = None,
    ) -> Run:
        """A new run of the template, written now or, ``later``, by this process's
        background writer (see ``start_run``); its reference, name and params redacted."""
        data = self._data.copy()
        data["uid"] = new_uid()
        data["started_at"] = started_at or utcnow()
        data["reference"] = redact_key(reference) if isinstance(reference, str) else reference
        data["name"] = redact_key(name) if isinstance(name, str) else name
        data["params"] = redact(params) if params else None
        run: Run = Run.__new__(Run)
        vars(run).update(self._extra, __data__=data, _dirty=set(data), __rel__=self._rel.copy())
        parent = self.parent
        if parent is not None:  # what ``run.parent = parent`` does, unless it is queued
            parent_id = parent.__data__.get("id")
            if parent_id is None and later and queued(parent):
                run.__rel__["parent"] = parent  # looked up when the writer writes this run
            else:
                data["parent"] = parent.id if parent_id is None else parent_id
                run.__rel__["parent"] = parent
        if later:
            defer(run, writer(), guard)  # announced once written
            return run
        run.insert_now()
        announce([run])
        return run


def _prototype(transform: Transform, project: Any, values: dict[str, Any]) -> Run:
    """``Run(transform=..., project=..., **values)``, unsaved, with its plain columns put
    in place at once instead of through peewee's per-field ``setattr``."""
    run: Run = Run.__new__(Run)
    data = Run._meta.get_default_dict()  # type: ignore[no-untyped-call]  # uid, status, started_at
    data.update(transform=transform.id, parent=None, project=None)
    vars(run).update(__data__=data, _dirty=set(), __rel__={"transform": transform})
    if project is not None:
        run.project = project
    for name, value in values.items():
        if name in _PLAIN_FIELDS:
            data[name] = value
        else:  # a foreign key given as a record, or not a column: as peewee would
            setattr(run, name, value)
    return run


def queued(run: Run) -> bool:
    """Whether ``run``'s row is still queued on the background writer."""
    return run.__data__.get("id") is None and "_pending" in vars(run)


def announce(runs: list[Run]) -> None:
    """Live OpenLineage events of new runs (a no-op unless an endpoint is set): START,
    and the end event of runs written already ended (an ingest of finished tasks)."""
    runs_started(runs)
    ended = [run for run in runs if run.status not in OPEN_STATUSES]
    if ended:
        runs_ended(ended)
