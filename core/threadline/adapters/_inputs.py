"""Which artifact is an input: the one rule every adapter applies (DESIGN section 9).

In order: the artifact the consumer was handed; the artifact last registered at that key
(the path relative to the working directory) still matching the content; only then any
artifact with that content, the oldest producer that finished before the consumer
started (never a later one), else one no run produced. An input found by none of these
is source data: registered with no creator under its path relative to the working
directory, its absolute path and host in the description.
"""

import datetime as dt
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import peewee

from .. import _context
from .._keys import check_key
from .._redact import redact_key, redact_text
from ..caching import SOURCE_NOTE, note_reads
from ..errors import InvalidInput
from ..hashing import hash_paths
from ..models import Artifact, Run, RunInput
from ..saving import save_artifacts

CHUNK = 500  # values per statement, under every database's limit on parameters
GONE = ("trash", "purged")


@dataclass(frozen=True)
class Input:
    """One input of a run: the ``artifact`` it was handed (an Artifact argument, a
    future's result), else the ``path`` it read (a local path or a URI under the storage
    root), with the ``key`` it was read under when known, its content ``hash`` as of
    when the consumer started (None: hashed now) and the ``producers``, runs whose
    results (futures) carried the path: their output with that content is the input."""

    path: str | os.PathLike[str] | None = None
    artifact: Artifact | None = None
    key: str | None = None
    hash: str | None = None
    producers: tuple[Run, ...] = ()


def source_key(path: str, workdir: str | None = None) -> str | None:
    """The key source data read from ``path`` is registered under: the path relative to
    ``workdir`` (default: the working directory), else the absolute path without its
    leading ``/``; None where that is no valid key, or for a URI (an object under the
    storage root is found at its path)."""
    if "://" in path:
        return None
    full = os.path.abspath(path)
    base = os.path.abspath(workdir or os.getcwd())
    inside = full.startswith(base.rstrip(os.sep) + os.sep)
    name = os.path.relpath(full, base) if inside else full.lstrip(os.sep)
    try:
        return check_key(name.replace(os.sep, "/"))
    except InvalidInput:
        return None


def inputs_in(values: Iterable[Any]) -> list[Artifact | str]:
    """The saved Artifacts and the paths of existing files or folders among ``values``
    (and inside lists, tuples, sets and dict values, one level down), in order: what a
    function's arguments hand it. A ``PathLike`` counts when something exists there; a
    ``str`` only when it also looks like a path (a slash or a file extension); never
    the working directory or a folder above it."""
    found: list[Artifact | str] = []
    for value in values:
        if isinstance(value, dict):
            items: Iterable[Any] = value.values()
        else:
            items = value if isinstance(value, list | tuple | set | frozenset) else [value]
        for item in items:
            if isinstance(item, Artifact):
                if item.id is not None:
                    found.append(item)
            elif (path := _as_path(item)) is not None and path not in found:
                found.append(path)
    return found


def _as_path(value: Any) -> str | None:
    if isinstance(value, os.PathLike):
        text = os.fspath(value)
    elif isinstance(value, str) and 0 < len(value) < 1024 and "\n" not in value:
        text = value if "/" in value or os.path.splitext(value)[1] else ""
    else:
        return None
    if not isinstance(text, str) or not text or "\0" in text or "://" in text:
        return None
    if not (os.path.isfile(text) or os.path.isdir(text)):  # not a FIFO, device, socket
        return None
    full, cwd = os.path.abspath(text), os.getcwd()
    if full == cwd or cwd.startswith(full.rstrip(os.sep) + os.sep):
        return None
    return text


def resolve_inputs(
    run: Run | None,
    inputs: Iterable[Input | Artifact | str | os.PathLike[str]],
    *,
    workdir: str | None = None,
    started_at: dt.datetime | None = None,
    register_unknown: bool = True,
    at_start: bool = True,
) -> list[Artifact | None]:
    """The artifact each input resolves to, in order (None: unknown and not registered),
    linked as inputs of ``run`` (unless None). ``started_at`` (default: the run's start)
    bounds which producers count. ``at_start``: hashing now is hashing as of the
    consumer's start; when False, links of inputs without ``Input.hash`` are marked
    unverified."""
    items = [_as_input(i) for i in inputs]
    if not items:
        return []
    bound = started_at or (run.started_at if run is not None else None)
    paths = {i: os.fspath(x.path) for i, x in enumerate(items) if x.artifact is None and x.path}
    digests = _digests(items, paths)
    folder = {i: "://" not in p and os.path.isdir(p) for i, p in paths.items()}
    stored = _under_root(paths)  # objects under the storage root: found at their path
    keys = {
        i: items[i].key or (None if i in stored else source_key(p, workdir))
        for i, p in paths.items()
    }
    chosen: dict[int, Artifact | None] = {i: x.artifact for i, x in enumerate(items)}
    handed = _outputs_by_content({r.id for i in paths for r in items[i].producers})
    for i in paths:
        made = [handed.get((r.id, digests[i] or "", folder[i])) for r in items[i].producers]
        chosen[i] = next((a for a in made if a is not None), None)
    by_key = _latest_by_key({k for k in keys.values() if k})
    at_path = _in_place(set(stored.values()))
    for i, key in keys.items():
        if chosen[i] is not None:
            continue
        latest = by_key.get(key) if key else at_path.get(stored.get(i, ""))
        if latest is not None and _same(latest, digests[i], folder[i]):
            chosen[i] = latest
    rest = {i for i in paths if chosen[i] is None}
    by_hash = _by_content({d for i in rest if (d := digests[i])}, bound)
    for i in rest:  # another file's source data is not this file: it gets its own name
        found = by_hash.get((digests[i] or "", folder[i]))
        chosen[i] = None if found is not None and keys[i] and _is_source(found) else found
    unknown = [i for i in rest if chosen[i] is None]
    if unknown and register_unknown:
        chosen.update(_register_sources(unknown, paths, keys))
    result = [chosen[i] for i in range(len(items))]
    if run is not None:
        unverified = {i for i in paths if not at_start and items[i].hash is None}
        _link(run, result, unverified)
    return result


def _as_input(item: Input | Artifact | str | os.PathLike[str]) -> Input:
    if isinstance(item, Input):
        found = item
    elif isinstance(item, Artifact):
        found = Input(artifact=item)
    else:
        found = Input(path=item)
    if found.artifact is not None and found.artifact.id is None:
        raise InvalidInput("an input artifact must be saved first")
    return found


def _digests(items: list[Input], paths: dict[int, str]) -> dict[int, str | None]:
    """The content of each path input: given, else hashed now (remote: read from the
    storage backend; a folder there: None)."""
    inst = _context.instance()
    todo = [i for i, p in paths.items() if items[i].hash is None and "://" not in p]
    missing = [paths[i] for i in todo if not os.path.exists(paths[i])]
    if missing:
        raise InvalidInput(f"input path not found: {redact_text(missing[0])}")
    hashed = hash_paths([paths[i] for i in todo], inst.stat_cache)
    digests: dict[int, str | None] = {i: items[i].hash for i in paths}
    digests.update(zip(todo, (h.hash for h in hashed), strict=True))
    for i, path in paths.items():
        if digests[i] is None and "://" in path:
            digests[i] = _remote_hash(inst.backend, path)
    note_reads((paths[i], d) for i, d in digests.items())  # a cached step keys on reads
    return digests


def _same(artifact: Artifact, digest: str | None, folder: bool) -> bool:
    """The same content: the hash, and a folder for a folder (a file holding a folder's
    manifest lines has the folder's hash)."""
    return bool(digest) and artifact.hash == digest and (artifact.n_files is not None) == folder


def _visible(
    values: Iterable[Any], where: Callable[[list[Any]], Any], order: Any
) -> Iterator[Artifact]:
    """Visible artifacts matching ``where`` over ``values``, a chunk of values per query
    (under SQLite's parameter limit), each chunk in ``order``."""
    ordered = sorted(values)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        yield from (
            Artifact.select()
            .where(where(chunk))
            .where(Artifact.visibility.not_in(GONE))
            .order_by(order)
        )


def _outputs_by_content(run_ids: set[int]) -> dict[tuple[int, str, bool], Artifact]:
    """The visible outputs of runs by (run id, content, is a folder), the latest."""
    found = dict[tuple[int, str, bool], Artifact]()
    for artifact in _visible(run_ids, Artifact.run.in_, Artifact.id.desc()):
        ident = (int(artifact.run_id or 0), artifact.hash, artifact.n_files is not None)
        found.setdefault(ident, artifact)
    return found


def _latest_by_key(keys: set[str]) -> dict[str, Artifact]:
    """The highest visible version registered at each key."""
    found = dict[str, Artifact]()
    for artifact in _visible(keys, Artifact.key.in_, Artifact.version.desc()):
        found.setdefault(str(artifact.key), artifact)
    return found


def _under_root(paths: dict[int, str]) -> dict[int, str]:
    """The path under the storage root of each input that lies there (not an object of
    threadline's own)."""
    backend = _context.instance().backend
    stored = {}
    for i, path in paths.items():
        rel = backend.relative(path if "://" in path else os.path.abspath(path))
        if rel is not None and not rel.startswith(".threadline/"):
            stored[i] = rel
    return stored


def _registered_in_place_at(paths: list[str]) -> Any:
    return Artifact.path.in_(paths) & Artifact.in_place


def _in_place(relative: set[str]) -> dict[str, Artifact]:
    """The artifact last registered in place at each path under the storage root."""
    found = dict[str, Artifact]()
    for artifact in _visible(relative, _registered_in_place_at, Artifact.id.desc()):
        found.setdefault(artifact.path, artifact)
    return found


def _by_content(digests: set[str], bound: dt.datetime | None) -> dict[tuple[str, bool], Artifact]:
    """Per content: the artifact of the producer that finished first, before ``bound``;
    else the first one no run produced. A producer still running or finished after the
    consumer started is never chosen."""
    ordered, best = sorted(digests), dict[tuple[str, bool], tuple[tuple[Any, ...], Artifact]]()
    for start in range(0, len(ordered), CHUNK):
        query = (
            Artifact.select(Artifact, Run.finished_at.alias("producer_finished"))
            .join(Run, peewee.JOIN.LEFT_OUTER)
            .where(Artifact.hash.in_(ordered[start : start + CHUNK]))
            .where(Artifact.visibility.not_in(GONE))
            .objects()  # the producer's end time on the artifact, no Run built
        )
        for artifact in query:
            rank = _rank(artifact, bound)
            ident = (artifact.hash, artifact.n_files is not None)  # a folder or a file
            if rank is not None and (ident not in best or rank < best[ident][0]):
                best[ident] = (rank, artifact)
    return {ident: pair[1] for ident, pair in best.items()}


def _is_source(artifact: Artifact) -> bool:
    """Registered by ``resolve_inputs`` as source data (named after the file read)."""
    return artifact.run_id is None and (artifact.description or "").startswith(SOURCE_NOTE)


def _rank(artifact: Artifact, bound: dt.datetime | None) -> tuple[Any, ...] | None:
    """Producers finished before ``bound`` first (earliest), then artifacts no run made
    (source data last); between equals, a named artifact (a key) before a keyless one (a
    task's work file and its published copy: the name people know); None: a producer
    still running or finished after ``bound``."""
    unnamed = artifact.key is None
    if artifact.run_id is None:
        return (2 if _is_source(artifact) else 1, dt.datetime.min, unnamed, artifact.id)
    finished: dt.datetime | None = getattr(artifact, "producer_finished", None)
    if finished is None or (bound is not None and finished > bound):
        return None
    return (0, finished, unnamed, artifact.id)


def _register_sources(
    unknown: list[int], paths: dict[int, str], keys: dict[int, str | None]
) -> dict[int, Artifact]:
    """Source data: one artifact per distinct path, no creator, named by its key."""
    host = socket.gethostname()
    made: dict[str, Artifact] = {}
    for i in unknown:
        path = paths[i]
        if path not in made:
            where = path if "://" in path else os.path.abspath(path)
            key = keys[i]
            made[path] = Artifact(
                path,
                key=redact_key(key) if key else None,
                description=redact_text(f"{SOURCE_NOTE}{where} on {host}"),
            )
    with _context.no_run():  # reading a file does not make the reader its creator
        save_artifacts(list(made.values()))
    return {i: made[paths[i]] for i in unknown}


def _link(run: Run, artifacts: list[Artifact | None], unverified: set[int]) -> None:
    rows: dict[int, dict[str, Any]] = {}
    for i, artifact in enumerate(artifacts):
        if artifact is None or artifact.run_id == run.id:
            continue
        row = rows.setdefault(artifact.id, {"run": run.id, "artifact": artifact.id})
        row["unverified"] = row.get("unverified", True) and i in unverified
    if rows and not any(r["unverified"] for r in rows.values()):
        for row in rows.values():
            del row["unverified"]
    if rows:
        RunInput.insert_many(list(rows.values())).on_conflict_ignore().execute()


def _remote_hash(backend: Any, uri: str) -> str | None:
    """The content hash of a remote file under the storage root (None: let save decide)."""
    rel = backend.relative(uri) if "://" in uri else None
    info = backend.info(rel) if rel is not None else None
    if info is None or info["type"] == "directory":
        return None
    return backend.sha256(rel)  # type: ignore[no-any-return]
