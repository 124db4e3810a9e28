"""The lineage graph the views draw: nodes (artifacts and runs), edges, parent groups.

``graph(record, direction, depth)`` walks from ``record`` (a run also brings its child
runs, recursively, with what they read and wrote) and adds the parent runs of every run
as group nodes. Mermaid, dot, JSON and the HTML view are all drawn from it, so they carry
the same nodes and edges. With ``details`` the nodes also carry what the HTML view shows
on a click: hashes, sizes, storage, features and labels, redacted params, timings, errors
and transform sources. Records are read as plain rows (no model objects) and a run's
descendants through one recursive subquery, so a 100,000-task run costs a few queries.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import peewee

from .._output import iso
from .._redact import redact, redact_text
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
from ..models.run import runs_below
from ._walk import check_record, walk

CHUNK = 900  # ids per IN (...) list: under SQLite's oldest bound on query parameters
FEATURE_LIMIT = 20_000  # records beyond which the view leaves feature values out
Row = dict[str, Any]
# the run columns the views use (a big run's descendants are read with these alone)
RUN_COLUMNS = tuple(
    getattr(Run, name)
    for name in (
        "id",
        "uid",
        "transform",
        "status",
        "name",
        "started_at",
        "finished_at",
        "params",
        "parent",
        "engine",
        "reference",
        "hostname",
        "git_repo",
        "git_commit",
        "error",
    )
)


@dataclass
class Graph:
    """Nodes (dicts with ``id``, ``type``, ``uid``, ``label``, ``parent``...), edges
    (``source``, ``target``, ``kind``: input or output), the start node's id."""

    nodes: list[Row]
    edges: list[dict[str, str]]
    start: str
    direction: str = "upstream"
    transforms: dict[str, Row] = field(default_factory=dict)

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


def direction_words(direction: str) -> str:
    """How titles say a direction: ``both`` is "upstream and downstream"."""
    return "upstream and downstream" if direction == "both" else direction


def artifact_name(artifact: Artifact | Row) -> str:
    """What views call an artifact: its key, else where it was read from (an object
    registered in place), else its uid with its suffix."""
    row = artifact if isinstance(artifact, dict) else _row(artifact)
    if row.get("key"):
        return str(row["key"])
    if row.get("in_place") and row.get("path"):
        return str(row["path"])
    return f"{row['uid']}{row.get('suffix') or ''}"


def graph(
    record: Artifact | Run,
    direction: str = "upstream",
    depth: int | None = None,
    details: bool = True,
) -> Graph:
    """The lineage graph of ``record`` (see the module docstring)."""
    check_record(record)
    found = walk(record, direction, depth)
    artifacts = {a.id: _row(a) for a in found.artifacts}
    runs = {r.id: _row(r) for r in found.runs}
    inside, below = None, set()
    if isinstance(record, Artifact):
        artifacts[record.id] = _row(record)
    else:
        runs[record.id] = _row(record)
        inside = runs_below([record.id])  # every run under it, as one subquery
        below = _add_descendants(inside, runs, artifacts)
    _add_parents(runs)
    transforms = _transforms(runs)
    edges = _edges(artifacts, runs, inside, below)
    nodes = [_artifact_node(a) for _, a in sorted(artifacts.items())]
    nodes += [_run_node(r, transforms) for _, r in sorted(runs.items())]
    g = Graph(nodes, edges, node_id(record), direction)
    if details:
        _add_details(g, artifacts, runs, transforms)
    return g


def _row(record: Artifact | Run) -> Row:
    """A record's columns as a plain row (what ``.dicts()`` queries give)."""
    return {name: record.__data__.get(name) for name in type(record)._meta.fields}


def _rows(query: Any) -> Iterable[Row]:
    """A query's rows as plain dicts (field name -> value, foreign keys as ids)."""
    return cast("Iterable[Row]", query.dicts())


def _add_descendants(
    inside: peewee.SQL, runs: dict[int, Row], artifacts: dict[int, Row]
) -> set[int]:
    """The runs under a run and what they read and wrote, three queries for any number;
    returns the ids of those runs."""
    below = {r["id"]: r for r in _rows(Run.select(*RUN_COLUMNS).where(Run.id.in_(inside)))}
    runs.update(below)
    made = _rows(Artifact.select().where(Artifact.run.in_(inside)))
    artifacts.update((a["id"], a) for a in made)
    reads = _rows(Artifact.select().join(RunInput).where(RunInput.run.in_(inside)))
    artifacts.update((a["id"], a) for a in reads)
    return set(below)


def _add_parents(runs: dict[int, Row]) -> None:
    """The parent runs of every run, up to the roots (one query per level)."""
    wanted = {r["parent"] for r in runs.values() if r.get("parent") is not None} - set(runs)
    while wanted:
        parents = [p for ids in _chunks(wanted) for p in _rows(Run.select().where(Run.id.in_(ids)))]
        runs.update((p["id"], p) for p in parents)
        wanted = {p["parent"] for p in parents if p["parent"] is not None} - set(runs)


def _transforms(runs: dict[int, Row]) -> dict[int, Row]:
    ids = {r["transform"] for r in runs.values()}
    return {
        t["id"]: t
        for i in _chunks(ids)
        for t in _rows(Transform.select().where(Transform.id.in_(i)))
    }


def _edges(
    artifacts: dict[int, Row], runs: dict[int, Row], inside: peewee.SQL | None, below: set[int]
) -> list[dict[str, str]]:
    """Reads among the records (a run's descendants' through their subquery, the other
    runs' by id lists) and writes; sorted, so a graph always gives the same list."""
    conditions = [RunInput.run.in_(ids) for ids in _chunks(set(runs) - below)]
    if inside is not None:
        conditions.append(RunInput.run.in_(inside))
    pairs: set[tuple[str, str, str]] = set()
    for condition in conditions:
        query = RunInput.select(RunInput.artifact, RunInput.run).where(condition).tuples()
        pairs.update(
            (f"a{a}", f"r{r}", "input") for a, r in query.iterator() if a in artifacts and r in runs
        )
    pairs.update(
        (f"r{a['run']}", f"a{i}", "output") for i, a in artifacts.items() if a.get("run") in runs
    )
    return [{"source": s, "target": t, "kind": k} for s, t, k in sorted(pairs)]


def _artifact_node(a: Row) -> Row:
    purged = a.get("visibility") == "purged"  # a tombstone: the object is gone
    node = {
        "id": f"a{a['id']}",
        "type": "artifact",
        "uid": a["uid"],
        "label": f"{artifact_name(a)} v{a['version']}{' (purged)' if purged else ''}",
        "key": a["key"],
        "version": a["version"],
        "producer": f"r{a['run']}" if a.get("run") is not None else None,
        "parent": None,
    }
    return {**node, "purged": True} if purged else node


def _run_node(r: Row, transforms: dict[int, Row]) -> Row:
    return {
        "id": f"r{r['id']}",
        "type": "run",
        "uid": r["uid"],
        "label": f"{transforms[r['transform']]['key']} ({r['status']})",
        "name": r["name"],
        "status": r["status"],
        "engine": r["engine"] or "python",
        "transform": f"t{r['transform']}",
        "parent": f"r{r['parent']}" if r.get("parent") is not None else None,
    }


def _add_details(
    g: Graph, artifacts: dict[int, Row], runs: dict[int, Row], transforms: dict[int, Row]
) -> None:
    roots = {s.id: s.root for s in Storage.select()}
    by_id = {n["id"]: n for n in g.nodes}
    for i, a in artifacts.items():
        by_id[f"a{i}"].update(_artifact_details(a, roots))
    for i, r in runs.items():
        by_id[f"r{i}"].update(_run_details(r))
    for i, t in transforms.items():
        g.transforms[f"t{i}"] = {
            **{name: t[name] for name in ("key", "version", "kind", "reference")},
            # source code can hold a token in clear: masked as everything else shown
            "source": redact_text(t["source"]) if t["source"] else None,
        }
    counts = Counter(n["parent"] for n in g.nodes if n["parent"])
    for n in g.nodes:
        if n["id"] in counts:
            n["children"] = counts[n["id"]]
    if len(g.nodes) <= FEATURE_LIMIT:
        _annotations(by_id, "a", artifacts, ArtifactFeatureValue, ArtifactLabel, "artifact")
        _annotations(by_id, "r", runs, RunFeatureValue, None, "run")


def _artifact_details(a: Row, roots: dict[int, str]) -> Row:
    return {
        "hash": f"{a['hash_type']}:{a['hash']}",
        "size": a["size"],
        "kind": a["kind"],
        "suffix": a["suffix"],
        "path": a["path"],
        "storage": roots.get(a["storage"]),
        "in_place": a["in_place"],
        "visibility": a["visibility"],
        **({"purged_at": iso(a.get("purged_at"))} if a["visibility"] == "purged" else {}),
        "description": a["description"],
        "created_at": iso(a["created_at"]),
        "n_files": a["n_files"],
        "n_observations": a["n_observations"],
    }


def _run_details(r: Row) -> Row:
    return {
        "started_at": iso(r["started_at"]),
        "finished_at": iso(r["finished_at"]),
        "params": redact(r["params"]) if r["params"] else None,
        "error": r["error"],
        "reference": r["reference"],
        "hostname": r["hostname"],
        "git": f"{r['git_repo']}@{r['git_commit']}" if r["git_repo"] else None,
    }


def _annotations(
    by_id: dict[str, Row],
    prefix: str,
    records: dict[int, Row],
    values: Any,
    labels: Any,
    owner: str,
) -> None:
    """Feature values (and labels) of ``records`` onto their nodes, a chunk per query."""
    column = getattr(values, owner)
    for ids in _chunks(records):
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
    items = sorted(ids)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
