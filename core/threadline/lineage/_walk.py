"""Lineage walks: everything upstream or downstream of an artifact or run, to any depth.

An artifact's upstream is the run that created it, that run's inputs, their creating
runs, and so on. A walk is one recursive CTE over artifacts, used as a subquery by one
query for the artifacts and one for the runs (with their transforms); a whole upstream
walk reads the artifacts with their creating runs in one query (the CTE runs once), then
their few transforms by id. A 10,000-hop chain costs the same few queries as a single hop, and its
20,000 records are built from the rows directly (``_records``), with Python's
collector paused meanwhile (``paused_gc``). ``depth`` counts runs:
depth 1 is the creating run and its inputs (upstream) or the reading runs and their
outputs (downstream).
"""

import datetime as dt
import functools
import itertools
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import peewee

from .._context import instance
from ..errors import InvalidInput
from ..models import Artifact, Run, RunInput, Transform
from ..query._columnar import paused_gc

_A = Artifact._meta.table_name
_RI = RunInput._meta.table_name

# {seed} selects the starting artifact ids with their depth; each step adds the inputs of
# the runs that created the artifacts found so far (up) or the outputs of the runs that
# read them (down). {limit} stops at a depth; without one, ids alone keep the walk small.
_STEP = {
    "up": f"""SELECT ri.artifact_id{{next}} FROM walk
    JOIN {_A} a ON a.id = walk.artifact_id
    JOIN {_RI} ri ON ri.run_id = a.run_id{{limit}}""",
    "down": f"""SELECT a.id{{next}} FROM walk
    JOIN {_RI} ri ON ri.artifact_id = walk.artifact_id
    JOIN {_A} a ON a.run_id = ri.run_id{{limit}}""",
}
_SEEDS = {
    "artifact": (f"SELECT id{{d}} FROM {_A} WHERE id = ?", 0),
    "inputs": (f"SELECT artifact_id{{d}} FROM {_RI} WHERE run_id = ?", 1),
    "outputs": (f"SELECT id{{d}} FROM {_A} WHERE run_id = ?", 1),
}
DIRECTIONS = ("upstream", "downstream", "both")


@dataclass(frozen=True)
class Lineage:
    """The records reached by a walk (the starting record excluded), oldest first; the
    ``edges`` between them and the start are read on first use."""

    artifacts: list[Artifact]
    runs: list[Run]
    start: Artifact | Run | None = None
    walks: tuple[Any, ...] = field(default=(), repr=False)

    @cached_property
    def edges(self) -> list[tuple[str, str]]:
        """``(artifact uid, run uid)`` for each input read, then ``(run uid, artifact
        uid)`` for each output written, among the walk's records and its start."""
        record = self.start
        arts = {
            a.id: a for a in [*self.artifacts, *([record] if isinstance(record, Artifact) else [])]
        }
        rns = {r.id: r for r in [*self.runs, *([record] if isinstance(record, Run) else [])]}
        reads: set[tuple[str, str]] = set()
        for walk in self.walks:
            query = RunInput.select(RunInput.artifact, RunInput.run).where(
                RunInput.artifact.in_(walk)
            )
            reads.update(
                (arts[artifact].uid, rns[run].uid)
                for artifact, run in query.tuples().iterator()
                if artifact in arts and run in rns
            )
        writes = {(rns[a.run_id].uid, a.uid) for a in arts.values() if a.run_id in rns}
        return sorted(reads) + sorted(writes)  # the inputs read, then the outputs written

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifacts": [
                {
                    "uid": a.uid,
                    "key": a.key,
                    "version": a.version,
                    "hash": a.hash,
                    "run": _run_uid(a),
                    # a tombstone: gc purged its object, the record stays for lineage
                    **({"purged": True} if a.visibility == "purged" else {}),
                }
                for a in self.artifacts
            ],
            "runs": [
                {
                    "uid": r.uid,
                    "transform": r.transform.key,
                    "status": r.status,
                    "engine": r.engine,
                }
                for r in self.runs
            ],
            "edges": [{"from": a, "to": b} for a, b in self.edges],
        }


def _run_uid(artifact: Artifact) -> str | None:
    run = artifact.run if artifact.run_id is not None else None
    return run.uid if run is not None else None


def _walk(way: str, seed: str, record_id: int, depth: int | None) -> tuple[Any, Any]:
    """The walk as parenthesised subqueries of artifact ids: all reached, and those whose
    runs are within ``depth`` (all of them without a depth)."""
    param = instance().db.param
    sql, first = _SEEDS[seed]
    if depth is None:
        step = _STEP[way].format(next="", limit="")
        body = f"WITH RECURSIVE walk(artifact_id) AS ({sql.format(d='')} UNION {step})"
        inner = f"{body} SELECT artifact_id FROM walk"
        return peewee.SQL(f"({inner})".replace("?", param), (record_id,)), None
    step = _STEP[way].format(next=", walk.depth + 1", limit=f" WHERE walk.depth < {int(depth)}")
    body = f"WITH RECURSIVE walk(artifact_id, depth) AS ({sql.format(d=f', {first}')} UNION {step})"
    reached = f"({body} SELECT artifact_id FROM walk)".replace("?", param)
    inside = f"({body} SELECT artifact_id FROM walk WHERE depth < {int(depth)})"
    return peewee.SQL(reached, (record_id,)), peewee.SQL(inside.replace("?", param), (record_id,))


_PLAIN = (peewee.AutoField, peewee.IntegerField, peewee.CharField, peewee.TextField)
_fromisoformat = dt.datetime.fromisoformat


def _converter(field: peewee.Field) -> Any:
    """The field's ``python_value`` where the driver's value needs it (dates, booleans,
    JSON), None where it is already the Python value (ids, integers, text)."""
    kind = type(field.rel_field if isinstance(field, peewee.ForeignKeyField) else field)
    if kind in _PLAIN:
        return None
    if kind is peewee.DateTimeField:
        return functools.partial(_datetime, field.python_value)
    if kind is peewee.BooleanField:
        return bool  # its python_value of a value that is not None
    return field.python_value


def _datetime(python_value: Any, value: Any) -> Any:
    """``DateTimeField.python_value``: peewee's first try is ``fromisoformat`` (which
    reads the space separator itself since Python 3.11), made here without its wrapping."""
    if type(value) is str:
        try:
            return _fromisoformat(value)
        except ValueError:
            pass
    return python_value(value)


def _records(model: Any, rows: list[tuple[Any, ...]], start: int = 0) -> list[Any]:
    """``model`` records from its fields' columns in ``rows`` (from ``start`` on), built
    without one ``__setattr__`` per field (the values as peewee stores them, nothing
    dirty): a 10,000-hop walk reads 20,000 records."""
    fields = model._meta.sorted_fields
    names = [f.name for f in fields]
    if start:
        rows = [row[start : start + len(fields)] for row in rows]
    data = list(map(dict, map(zip, itertools.repeat(names), rows)))  # zip: the first columns
    for each in fields:
        convert = _converter(each)
        if convert is not None:
            name = each.name
            for values in data:
                value = values[name]
                if value is not None:
                    values[name] = convert(value)
    records = [model.__new__(model) for _ in data]
    place = object.__setattr__
    for record, values in zip(records, data, strict=True):
        place(record, "__dict__", {"__data__": values, "_dirty": set(), "__rel__": {}})
    return records


def _artifacts(walk: Any, *exclude: Any) -> list[Artifact]:
    """The walk's artifacts, oldest first."""
    query = Artifact.select().where(Artifact.id.in_(walk), *exclude).order_by(Artifact.id)
    return _records(Artifact, list(Artifact._meta.database.execute(query)))


def _runs(artifacts: list[Artifact], *conditions: Any) -> list[Run]:
    """Runs matching ``conditions`` with their transforms; outputs' ``run`` attached."""
    query = Run.select(Run, Transform).join(Transform).where(*conditions).order_by(Run.id)
    rows = list(Run._meta.database.execute(query))
    return _attached(artifacts, rows, 0)


def _attached(artifacts: list[Artifact], rows: list[tuple[Any, ...]], first: int) -> list[Run]:
    """The runs in ``rows`` (their columns from ``first`` on, then their transform's if
    the rows have them, else the transforms are read by id), each transform built once,
    each run set as its outputs' ``run``."""
    runs = _records(Run, rows, first)
    after = first + len(Run._meta.sorted_fields)
    if rows and len(rows[0]) > after:
        transforms = {row[after]: row for row in rows}
        built = _records(Transform, list(transforms.values()), after)
    else:
        ids = {run.transform_id for run in runs}
        query = Transform.select().where(Transform.id.in_(ids))
        built = _records(Transform, list(Transform._meta.database.execute(query))) if ids else []
    by_transform = {transform.id: transform for transform in built}
    for run in runs:
        run.__rel__["transform"] = by_transform[run.transform_id]
    by_id = {run.id: run for run in runs}
    for artifact in artifacts:
        if artifact.run_id in by_id:
            artifact.__rel__["run"] = by_id[artifact.run_id]  # no query per artifact later
    return runs


def _creators_too(walk: Any, record: Artifact | Run) -> tuple[list[Artifact], list[Run]]:
    """The walk's artifacts and the runs that created them from one query, so the walk's
    CTE runs once (each artifact row carries its run's columns); then their transforms,
    read by id (a few rows, not one per run)."""
    query = (
        Artifact.select(Artifact, Run)
        .join(Run, peewee.JOIN.LEFT_OUTER, on=(Artifact.run == Run.id))
        .where(Artifact.id.in_(walk))
        .order_by(Artifact.id)
    )
    rows = list(Artifact._meta.database.execute(query))
    start, first = record.id, len(Artifact._meta.sorted_fields)
    is_artifact = isinstance(record, Artifact)
    artifacts = _records(Artifact, [row for row in rows if not (is_artifact and row[0] == start)])
    by_run = {row[first]: row for row in rows if row[first] is not None}
    if not is_artifact:
        by_run.pop(start, None)
    runs = _attached(artifacts, [by_run[run_id] for run_id in sorted(by_run)], first)
    return artifacts, runs


def _not_start(model: Any, record: Artifact | Run) -> list[Any]:
    """The condition leaving the start record out of a walk's ``model`` rows."""
    return [model.id != record.id] if isinstance(record, model) else []


def check_record(record: Any) -> None:
    if not isinstance(record, Artifact | Run):
        raise InvalidInput(f"lineage needs an Artifact or a Run, not {type(record).__name__}")
    if record.id is None:
        raise InvalidInput("lineage needs a saved record")


def _check_depth(depth: int | None) -> None:
    if depth is not None and (not isinstance(depth, int) or depth < 1):
        raise InvalidInput(f"depth must be a whole number of at least 1, not {depth!r}")


def upstream(record: Artifact | Run, depth: int | None = None) -> Lineage:
    """Artifacts and runs that ``record`` derives from (``depth`` runs back at most)."""
    check_record(record)
    _check_depth(depth)
    seed = "artifact" if isinstance(record, Artifact) else "inputs"
    walk, inside = _walk("up", seed, record.id, depth)
    with paused_gc():  # 20,000 records for 10,000 hops: no collection scans the heap
        if inside is None:  # every artifact reached: its creator is in
            artifacts, runs = _creators_too(walk, record)
            return Lineage(artifacts, runs, record, (walk,))
        artifacts = _artifacts(walk, *_not_start(Artifact, record))
        creators = Artifact.select(Artifact.run).where(Artifact.id.in_(inside or walk))
        runs = _runs(artifacts, Run.id.in_(creators), *_not_start(Run, record))
    return Lineage(artifacts, runs, record, (walk,))


def downstream(record: Artifact | Run, depth: int | None = None) -> Lineage:
    """Artifacts and runs derived from ``record`` (``depth`` runs on at most)."""
    check_record(record)
    _check_depth(depth)
    seed = "artifact" if isinstance(record, Artifact) else "outputs"
    walk, inside = _walk("down", seed, record.id, depth)
    with paused_gc():
        # a run's outputs too, as upstream(run) has its inputs
        artifacts = _artifacts(walk, *_not_start(Artifact, record))
        readers = RunInput.select(RunInput.run).where(RunInput.artifact.in_(inside or walk))
        runs = _runs(artifacts, Run.id.in_(readers), *_not_start(Run, record))
    return Lineage(artifacts, runs, record, (walk,))


def walk(record: Artifact | Run, direction: str = "upstream", depth: int | None = None) -> Lineage:
    """``upstream``, ``downstream`` or ``both`` (their union) of ``record``."""
    if direction not in DIRECTIONS:
        raise InvalidInput(
            f"direction must be 'upstream', 'downstream' or 'both', not {direction!r}"
        )
    if direction != "both":
        return (upstream if direction == "upstream" else downstream)(record, depth)
    up, down = upstream(record, depth), downstream(record, depth)
    artifacts = {a.id: a for a in [*up.artifacts, *down.artifacts]}
    runs = {r.id: r for r in [*up.runs, *down.runs]}
    return Lineage(
        sorted(artifacts.values(), key=lambda a: a.id),
        sorted(runs.values(), key=lambda r: r.id),
        record,
        (*up.walks, *down.walks),
    )
