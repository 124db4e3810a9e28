"""The Nextflow lineage store (25.04+, ``lineage.enabled = true``), read from disk.

``<store>/<key>/.data.json`` holds one record; its LID is ``lid://<key>``. Three envelope
shapes exist: 25.04.0 ``{"type": K, ...fields}``, 25.04.1-25.06 ``{"version", "kind": K,
...fields}`` and 25.07+ ``{"version", "kind": K, "spec": {...fields}}``; all are accepted.
References to records that are not in the store (dangling LIDs) resolve to None.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LID = "lid://"


@dataclass(frozen=True)
class Record:
    """One lineage record: its key (the LID without ``lid://``), kind and fields."""

    key: str
    kind: str
    spec: dict[str, Any]

    @property
    def lid(self) -> str:
        return LID + self.key


@dataclass(frozen=True)
class HistoryEntry:
    """A line of ``.lineage/.history/<runHash>``."""

    timestamp: str
    run_name: str
    session_id: str
    lid: str


@dataclass
class LineageStore:
    """Every record of a store by key, and its history lines."""

    root: Path
    records: dict[str, Record] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)

    def get(self, lid: str | None) -> Record | None:
        """The record a LID names, or None (not a LID, or dangling)."""
        if not lid or not lid.startswith(LID):
            return None
        return self.records.get(lid[len(LID) :])

    def of_kind(self, kind: str) -> list[Record]:
        return [r for r in self.records.values() if r.kind == kind]

    def workflow_run(self, run_name: str | None = None) -> Record | None:
        """The WorkflowRun of ``run_name`` (the latest in the history when None)."""
        for entry in reversed(self.history):
            if run_name is None or entry.run_name == run_name:
                found = self.get(entry.lid)
                if found is not None:
                    return found
        runs = [
            r
            for r in self.of_kind("WorkflowRun")
            if run_name is None or r.spec.get("name") == run_name
        ]
        return runs[-1] if runs else None

    def tasks_of(self, workflow: Record) -> list[Record]:
        """The TaskRuns (and AgentRuns) recorded for one workflow run, by key."""
        return sorted(
            (
                r
                for r in self.records.values()
                if r.kind in ("TaskRun", "AgentRun") and r.spec.get("workflowRun") == workflow.lid
            ),
            key=lambda r: r.key,
        )

    def file_outputs_of(self, task: Record) -> list[Record]:
        """The FileOutputs a task wrote (``taskRun`` is the task's LID)."""
        return sorted(
            (
                r
                for r in self.records.values()
                if r.kind == "FileOutput" and r.spec.get("taskRun") == task.lid
            ),
            key=lambda r: r.key,
        )

    def published_of(self, workflow: Record) -> list[Record]:
        """Published files: FileOutputs of the run that no task wrote itself."""
        return sorted(
            (
                r
                for r in self.records.values()
                if r.kind == "FileOutput"
                and r.spec.get("workflowRun") == workflow.lid
                and not r.spec.get("taskRun")
            ),
            key=lambda r: r.key,
        )


def parse_record(key: str, text: str) -> Record:
    """One record from its JSON text, whatever the envelope."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"lineage record {key}: not a JSON object")
    kind = data.get("kind") or data.get("type")
    if not isinstance(kind, str):
        raise ValueError(f"lineage record {key}: no kind or type")
    spec = data.get("spec")
    if not isinstance(spec, dict):
        spec = {k: v for k, v in data.items() if k not in ("version", "kind", "type")}
    return Record(key, kind, spec)


def read_store(root: str | Path) -> LineageStore:
    """Every ``.data.json`` under ``root`` plus ``.history``; unreadable records are skipped
    with a warning (a store being written can hold a half-written file)."""
    root = Path(root)
    store = LineageStore(root)
    for path in sorted(root.rglob(".data.json")):
        key = path.parent.relative_to(root).as_posix()
        try:
            record = parse_record(key, path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            log.warning("lineage store %s: skipped %s: %s", root, key, exc)
            continue
        store.records[key] = record
    history = root / ".history"
    if history.is_dir():
        for path in sorted(history.iterdir()):
            store.history.extend(_history_lines(path))
    store.history.sort(key=lambda e: e.timestamp)
    return store


def _history_lines(path: Path) -> list[HistoryEntry]:
    found = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        cells = line.split("\t")
        if len(cells) == 4 and cells[3].startswith(LID):
            found.append(HistoryEntry(*cells))
    return found


def params_of(workflow: Record) -> dict[str, Any]:
    """``[{"type", "name", "value"}]`` -> ``{name: value}``."""
    params = workflow.spec.get("params") or []
    return {p["name"]: p.get("value") for p in params if isinstance(p, dict) and "name" in p}


def input_refs(task: Record) -> tuple[list[str], list[str]]:
    """A task's ``path`` inputs: (``lid://`` references, external file paths)."""
    lids: list[str] = []
    paths: list[str] = []
    for param in task.spec.get("input") or []:
        if not isinstance(param, dict) or param.get("type") != "path":
            continue
        values = param.get("value")
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and value.startswith(LID):
                lids.append(value)
            elif isinstance(value, dict) and isinstance(value.get("path"), str):
                paths.append(value["path"])
            elif isinstance(value, str):
                paths.append(value)
    return lids, paths


def task_hash_of_lid(lid: str) -> str:
    """``lid://<taskHash>/<file>`` -> ``<taskHash>``."""
    return lid[len(LID) :].split("/", 1)[0].split("#", 1)[0]
