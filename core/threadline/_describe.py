"""A readable text tree of one artifact: identity, storage, provenance, annotations.

The tree is built as nested ``(text, children)`` items and drawn in one place, so the last
child of every branch gets ``└──`` and its descendants a blank margin. Long lists stop
after ``SHOW_AT_MOST`` items with an "and N more" line.
"""

from __future__ import annotations

from ._output import human_size, human_time
from ._purge import tombstone

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (startup)
if TYPE_CHECKING:
    from typing import Any

SHOW_AT_MOST = 20
Tree = list[tuple[str, "Tree"]]


def draw(title: str, items: Tree) -> str:
    """``title`` and its items drawn as a tree with box-drawing characters."""
    lines = [title]

    def walk(branch: Tree, margin: str) -> None:
        for index, (text, children) in enumerate(branch):
            last = index == len(branch) - 1
            lines.append(f"{margin}{'└── ' if last else '├── '}{text}")
            walk(children, margin + ("    " if last else "│   "))

    walk(items, "")
    return "\n".join(lines)


def capped(items: Tree, what: str) -> Tree:
    """The first ``SHOW_AT_MOST`` items, then "... and N more <what>" if there are more."""
    if len(items) <= SHOW_AT_MOST:
        return items
    return [*items[:SHOW_AT_MOST], (f"... and {len(items) - SHOW_AT_MOST} more {what}", [])]


def describe_artifact(artifact: Any) -> str:
    title = (
        f"Artifact {artifact.key or '(no key)'}  v{artifact.version}"
        f"{'  (latest)' if artifact.is_latest else ''}"
    )
    items: Tree = []
    if artifact.description:
        items.append((f"description: {' '.join(str(artifact.description).split())}", []))
    items.append((f"uid: {artifact.uid}   hash: sha256:{artifact.hash[:16]}...", []))
    kind = f"{artifact.kind}" + (f", {artifact.n_files} files" if artifact.n_files else "")
    size = human_size(artifact.size) if artifact.size is not None else "?"
    items.append((f"size: {size}   kind: {kind}   suffix: {artifact.suffix}", []))
    purged = artifact.visibility == "purged"  # a tombstone: the record without its object
    where = "  (object freed)" if purged else "  (in place)" if artifact.in_place else ""
    items.append((f"storage: {artifact.uri}{where}", []))
    if purged:
        t = tombstone(artifact)
        deleted = f"deleted by {t['deleted_by']} at {t['deleted_at']}"
        freed = f"object freed at {t['purged_at']} by {t['purged_by']}"
        items.append((f"purged: {freed} ({deleted})", []))
    if artifact.otype or artifact.schema_id is not None:
        rows = artifact.n_observations
        data = f"otype: {artifact.otype or '-'}   observations: {'?' if rows is None else rows}"
        if artifact.schema_id is not None:
            data += f"   schema: {artifact.schema.name} v{artifact.schema.version}"
        items.append((data, []))
    if artifact.visibility != "main":
        items.append((f"visibility: {artifact.visibility}", []))
    items += _provenance(artifact)
    features = artifact.features.get_values()
    shown: Tree = [(f"{name} = {value!r}", []) for name, value in sorted(features.items())]
    items.append((f"features: {len(features)}", capped(shown, "features")))
    labels = [label.name for label in artifact.labels.all()]
    items.append((f"labels: {', '.join(labels) if labels else '-'}", []))
    return draw(title, items)


def _provenance(artifact: Any) -> Tree:
    run = artifact.run if artifact.run_id is not None else None
    if run is None:
        return []
    transform = run.transform
    made_by: Tree = [(f"transform: {transform.key} v{transform.version} ({transform.kind})", [])]
    if run.cache_note:
        made_by.append((f"cache: {run.cache_note}", []))
    inputs = list(run.inputs)
    listed: Tree = [(named(item), []) for item in inputs]
    return [
        (f"run: {run.uid} ({run.status}, {run.engine or 'python'})", made_by),
        (f"inputs of that run: {len(inputs)}", capped(listed, "inputs")),
    ]


def describe_run(run: Any, inputs: list[Any], outputs: list[Any]) -> str:
    """A run as a tree: transform, status and times, parent, params, cache, inputs and
    outputs (each list capped with "and N more")."""
    transform = run.transform
    title = f"Run {run.uid}  {transform.key} ({run.status}, {run.engine or 'python'})"
    items: Tree = [(f"transform: {transform.key} v{transform.version} ({transform.kind})", [])]
    if run.name:
        items.append((f"name: {run.name}", []))
    finished = human_time(run.finished_at) if run.finished_at else "-"
    items.append((f"started: {human_time(run.started_at)}   finished: {finished}", []))
    if run.parent_id is not None:
        items.append((f"parent: {run.parent.uid} ({run.parent.transform.key})", []))
    if run.params:
        shown: Tree = [(f"{k} = {v!r}", []) for k, v in sorted(run.params.items())]
        items.append((f"params: {len(run.params)}", capped(shown, "params")))
    if run.cache_note:
        items.append((f"cache: {run.cache_note}", []))
    if run.cached_from_id is not None:
        items.append((f"reuses run: {run.cached_from.uid}", []))
    if run.error:
        items.append((f"error: {' '.join(str(run.error).split())}", []))
    for what, records in (("inputs", inputs), ("outputs", outputs)):
        listed: Tree = [(named(a), []) for a in records]
        items.append((f"{what}: {len(records)}", capped(listed, what)))
    return draw(title, items)


def named(artifact: Any) -> str:
    """``KEY vN``, marked ``(purged)`` for a tombstone and ``(in trash)`` for a trashed one."""
    state = {"purged": "  (purged)", "trash": "  (in trash)"}.get(artifact.visibility, "")
    return f"{artifact.key or artifact.uid} v{artifact.version}{state}"
