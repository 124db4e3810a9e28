"""Lineage walks: everything upstream or downstream of an artifact or run, any depth.

An artifact's upstream is the run that created it, that run's inputs, their creating
runs, and so on. A walk is one recursive CTE over artifacts, used as a subquery by one
query for the artifacts and one for the runs (with their transforms), so a 10,000-hop
chain costs the same few queries as a single hop.
"""

from dataclasses import dataclass
from typing import Any

import peewee

from ._context import instance
from .errors import InvalidInput
from .models import Artifact, Run, RunInput, Transform

_A = Artifact._meta.table_name
_RI = RunInput._meta.table_name

# {seed} selects the starting artifact ids; each step adds the inputs of the runs that
# created the artifacts found so far (up) or the outputs of the runs that read them (down).
_UP = f"""WITH RECURSIVE walk(artifact_id) AS (
    {{seed}}
    UNION
    SELECT ri.artifact_id FROM walk
    JOIN {_A} a ON a.id = walk.artifact_id
    JOIN {_RI} ri ON ri.run_id = a.run_id
)
SELECT artifact_id FROM walk"""

_DOWN = f"""WITH RECURSIVE walk(artifact_id) AS (
    {{seed}}
    UNION
    SELECT a.id FROM walk
    JOIN {_RI} ri ON ri.artifact_id = walk.artifact_id
    JOIN {_A} a ON a.run_id = ri.run_id
)
SELECT artifact_id FROM walk"""

_SEEDS = {
    "artifact": f"SELECT id FROM {_A} WHERE id = ?",
    "inputs": f"SELECT artifact_id FROM {_RI} WHERE run_id = ?",
    "outputs": f"SELECT id FROM {_A} WHERE run_id = ?",
}


@dataclass(frozen=True)
class Lineage:
    """The records reached by a walk (the starting record excluded), oldest first."""

    artifacts: list[Artifact]
    runs: list[Run]

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifacts": [
                {
                    "uid": a.uid,
                    "key": a.key,
                    "version": a.version,
                    "hash": a.hash,
                    "run": a.run.uid if a.run_id else None,
                }
                for a in self.artifacts
            ],
            "runs": [
                {"uid": r.uid, "transform": r.transform.key, "status": r.status, "engine": r.engine}
                for r in self.runs
            ],
        }


def _walk(template: str, seed: str, record_id: int) -> peewee.SQL:
    """The walk as a parenthesised subquery of artifact ids."""
    param = instance().db.param
    sql = template.format(seed=_SEEDS[seed]).replace("?", param)
    return peewee.SQL(f"({sql})", (record_id,))


def _artifacts(walk: peewee.SQL, *exclude: Any) -> list[Artifact]:
    query = Artifact.select().where(Artifact.id.in_(walk), *exclude).order_by(Artifact.id)
    return list(query)


def _runs(condition: Any, artifacts: list[Artifact]) -> list[Run]:
    """Runs matching ``condition`` with their transforms; outputs' ``run`` attached."""
    query = Run.select(Run, Transform).join(Transform).where(condition).order_by(Run.id)
    runs = list(query)
    by_id = {run.id: run for run in runs}
    for artifact in artifacts:
        if artifact.run_id in by_id:
            artifact.__rel__["run"] = by_id[artifact.run_id]  # no query per artifact later
    return runs


def _check(record: Any) -> None:
    if not isinstance(record, Artifact | Run):
        raise InvalidInput(f"lineage needs an Artifact or a Run, not {type(record).__name__}")
    if record.id is None:
        raise InvalidInput("lineage needs a saved record")


def upstream(record: Artifact | Run) -> Lineage:
    """Artifacts and runs that ``record`` derives from."""
    _check(record)
    if isinstance(record, Artifact):
        walk = _walk(_UP, "artifact", record.id)
        artifacts = _artifacts(walk, Artifact.id != record.id)
        creators = Artifact.select(Artifact.run).where(Artifact.id.in_(walk))
        runs = _runs(Run.id.in_(creators), artifacts)
    else:
        walk = _walk(_UP, "inputs", record.id)
        artifacts = _artifacts(walk)
        creators = Artifact.select(Artifact.run).where(Artifact.id.in_(walk))
        runs = _runs(Run.id.in_(creators) & (Run.id != record.id), artifacts)
    return Lineage(artifacts, runs)


def downstream(record: Artifact | Run) -> Lineage:
    """Artifacts and runs derived from ``record``."""
    _check(record)
    if isinstance(record, Artifact):
        walk = _walk(_DOWN, "artifact", record.id)
        artifacts = _artifacts(walk, Artifact.id != record.id)
        readers = RunInput.select(RunInput.run).where(RunInput.artifact.in_(walk))
        runs = _runs(Run.id.in_(readers), artifacts)
    else:
        walk = _walk(_DOWN, "outputs", record.id)
        artifacts = _artifacts(walk)  # its outputs too, as upstream(run) has its inputs
        readers = RunInput.select(RunInput.run).where(RunInput.artifact.in_(walk))
        runs = _runs(Run.id.in_(readers) & (Run.id != record.id), artifacts)
    return Lineage(artifacts, runs)


def render(record: Artifact | Run, direction: str = "upstream") -> str:
    """A text listing of a walk, for the CLI and notebooks."""
    if direction not in ("upstream", "downstream"):
        raise InvalidInput(f"direction must be 'upstream' or 'downstream', not {direction!r}")
    walk = upstream(record) if direction == "upstream" else downstream(record)
    name = record.key if isinstance(record, Artifact) else record.transform.key
    lines = [f"{direction} of {type(record).__name__} {name or record.uid}"]
    for run in walk.runs:
        lines.append(f"  run {run.uid}  {run.transform.kind} {run.transform.key} ({run.status})")
    for art in walk.artifacts:
        lines.append(f"  artifact {art.uid}  {art.key or '(no key)'} v{art.version}")
    return "\n".join(lines)


def mermaid(record: Artifact | Run, direction: str = "upstream") -> str:
    """The walk as a Mermaid flowchart (GitHub, GitLab and Jupyter render it): artifacts
    as boxes, runs as rounded boxes, an edge for each input read and output written."""
    if direction not in ("upstream", "downstream"):
        raise InvalidInput(f"direction must be 'upstream' or 'downstream', not {direction!r}")
    walk = upstream(record) if direction == "upstream" else downstream(record)
    artifacts = {
        a.id: a for a in [*walk.artifacts, *([record] if isinstance(record, Artifact) else [])]
    }
    runs = {r.id: r for r in [*walk.runs, *([record] if isinstance(record, Run) else [])]}
    lines = ["flowchart LR"]
    lines += [f'  a{a.id}["{_label(a.key or a.uid)} v{a.version}"]' for a in artifacts.values()]
    lines += [f'  r{r.id}("{_label(r.transform.key)} ({r.status})")' for r in runs.values()]
    reads = RunInput.select().where(
        RunInput.run.in_(list(runs)) & RunInput.artifact.in_(list(artifacts))
    )
    lines += sorted(f"  a{link.artifact_id} --> r{link.run_id}" for link in reads)
    lines += sorted(f"  r{a.run_id} --> a{a.id}" for a in artifacts.values() if a.run_id in runs)
    return "\n".join(lines)


def _label(text: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
