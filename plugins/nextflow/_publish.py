"""Published files found by scanning output dirs (``publishDir``), for runs without a
lineage store (Nextflow before 25.04, or lineage off).

A published file is matched to the task that wrote it by its symlink target (``mode:
'symlink'``, the default, points into the task's work dir) or else by content (``copy``,
``link``, ``move``: the same bytes as one of the run's task outputs). Files that match no
task are still recorded, as outputs of no run.
"""

import os
import re
from pathlib import Path

import threadline as tl
from threadline import adapters

_WORK_PARTS = re.compile(r"^[0-9a-f]{2}$"), re.compile(r"^[0-9a-f]{30}$")


def scan(folders: list[Path], launch: Path, workflow: tl.Run, by_hash: dict[str, tl.Run]) -> int:
    """Register every file under ``folders``; returns how many were recorded."""
    files = [path for folder in folders for path in _files(folder)]
    if not files:
        return 0
    sources = _sources(files, workflow, by_hash)
    groups: dict[int | None, list[adapters.Output]] = {}
    runs: dict[int | None, tl.Run | None] = {None: None}
    for path, source in zip(files, sources, strict=True):
        runs[source.id if source else None] = source
        groups.setdefault(source.id if source else None, []).append(
            adapters.Output(str(path), key=_key(path, launch))
        )
    for run_id, outputs in groups.items():
        adapters.register_outputs(runs[run_id], outputs, features={"published": True})
    return len(files)


def _files(folder: Path) -> list[Path]:
    found = []
    for root, _, names in os.walk(folder):
        found += [Path(root) / n for n in sorted(names) if not n.startswith(".")]
    return sorted(found)


def _key(path: Path, launch: Path) -> str:
    """``results/x.txt``: the path under the launch dir, else from the output dir's name."""
    absolute = path.absolute()
    if absolute.is_relative_to(launch):
        return absolute.relative_to(launch).as_posix()
    return "/".join(absolute.parts[-2:])


def _sources(
    files: list[Path], workflow: tl.Run, by_hash: dict[str, tl.Run]
) -> list[tl.Run | None]:
    """The task run behind each file: by symlink target, else by identical content
    (the unmatched files hashed together, against the run's outputs looked up once)."""
    found = [by_hash.get(task_hash_of(p.resolve())) if p.is_symlink() else None for p in files]
    unmatched = [i for i, source in enumerate(found) if source is None]
    if unmatched:
        by_content = {
            a.hash: a.run for a in tl.Artifact.filter(run__parent=workflow).order_by("id")
        }
        hashed = adapters.hash_files([files[i] for i in unmatched])
        for i, digest in zip(unmatched, hashed, strict=True):
            found[i] = by_content.get(digest)
    return found


def task_hash_of(target: Path) -> str:
    """The task hash of a path inside a work dir (``.../ab/cdef.../sub/file``), or ``""``."""
    parts = target.parts
    for index in range(len(parts) - 2, 0, -1):
        if _WORK_PARTS[0].match(parts[index - 1]) and _WORK_PARTS[1].match(parts[index]):
            return parts[index - 1] + parts[index]
    return ""
