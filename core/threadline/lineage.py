"""Lineage walks: everything upstream or downstream of an artifact or run, any depth.

An artifact's upstream is the run that created it, that run's inputs, their creating
runs, and so on. Each walk is one recursive CTE over artifacts plus one query for the
runs, so a 10,000-hop chain costs a handful of queries, not 10,000.
"""

from dataclasses import dataclass
from typing import Any

from ._context import instance
from .errors import InvalidInput
from .models import Artifact, Run, RunInput

_A = Artifact._meta.table_name
_RI = RunInput._meta.table_name

_UP = f"""
WITH RECURSIVE walk(artifact_id) AS (
    {{seed}}
    UNION
    SELECT ri.artifact_id FROM walk
    JOIN {_A} a ON a.id = walk.artifact_id
    JOIN {_RI} ri ON ri.run_id = a.run_id
)
SELECT artifact_id FROM walk"""

_DOWN = f"""
WITH RECURSIVE walk(artifact_id) AS (
    {{seed}}
    UNION
    SELECT a.id FROM walk
    JOIN {_RI} ri ON ri.artifact_id = walk.artifact_id
    JOIN {_A} a ON a.run_id = ri.run_id
)
SELECT artifact_id FROM walk"""


@dataclass(frozen=True)
class Lineage:
    """The records reached by a walk (the starting record excluded)."""

    artifacts: list[Artifact]
    runs: list[Run]

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifacts": [{"uid": a.uid, "key": a.key, "version": a.version,
                           "hash": a.hash, "run": a.run.uid if a.run_id else None}
                          for a in self.artifacts],
            "runs": [{"uid": r.uid, "transform": r.transform.key, "status": r.status,
                      "engine": r.engine} for r in self.runs],
        }


def _placeholder() -> str:
    return "?" if instance().db.param == "?" else "%s"


def _artifact_ids(template: str, seed_sql: str, seed_arg: int) -> list[int]:
    sql = template.format(seed=seed_sql.replace("?", _placeholder()))
    cursor = instance().db.execute_sql(sql, (seed_arg,))
    return [row[0] for row in cursor.fetchall()]


def upstream(record: Artifact | Run) -> Lineage:
    """Artifacts and runs that ``record`` derives from."""
    if isinstance(record, Artifact):
        ids = _artifact_ids(_UP, "SELECT id FROM " + _A + " WHERE id = ?", record.id)
        ids = [i for i in ids if i != record.id]
        own_runs = [record.run_id] if record.run_id else []
    elif isinstance(record, Run):
        seed = f"SELECT artifact_id FROM {_RI} WHERE run_id = ?"
        ids, own_runs = _artifact_ids(_UP, seed, record.id), []
    else:
        raise InvalidInput(f"lineage needs an Artifact or a Run, not {type(record).__name__}")
    artifacts = _fetch(ids)
    run_ids = set(own_runs) | {a.run_id for a in artifacts if a.run_id}
    if isinstance(record, Run):
        run_ids.discard(record.id)
    return Lineage(artifacts, _runs(run_ids))


def downstream(record: Artifact | Run) -> Lineage:
    """Artifacts and runs derived from ``record``."""
    if isinstance(record, Artifact):
        ids = _artifact_ids(_DOWN, "SELECT id FROM " + _A + " WHERE id = ?", record.id)
    elif isinstance(record, Run):
        ids = _artifact_ids(_DOWN, f"SELECT id FROM {_A} WHERE run_id = ?", record.id)
    else:
        raise InvalidInput(f"lineage needs an Artifact or a Run, not {type(record).__name__}")
    reading = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        reading |= {r.run_id for r in RunInput.select(RunInput.run)
                    .where(RunInput.artifact.in_(chunk))}
    own = record.id if isinstance(record, Artifact) else None
    artifacts = _fetch([i for i in ids if i != own])
    if isinstance(record, Run):
        artifacts = [a for a in artifacts if a.run_id != record.id]
        reading.discard(record.id)
    return Lineage(artifacts, _runs(reading))


def _fetch(ids: list[int]) -> list[Artifact]:
    found: list[Artifact] = []
    for start in range(0, len(ids), 500):
        found.extend(Artifact.select().where(Artifact.id.in_(ids[start:start + 500])))
    return sorted(found, key=lambda a: a.id)


def _runs(ids: set[int]) -> list[Run]:
    ordered = sorted(ids)
    found: list[Run] = []
    for start in range(0, len(ordered), 500):
        found.extend(Run.select().where(Run.id.in_(ordered[start:start + 500])))
    return sorted(found, key=lambda r: r.id)


def render(record: Artifact | Run, direction: str = "upstream") -> str:
    """A text listing of a walk, for the CLI and notebooks."""
    walk = upstream(record) if direction == "upstream" else downstream(record)
    name = record.key if isinstance(record, Artifact) else record.transform.key
    lines = [f"{direction} of {type(record).__name__} {name or record.uid}"]
    for run in walk.runs:
        lines.append(f"  run {run.uid}  {run.transform.kind} {run.transform.key} ({run.status})")
    for art in walk.artifacts:
        lines.append(f"  artifact {art.uid}  {art.key or '(no key)'} v{art.version}")
    return "\n".join(lines)
