"""Runs: started, closed, made current, walked; their open children aborted."""

import contextlib
import datetime as dt
import functools
from collections.abc import Iterable, Iterator
from typing import Any

from .. import _context
from .._config import ENV_DB, ENV_PARENT_RUN, ENV_STORAGE
from .._db import unwrap, write_transaction
from .._live import endpoint, runs_ended, runs_started
from .._process import process_fields
from .._redact import all_plain, redact, redact_text
from ..errors import InvalidInput
from ..models import Run, Transform
from ..models._base import insert_records
from ..models.run import RUN_STATUSES
from ._closes import Close, update_many
from ._fields import as_run, project_named, stamped, texts
from ._guard import Guard
from ._template import OPEN_STATUSES, RunTemplate, announce
from ._writer import writer

FINAL_STATUSES = ("completed", "errored", "aborted", "skipped", "rolled_back")
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
    ``guard`` reports a failure of that write (default: the adapters' own). Many runs
    that share all but their reference, name and params: ``RunTemplate``."""
    template = RunTemplate(
        key,
        kind,
        source=source,
        hash=hash,
        transform=transform,
        engine=engine,
        parent=parent,
        project=project,
        status=status,
        **fields,
    )
    return template.start(
        reference=reference,
        name=name,
        params=params,
        started_at=started_at,
        later=later,
        guard=guard,
    )


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
                    projects[name] = project_named(name).id  # type: ignore[union-attr]
                row["project"] = projects[name]
        runs = insert_records(Run, rows)
    announce(runs)
    return runs


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
        row = stamped(row)
    if all_plain([v for v in row.values() if isinstance(v, str)]):  # what _texts leaves
        return row
    return texts(row)


def _parent_id(parent: Run | str, found: dict[tuple[str, Any], Any]) -> Any:
    """The id of a parent run (a Run or its uid), each object and uid looked up once."""
    known = found.get(("run", id(parent)))
    if known is None:
        key = ("parent", parent.id if isinstance(parent, Run) else parent)
        if key not in found:
            found[key] = as_run(parent).id  # type: ignore[union-attr]
        known = found["run", id(parent)] = (parent, found[key])
    return known[1]


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
    _context.release_run(run)  # (``hold``)
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
    for name, value in texts(fields).items():
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
    for name, value in texts(fields).items():
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


def hold(run: Run) -> None:
    """Keep ``run`` open in this process without making it current: while it is held
    (until ``finish_run`` closes it, or ``release``), ``threadline.connect()`` to another
    database and ``threadline.disconnect()`` are refused, as under an activated run. For
    an engine that writes its runs' records explicitly from its own threads (a Snakemake
    pipeline), so that a plugin that switches instances mid-run cannot split them."""
    _context.hold_run(run)


def release(run: Run) -> None:
    """``run`` is no longer held (``hold``); nothing if it is not."""
    _context.release_run(run)


def activate(run: Run) -> "Activation":
    """Make ``run`` the current run inside the block (artifacts saved belong to it)."""
    return Activation(run)


class Activation:
    """``activate(run)``: a plain class, not a ``contextlib`` generator (every engine
    hook that starts or closes a run enters or leaves one)."""

    __slots__ = ("_token", "run")

    def __init__(self, run: Run) -> None:
        self.run = run
        self._token: Any = None  # the context variable's, while entered

    def __enter__(self) -> Run:
        self._token = _context.enter_run(self.run)
        return self.run

    def __exit__(self, *_: object) -> None:
        _context.exit_run(self.run, self._token)


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
