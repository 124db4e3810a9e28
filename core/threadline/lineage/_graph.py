"""The lineage graph the views draw: nodes (artifacts and runs), edges, parent groups.

``graph(record, direction, depth)`` walks from ``record`` (a run also brings its child
runs, recursively, with what they read and wrote) and adds the parent runs of every run
as group nodes. Mermaid, dot, JSON and the HTML view are all drawn from it, so they carry
the same nodes and edges. With ``details`` the nodes also carry what the HTML view shows
on a click: hashes, sizes, storage, features and labels, redacted params, timings, errors
and transform sources.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .._output import iso
from .._redact import redact
from ..models import (
    Artifact,
    ArtifactFeatureValue,
    ArtifactLabel,
    Feature,
    Label,
    Run,
    RunFeatureValue,
    RunInput,
    Storage,
    Transform,
)
from ._walk import Lineage, check_record, walk

CHUNK = 900  # ids per IN (...) list: under SQLite's oldest bound on query parameters
FEATURE_LIMIT = 20_000  # records beyond which the view leaves feature values out


@dataclass
class Graph:
    """Nodes (dicts with ``id``, ``type``, ``uid``, ``label``, ``parent``...), edges
    (``source``, ``target``, ``kind``: input or output), the start node's id."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, str]]
    start: str
    direction: str = "upstream"
    transforms: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "direction": self.direction,
            "nodes": self.nodes,
            "edges": self.edges,
            "transforms": self.transforms,
        }


def node_id(record: Artifact | Run) -> str:
    return f"a{record.id}" if isinstance(record, Artifact) else f"r{record.id}"


def artifact_name(artifact: Artifact) -> str:
    """What views call an artifact: its key, else where it was read from (an object
    registered in place), else its uid with its suffix."""
    if artifact.key:
        return str(artifact.key)
    if artifact.in_place and artifact.path:
        return str(artifact.path)
    return f"{artifact.uid}{artifact.suffix or ''}"


def graph(
    record: Artifact | Run,
    direction: str = "upstream",
    depth: int | None = None,
    details: bool = True,
) -> Graph:
    """The lineage graph of ``record`` (see the module docstring)."""
    check_record(record)
    found = walk(record, direction, depth)
    artifacts = {a.id: a for a in found.artifacts}
    runs = {r.id: r for r in found.runs}
    if isinstance(record, Artifact):
        artifacts[record.id] = record
    else:
        runs[record.id] = record
        _add_descendants(record, runs, artifacts)
    _add_parents(runs)
    edges = _edges(found, artifacts, runs)
    nodes = [_artifact_node(a) for a in sorted(artifacts.values(), key=lambda a: a.id)]
    nodes += [_run_node(r) for r in sorted(runs.values(), key=lambda r: r.id)]
    g = Graph(nodes, edges, node_id(record), direction)
    if details:
        _add_details(g, artifacts, runs)
    return g


def _add_descendants(run: Run, runs: dict[int, Run], artifacts: dict[int, Artifact]) -> None:
    """A run's child runs, recursively (one query per level), and what they read and wrote."""
    level = [run.id]
    found: list[int] = []
    while level:
        children = [
            r
            for ids in _chunks(level)
            for r in Run.select(Run, Transform).join(Transform).where(Run.parent.in_(ids))
        ]
        level = [c.id for c in children if c.id not in runs]
        runs.update((c.id, c) for c in children)
        found += level
    for ids in _chunks(found):
        artifacts.update((a.id, a) for a in Artifact.select().where(Artifact.run.in_(ids)))
        reads = Artifact.select().join(RunInput).where(RunInput.run.in_(ids))
        artifacts.update((a.id, a) for a in reads)


def _add_parents(runs: dict[int, Run]) -> None:
    """The parent runs of every run, up to the roots (one query per level)."""
    wanted = {r.parent_id for r in runs.values() if r.parent_id is not None} - set(runs)
    while wanted:
        parents = [
            p
            for ids in _chunks(sorted(wanted))
            for p in Run.select(Run, Transform).join(Transform).where(Run.id.in_(ids))
        ]
        runs.update((p.id, p) for p in parents)
        wanted = {p.parent_id for p in parents if p.parent_id is not None} - set(runs)


def _edges(
    found: Lineage, artifacts: dict[int, Artifact], runs: dict[int, Run]
) -> list[dict[str, str]]:
    pairs: set[tuple[str, str, str]] = set()
    for ids in _chunks(sorted(runs)):
        query = RunInput.select(RunInput.artifact, RunInput.run).where(RunInput.run.in_(ids))
        pairs.update(
            (f"a{link.artifact_id}", f"r{link.run_id}", "input")
            for link in query.iterator()
            if link.artifact_id in artifacts
        )
    pairs.update(
        (f"r{a.run_id}", f"a{a.id}", "output") for a in artifacts.values() if a.run_id in runs
    )
    return [{"source": s, "target": t, "kind": k} for s, t, k in sorted(pairs)]


def _artifact_node(a: Artifact) -> dict[str, Any]:
    return {
        "id": f"a{a.id}",
        "type": "artifact",
        "uid": a.uid,
        "label": f"{artifact_name(a)} v{a.version}",
        "key": a.key,
        "version": a.version,
        "producer": f"r{a.run_id}" if a.run_id is not None else None,
        "parent": None,
    }


def _run_node(r: Run) -> dict[str, Any]:
    return {
        "id": f"r{r.id}",
        "type": "run",
        "uid": r.uid,
        "label": f"{r.transform.key} ({r.status})",
        "name": r.name,
        "status": r.status,
        "engine": r.engine or "python",
        "transform": f"t{r.transform_id}",
        "parent": f"r{r.parent_id}" if r.parent_id is not None else None,
    }


def _add_details(g: Graph, artifacts: dict[int, Artifact], runs: dict[int, Run]) -> None:
    roots = {s.id: s.root for s in Storage.select()}
    by_id = {n["id"]: n for n in g.nodes}
    for a in artifacts.values():
        by_id[f"a{a.id}"].update(_artifact_details(a, roots))
    for r in runs.values():
        by_id[f"r{r.id}"].update(_run_details(r))
        t = r.transform
        g.transforms.setdefault(
            f"t{t.id}",
            {
                "key": t.key,
                "version": t.version,
                "kind": t.kind,
                "reference": t.reference,
                "source": t.source,
            },
        )
    counts = Counter(n["parent"] for n in g.nodes if n["parent"])
    for n in g.nodes:
        if n["id"] in counts:
            n["children"] = counts[n["id"]]
    if len(g.nodes) <= FEATURE_LIMIT:
        _annotations(by_id, "a", artifacts, ArtifactFeatureValue, ArtifactLabel, "artifact")
        _annotations(by_id, "r", runs, RunFeatureValue, None, "run")


def _artifact_details(a: Artifact, roots: dict[int, str]) -> dict[str, Any]:
    return {
        "hash": f"{a.hash_type}:{a.hash}",
        "size": a.size,
        "kind": a.kind,
        "suffix": a.suffix,
        "path": a.path,
        "storage": roots.get(a.storage_id),
        "in_place": a.in_place,
        "visibility": a.visibility,
        "description": a.description,
        "created_at": iso(a.created_at),
        "n_files": a.n_files,
        "n_observations": a.n_observations,
    }


def _run_details(r: Run) -> dict[str, Any]:
    return {
        "started_at": iso(r.started_at),
        "finished_at": iso(r.finished_at),
        "params": redact(r.params) if r.params else None,
        "error": r.error,
        "reference": r.reference,
        "hostname": r.hostname,
        "git": f"{r.git_repo}@{r.git_commit}" if r.git_repo else None,
    }


def _annotations(
    by_id: dict[str, dict[str, Any]],
    prefix: str,
    records: dict[int, Any],
    values: Any,
    labels: Any,
    owner: str,
) -> None:
    """Feature values (and labels) of ``records`` onto their nodes, a chunk per query."""
    for ids in _chunks(sorted(records)):
        column = getattr(values, owner)
        rows = (
            values.select(values.value, column, Feature.name).join(Feature).where(column.in_(ids))
        )
        for row in rows:
            node = by_id[f"{prefix}{getattr(row, f'{owner}_id')}"]
            node.setdefault("features", {})[row.feature.name] = redact(row.value, row.feature.name)
        if labels is None:
            continue
        link = getattr(labels, owner)
        for row in labels.select(link, Label.name).join(Label).where(link.in_(ids)):
            node = by_id[f"{prefix}{getattr(row, f'{owner}_id')}"]
            node.setdefault("labels", []).append(row.label.name)


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    items = list(ids)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
