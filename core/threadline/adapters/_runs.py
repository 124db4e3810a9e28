"""Runs: started, closed, made current, walked; their open children aborted."""

import contextlib
import datetime as dt
import functools
from collections.abc import Iterable, Iterator
from typing import Any

import peewee

from .. import _context
from .._config import ENV_DB, ENV_PARENT_RUN, ENV_STORAGE
from .._db import unwrap, write_transaction
from .._live import endpoint, runs_ended, runs_started
from .._process import process_fields
from .._redact import all_plain, redact, redact_key, redact_text
from ..errors import InvalidInput, NotFound
from ..models import Project, Run, Transform
from ..models._base import insert_records
from ..models.run import RUN_STATUSES
from ._closes import Close, update_many
from ._deferred import defer
from ._guard import Guard
from ._transforms import get_transform
from ._writer import writer

FINAL_STATUSES = ("completed", "errored", "aborted", "skipped", "rolled_back")
OPEN_STATUSES = ("scheduled", "started")
CHUNK = 500  # ids per IN (...) list, under every database's limit on parameters


def start_run(
    key: str,
    kind: str,
    *,
    source: str | None = None,
    hash: str | None = None,
    engine: str | None = None,
    reference: str | None = None,
    parent: Run | str | None = None,
    params: dict[str, Any] | None = None,
    name: str | None = None,
    project: str | None = None,
    status: str = "started",
    started_at: dt.datetime | None = None,
    transform: Transform | None = None,
    later: bool = False,
    guard: Guard | None = None,
    **fields: Any,
) -> Run:
    """Create a run of the transform ``key``/``kind``; ``parent`` is a Run or its uid.

    ``later``: the row is written by this process's background writer (``writer()``),
    batched with other writes; the run comes back at once, and its id is there once the
    writer has written it (reading ``run.id`` before waits for it, see ``_deferred``);
    ``guard`` reports a failure of that write (default: the adapters' own)."""
    transform = transform or get_transform(key, kind, source=source, hash=hash)
    if status not in RUN_STATUSES:
        raise InvalidInput(f"run status must be one of {RUN_STATUSES}, not {status!r}")
    run = _new_run(
        transform,
        _as_run(parent),
        _project(project),
        later,
        engine=engine,
        params=redact(params) if params else None,
        status=status,
        **_texts({"reference": reference, "name": name, **_stamped(fields)}),
    )
    if started_at is not None:
        run.started_at = started_at
    if later:
        defer(run, writer(), guard)  # announced once written
        return run
    run.insert_now()
    _announce([run])
    return run


_PLAIN_FIELDS = frozenset(
    name for name, f in Run._meta.fields.items() if not isinstance(f, peewee.ForeignKeyField)
)


def _new_run(
    transform: Transform, parent: Run | None, project: Any, later: bool, **values: Any
) -> Run:
    """``Run(transform=..., parent=..., project=..., **values)``, unsaved, with its plain
    columns put in place at once instead of through peewee's per-field ``setattr`` (a
    task run's start is the hot path of every engine adapter). Same fields, same row.
    ``later``: a parent whose own row is still queued is looked up when this one is
    written (by the writer, after it), not now."""
    run: Run = Run.__new__(Run)
    data = Run._meta.get_default_dict()  # type: ignore[no-untyped-call]  # uid, status, started_at
    data.update(transform=transform.id, parent=None, project=None)
    vars(run).update(__data__=data, _dirty=set(), __rel__={"transform": transform})
    if later and parent is not None and _queued(parent):
        run.__rel__["parent"] = parent
    elif parent is not None:
        run.parent = parent
    if project is not None:
        run.project = project
    for name, value in values.items():
        if name in _PLAIN_FIELDS:
            data[name] = value
        else:  # a foreign key given as a record, or not a column: as peewee would
            setattr(run, name, value)
    run._dirty.update(data)
    return run


def _queued(run: Run) -> bool:
    return run.__data__.get("id") is None and "_pending" in vars(run)


def start_runs(runs: Iterable[dict[str, Any]]) -> list[Run]:
    """``start_run`` for many runs at once, with one INSERT statement (a bulk ingest of
    thousands of task runs). Each item holds a ``transform`` (from ``get_transform``) and
    any other run fields: ``engine``, ``reference``, ``parent`` (a Run or its uid),
    ``params``, ``name``, ``project``, ``status``, ``started_at``, ``finished_at``,
    ``error``... Every item is checked before anything is written; returns the runs in
    order."""
    found: dict[tuple[str, Any], Any] = {}  # transforms and parents, looked up once each
    here = process_fields()
    rows = [_run_row(item, found, here) for item in runs]
    with write_transaction(Run._meta.database):  # projects made only once all is checked
        projects: dict[str, int] = {}
        for row in rows:
            name = row.get("project")
            if name:
                if name not in projects:
                    projects[name] = _project(name).id  # type: ignore[union-attr]
                row["project"] = projects[name]
        runs = insert_records(Run, rows)
    _announce(runs)
    return runs


def _announce(runs: list[Run]) -> None:
    """Live OpenLineage events of new runs (a no-op unless an endpoint is set): START,
    and the end event of runs written already ended (an ingest of finished tasks)."""
    runs_started(runs)
    ended = [run for run in runs if run.status not in OPEN_STATUSES]
    if ended:
        runs_ended(ended)


_RUN_FIELDS = frozenset(Run._meta.fields) - {"id", "uid"}


def _run_row(
    item: dict[str, Any], found: dict[tuple[str, Any], Any], here: dict[str, Any]
) -> dict[str, Any]:
    """A checked, stamped and redacted row; ``found`` keeps each transform and parent
    object with its id (held, so that its ``id()`` is not reused), ``here`` is
    ``process_fields()``."""
    row = dict(item)
    transform = row.pop("transform", None)
    known = found.get(("transform", id(transform)))
    if known is None:
        if not isinstance(transform, Transform) or transform.id is None:
            raise InvalidInput("start_runs: every run needs a saved transform (get_transform)")
        known = found["transform", id(transform)] = (transform, transform.id)
    if not _RUN_FIELDS.issuperset(row):
        unknown = ", ".join(sorted(row.keys() - _RUN_FIELDS))
        raise InvalidInput(f"start_runs: unknown or reserved run fields: {unknown}")
    if row.get("status", "started") not in RUN_STATUSES:
        raise InvalidInput(f"run status must be one of {RUN_STATUSES}, not {row['status']!r}")
    row["transform"] = known[1]
    parent = row.get("parent")
    if parent is not None:
        row["parent"] = _parent_id(parent, found)
    if row.get("project") is not None and not isinstance(row["project"], str):
        raise InvalidInput(f"start_runs: project is a name, not {row['project']!r}")
    if row.get("params"):
        row["params"] = redact(row["params"])
    if here.keys().isdisjoint(row):  # what _stamped does with none of them given
        row.update(here)
    else:
        row = _stamped(row)
    if all_plain([v for v in row.values() if isinstance(v, str)]):  # what _texts leaves
        return row
    return _texts(row)


def _parent_id(parent: Run | str, found: dict[tuple[str, Any], Any]) -> Any:
    """The id of a parent run (a Run or its uid), each object and uid looked up once."""
    known = found.get(("run", id(parent)))
    if known is None:
        key = ("parent", parent.id if isinstance(parent, Run) else parent)
        if key not in found:
            found[key] = _as_run(parent).id  # type: ignore[union-attr]
        known = found["run", id(parent)] = (parent, found[key])
    return known[1]


def _stamped(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with the host, pid and process start of this process where the caller
    gave none: the process that records a run (and will close it) is the one
    ``threadline check`` asks after when the run stays open. A run the caller places on
    another host or process keeps what it was given."""
    here = process_fields()
    if fields.get("hostname") not in (None, here["hostname"]) or fields.get("pid") is not None:
        here = {"hostname": here["hostname"]}  # another process's run: only a missing host
    stamp = {k: v for k, v in here.items() if fields.get(k) is None}
    return {**fields, **stamp} if stamp else fields


_IDENTIFIERS = frozenset({"name", "reference"})  # redacted as identifiers, not as prose


def _texts(fields: dict[str, Any]) -> dict[str, Any]:
    """Run fields with every string redacted (references, names, errors, commands)."""
    return {k: _text(k, v) if isinstance(v, str) else v for k, v in fields.items()}


@functools.lru_cache(maxsize=1024)  # the same host, user, engine... on every run
def _text(name: str, value: str) -> str:
    return redact_key(value) if name in _IDENTIFIERS else redact_text(value)


def finish_run(
    run: Run,
    status: str = "completed",
    *,
    error: str | None = None,
    traceback: str | None = None,
    finished_at: dt.datetime | None = None,
    later: bool = False,
    guard: Guard | None = None,
    **fields: Any,
) -> Run:
    """Close ``run`` with a final status; errors and tracebacks are stored redacted.

    ``later``: closed by this process's background writer. A run started ``later``
    whose row is still queued is then written closed, in one INSERT (a short task's
    start and end usually fall in one batch); else its UPDATE is queued after the row.
    ``guard`` reports a failure of that write (default: the adapters' own)."""
    if status not in FINAL_STATUSES:
        raise InvalidInput(f"final status must be one of {FINAL_STATUSES}, not {status!r}")
    # plain columns set as peewee's field accessors do (the value, marked changed), with
    # the status checked above: the close is the hot path of every engine adapter
    closed = {"status": status, "finished_at": finished_at or _now()}
    if error:
        closed["error"] = redact_text(error)
    if traceback:
        closed["traceback"] = redact_text(traceback)
    if later:
        _finish_later(run, closed, fields, guard)
    else:
        _close(run, closed, fields)
    return run


def _finish_later(run: Run, closed: dict[str, Any], fields: dict[str, Any], guard: Any) -> None:
    """``finish_run(..., later=True)``: folded into the queued row, or queued."""
    pending = vars(run).get("_pending")
    if not fields and pending is not None:
        data = run.__data__  # fields set since the start go with the close, as in _close
        changed = {name: data[name] for name in run._dirty if name in data and name != "id"}
        if pending.fold({**changed, **closed}):
            data.update(closed)  # the row is written as closed: nothing left to save
            run._dirty.clear()
            return
    close = Close(_close, run, closed, fields)  # with the batch's others (update_many)
    writer().submit(close, where="a run's close", guard=guard, bulk=update_many)


def _close(run: Run, closed: dict[str, Any], fields: dict[str, Any]) -> None:
    run.__data__.update(closed)
    run._dirty.update(closed)
    for name, value in _texts(fields).items():
        setattr(run, name, value)
    _save_changes(run)
    runs_ended([run])


def update_run(run: Run, **fields: Any) -> Run:
    """Set fields of a run that stays open (``status`` ``scheduled`` or ``started``,
    ``started_at``, ``name``, ``error``, ``params``...), writing only those columns;
    strings and params are stored redacted. Close a run with ``finish_run``."""
    unknown = sorted(set(fields) - _RUN_FIELDS - {"transform"})
    if unknown:
        raise InvalidInput(f"update_run: unknown run fields: {', '.join(unknown)}")
    if fields.get("status", "started") not in OPEN_STATUSES:
        raise InvalidInput(f"update_run keeps a run open ({OPEN_STATUSES}); use finish_run")
    if fields.get("params"):
        fields["params"] = redact(fields["params"])
    starts = fields.get("status") == "started" and run.status != "started"
    for name, value in _texts(fields).items():
        setattr(run, name, value)
    if run.id is not None and run.dirty_fields:
        _save_changes(run)
        if starts:
            runs_started([run])
    return run


def _save_changes(run: Run) -> None:
    """``run.save(only=run.dirty_fields)`` with an UPDATE built once per set of changed
    columns: peewee builds the statement again on every save, which cost more CPU than
    the rest of closing a run (the hot path of every engine hook that closes one)."""
    if run.id is None:  # not written yet: peewee's save inserts it
        run.save()
        return
    data, fields = run.__data__, Run._meta.fields
    names = tuple(sorted(n for n in run._dirty if n in data and n != "id"))
    if names:
        db = unwrap(Run._meta.database)
        values = [fields[n].db_value(data[n]) for n in names]
        db.execute_sql(_update_sql(names, db.param), [*values, run.id])
    run._dirty.clear()


@functools.cache
def _update_sql(names: tuple[str, ...], param: str) -> str:
    columns = ", ".join(f'"{Run._meta.fields[n].column_name}" = {param}' for n in names)
    return f'UPDATE "{Run._meta.table_name}" SET {columns} WHERE "id" = {param}'


def abort_children(run: Run, *, error: str | None = None) -> int:
    """Close the children of ``run`` that are still open (scheduled or started) as
    aborted, in one statement: task runs no engine hook will ever close (their flow
    crashed or was cancelled). Returns how many were aborted."""
    values: dict[str, Any] = {"status": "aborted", "finished_at": _now()}
    if error:
        values["error"] = redact_text(error)
    condition = (Run.parent == run.id) & Run.status.in_(OPEN_STATUSES)  # type: ignore[attr-defined]
    told = [r.id for r in Run.select(Run.id).where(condition)] if endpoint() else []
    count: int = Run.update(**values).where(condition).execute()
    for start in range(0, len(told), CHUNK):  # live OpenLineage: their ABORT events
        runs_ended(Run.select().where(Run.id.in_(told[start : start + CHUNK])))
    return count


@contextlib.contextmanager
def activate(run: Run) -> Iterator[Run]:
    """Make ``run`` the current run inside the block (artifacts saved belong to it)."""
    token = _context.enter_run(run)
    try:
        yield run
    finally:
        _context.exit_run(run, token)


@contextlib.contextmanager
def transaction() -> Iterator[None]:
    """Make the adapter calls inside the block one database transaction: all or nothing,
    and one commit instead of one per record (thousands of task runs in a bulk ingest).
    Keep slow work such as hashing big files out of the block: it holds the write lock."""
    with write_transaction(Run._meta.database):
        yield


def child_environment(run: Run | None = None) -> dict[str, str]:
    """Variables that make a child process write into this instance under ``run``."""
    inst = _context.instance()
    env = {ENV_DB: inst.settings.db, ENV_STORAGE: inst.settings.storage}
    run = run or _context.current_run()
    if run is not None:
        run.id  # noqa: B018  # reading it writes a queued row (``later``): the child looks it up
        env[ENV_PARENT_RUN] = run.uid
    return env


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _as_run(parent: Run | str | None) -> Run | None:
    if parent is None or isinstance(parent, Run):
        return parent
    found = Run.get_or_none(Run.uid == parent)
    if found is None:
        raise NotFound(f"no run with uid {parent!r}")
    return found  # type: ignore[no-any-return]


def _project(name: str | None) -> Project | None:
    if not name:
        return None
    Project.insert(name=name).on_conflict_ignore().execute()
    return Project.get(Project.name == name)  # type: ignore[no-any-return]
