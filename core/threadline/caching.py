"""Step caching: a call whose code, parameters and inputs have not changed is not run again.

The rule (docs/caching.md): a call's cache key is the SHA-256 of

- its transform key and code identity (``_code.code_hash``: the function's source plus
  the local helpers, modules and constants it reaches, installed packages by version);
- its parameters in canonical form, secrets masked as they are stored; a value with no
  canonical form makes the call uncacheable (``Key.note`` says which parameter);
- the content hash of every input it is handed: saved artifacts, paths (``os.PathLike``,
  or a string naming an existing file), also inside lists, tuples and dicts.

That is ``Key.base``, known before the body runs. A completed run is recorded as a
``CacheEntry`` with what its body read through threadline (artifacts by key or uid, with
their hashes) and what it returned; a later call with the same base reuses it only if
those reads still resolve to the same content and every output still exists. Otherwise
``Decision.reason`` says what changed.
"""

import dataclasses
import datetime as dt
import enum
import hashlib
import json
import logging
import os
import pathlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import _context
from ._code import code_hash
from ._redact import MASK, is_secret_name, redact_text
from .errors import InvalidInput
from .hashing import hash_path, hash_paths
from .models import Artifact, CacheEntry, Run, RunInput

__all__ = ["Decision", "Key", "clear", "entries", "key", "lookup", "record", "reuse"]

log = logging.getLogger("threadline.caching")
MODES = (False, True, "refresh")


class _Uncacheable(Exception):
    """A value with no canonical form (the message is the one-line note)."""


@dataclass(frozen=True)
class Key:
    """A call's cache key. ``base`` is None when the call cannot be cached (``note``)."""

    transform: str
    base: str | None
    parts: dict[str, Any] = field(default_factory=dict)
    arguments: tuple[int, ...] = ()  # ids of the artifacts handed to the call
    note: str | None = None


@dataclass(frozen=True)
class Decision:
    """What a lookup found: an entry to reuse, or the reason it must run."""

    entry: CacheEntry | None
    reason: str | None


def _sha(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def check_mode(cache: Any) -> bool | str:
    if cache not in MODES or (cache is not False and not isinstance(cache, bool | str)):
        raise InvalidInput(f"cache must be True, False or 'refresh', not {cache!r}")
    return cache  # type: ignore[no-any-return]


# -- the key ------------------------------------------------------------------------------


def _canonical(value: Any, name: str, label: str, inputs: list[tuple[str, Any]]) -> Any:
    if name and is_secret_name(name) and value not in (None, "", False):
        return MASK
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if os.path.isfile(value):
            inputs.append((label, value))
        return redact_text(value)
    if isinstance(value, Artifact):
        if value.id is None:
            raise _Uncacheable(f"parameter {label!r} is an unsaved artifact")
        inputs.append((label, value))
        return {"artifact": label}
    if isinstance(value, os.PathLike):
        inputs.append((label, os.fspath(value)))
        return {"path": redact_text(os.fspath(value))}
    return _canonical_container(value, label, inputs)


def _canonical_container(value: Any, label: str, inputs: list[tuple[str, Any]]) -> Any:
    if isinstance(value, list | tuple):
        return [_canonical(v, "", f"{label}[{i}]", inputs) for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        items = [_canonical(v, "", f"{label}[]", inputs) for v in value]
        return {"set": sorted(items, key=_sha)}
    if isinstance(value, dict):
        if not all(isinstance(k, str | int) for k in value):
            raise _Uncacheable(f"parameter {label!r} has keys that are not strings")
        return {str(k): _canonical(v, str(k), f"{label}.{k}", inputs) for k, v in value.items()}
    if isinstance(value, bytes):
        return {"bytes": hashlib.sha256(value).hexdigest()}
    if isinstance(value, dt.date | dt.time):
        return {type(value).__name__: value.isoformat()}
    if isinstance(value, enum.Enum):
        return {"enum": f"{type(value).__qualname__}.{value.name}"}
    if isinstance(value, Decimal | uuid.UUID):
        return {type(value).__name__: str(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {type(value).__qualname__: _canonical_container(fields, label, inputs)}
    raise _Uncacheable(
        f"parameter {label!r} of type {type(value).__name__} has no canonical form to hash"
    )


def _input_hashes(inputs: list[tuple[str, Any]]) -> dict[str, str]:
    """label -> content hash; paths through the stat cache (unchanged files cost a stat)."""
    hashes: dict[str, str] = {}
    paths: list[tuple[str, str]] = []
    for label, item in inputs:
        if isinstance(item, Artifact):
            hashes[label] = item.hash
        elif os.path.exists(item):
            paths.append((label, item))
        else:
            hashes[label] = "absent"
    cache = _context.instance().stat_cache
    slow = []
    for label, path in paths:  # unchanged files: a stat and a lookup each, no thread pool
        known = cache.get(os.stat(path)) if os.path.isfile(path) else None
        if known is None:
            slow.append((label, path))
        else:
            hashes[label] = known
    found = hash_paths([p for _, p in slow], cache)
    hashes.update(zip((label for label, _ in slow), (h.hash for h in found), strict=True))
    return hashes


def key(fn: Callable[..., Any], arguments: dict[str, Any], *, transform: str) -> Key:
    """The cache key of calling ``fn`` with ``arguments`` (bound by name), as the
    transform ``transform``. Never raises for a value it cannot hash: the key then has
    ``base=None`` and a one-line ``note``."""
    inputs: list[tuple[str, Any]] = []
    try:
        params = {
            name: _sha(_canonical(value, name, name, inputs))
            for name, value in arguments.items()
            if name not in ("self", "cls")
        }
    except _Uncacheable as exc:
        return Key(transform, None, note=f"not cached: {exc}")
    hashes = _input_hashes(inputs)
    parts = {"code": code_hash(fn), "params": params, "inputs": hashes}
    ids = tuple(item.id for _, item in inputs if isinstance(item, Artifact))
    return Key(transform, _sha({"transform": transform, **parts}), parts, ids)


# -- lookup -------------------------------------------------------------------------------


def lookup(k: Key) -> Decision:
    """The entry to reuse for ``k``, or why there is none."""
    if k.base is None:
        return Decision(None, k.note)
    reason = None
    for entry in CacheEntry.select().where(CacheEntry.base == k.base).order_by(CacheEntry.id):
        reason = _stale(entry)
        if reason is None:
            return Decision(entry, None)
    return Decision(None, reason or _what_changed(k))


def _stale(entry: CacheEntry) -> str | None:
    """Why ``entry`` cannot be reused now (None: it can)."""
    keyed = {r["key"]: r["hash"] for r in entry.reads if "key" in r}
    if keyed:
        latest = dict(
            Artifact.select(Artifact.key, Artifact.hash)
            .where(Artifact.key.in_(list(keyed)) & (Artifact.is_latest == True))  # noqa: E712
            .tuples()
        )
        for name, digest in sorted(keyed.items()):
            if latest.get(name) != digest:
                return f"input {name} changed (read by the body)"
    uids = [r["uid"] for r in entry.reads if "uid" in r]
    result = entry.result or {}
    outputs = list(result.get("outputs", []))
    if uids:
        found = Artifact.select().where(Artifact.uid.in_(uids) & (Artifact.visibility == "main"))
        if found.count() < len(uids):
            return "an input read by the body is gone"
    return _outputs_gone(outputs) or _paths_changed(result.get("paths", {}))


def _outputs_gone(ids: list[int]) -> str | None:
    if not ids:
        return None
    found = {a.id: a for a in Artifact.select().where(Artifact.id.in_(ids))}
    inst = _context.instance()
    for artifact_id in ids:
        artifact = found.get(artifact_id)
        if artifact is None or artifact.visibility != "main":
            return f"output {artifact.key if artifact else artifact_id} is gone (deleted)"
        backend = artifact._backend(inst)
        if not backend.exists(artifact.path):
            return f"output {artifact.key or artifact.uid} is gone (its object was purged)"
    return None


def _paths_changed(paths: dict[str, str]) -> str | None:
    cache = _context.instance().stat_cache
    for path, digest in sorted(paths.items()):
        if not os.path.exists(path) or hash_path(path, cache).hash != digest:
            return f"returned path {path} changed"
    return None


def _what_changed(k: Key) -> str:
    before = (
        CacheEntry.select()
        .where(CacheEntry.transform_key == k.transform)
        .order_by(CacheEntry.id.desc())
        .first()
    )
    if before is None:
        return "no earlier cached run of this transform"
    old, new = before.parts, k.parts
    if old.get("code") != new["code"]:
        return "code changed"
    for kind in ("params", "inputs"):
        was, now = old.get(kind, {}), new[kind]
        for name in sorted(set(was) | set(now)):
            if was.get(name) != now.get(name):
                what = "parameter" if kind == "params" else "input"
                return f"{what} {name!r} changed"
    return "no cache entry (cleared)"


# -- record and reuse ---------------------------------------------------------------------


def _subtree(run: Run) -> list[int]:
    ids, frontier = [run.id], [run.id]
    while frontier:
        frontier = [r.id for r in Run.select(Run.id).where(Run.parent.in_(frontier))]
        ids.extend(frontier)
    return ids


def _encode(value: Any, paths: dict[str, str]) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Artifact) and value.id is not None:
        return {"__tl__": "artifact", "id": value.id}
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        if os.path.exists(path):
            paths[path] = hash_path(path, _context.instance().stat_cache).hash
        return {"__tl__": type(value).__name__, "path": path}
    if isinstance(value, list | tuple):
        items = [_encode(v, paths) for v in value]
        return items if isinstance(value, list) else {"__tl__": "tuple", "items": items}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__tl__": "dict", "items": {k: _encode(v, paths) for k, v in value.items()}}
    raise _Uncacheable(
        f"not cached: a return value of type {type(value).__name__} cannot be stored "
        "(return artifacts, paths or JSON values)"
    )


def _decode(value: Any, artifacts: dict[int, Artifact]) -> Any:
    if isinstance(value, list):
        return [_decode(v, artifacts) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value["__tl__"]
    if kind == "artifact":
        return artifacts[value["id"]]
    if kind == "tuple":
        return tuple(_decode(v, artifacts) for v in value["items"])
    if kind == "dict":
        return {k: _decode(v, artifacts) for k, v in value["items"].items()}
    cls = getattr(pathlib, kind, pathlib.Path)
    return cls(value["path"])


def record(k: Key, run: Run, result: Any) -> str | None:
    """Record the completed ``run`` under ``k``; returns a note when it cannot be cached.

    Two processes recording the same key at once both succeed: one row wins."""
    if k.base is None:
        return None  # the key's note says why, on the run already
    paths: dict[str, str] = {}
    try:
        value = _encode(result, paths)
    except _Uncacheable as exc:
        return str(exc)
    ids = _subtree(run)
    made = [a.id for a in Artifact.select(Artifact.id).where(Artifact.run.in_(ids))]
    query = (
        Artifact.select(Artifact.key, Artifact.uid, Artifact.hash)
        .join(RunInput, on=RunInput.artifact == Artifact.id)
        .where(RunInput.run.in_(ids) & Artifact.id.not_in(made + list(k.arguments) or [0]))
        .distinct()
    )
    reads = sorted(
        ({"key": a.key, "hash": a.hash} if a.key else {"uid": a.uid, "hash": a.hash}) for a in query
    )
    CacheEntry.insert(
        key=_sha({"base": k.base, "reads": reads}),
        base=k.base,
        transform_key=k.transform,
        run=run.id,
        parts=k.parts,
        reads=reads,
        result={"value": value, "outputs": sorted(made), "paths": paths},
    ).on_conflict_ignore().execute()
    return None


def reuse(entry: CacheEntry, run: Run) -> Any:
    """Link ``run`` (status ``cached``) to the inputs of the run it reuses; return the
    reused result, its artifacts loaded as the body returned them."""
    source = entry.run_id
    rows = [
        {"run": run.id, "artifact": r.artifact_id}
        for r in RunInput.select(RunInput.artifact).where(RunInput.run == source)
    ]
    if rows:
        RunInput.insert_many(rows).on_conflict_ignore().execute()
    value = (entry.result or {}).get("value")
    ids = _artifact_ids(value)
    artifacts = {a.id: a for a in Artifact.select().where(Artifact.id.in_(ids))} if ids else {}
    return _decode(value, artifacts)


def _artifact_ids(value: Any) -> list[int]:
    if isinstance(value, list):
        return [i for v in value for i in _artifact_ids(v)]
    if not isinstance(value, dict):
        return []
    if value.get("__tl__") == "artifact":
        return [value["id"]]
    items = value.get("items", [])
    return _artifact_ids(list(items.values()) if isinstance(items, dict) else items)


# -- housekeeping -------------------------------------------------------------------------


def entries(transform: str | None = None) -> list[CacheEntry]:
    """Cache entries, newest first; only those of transform key ``transform`` if given."""
    query = CacheEntry.select(CacheEntry, Run).join(Run).order_by(CacheEntry.id.desc())
    if transform is not None:
        query = query.where(CacheEntry.transform_key == transform)
    return list(query)


def clear(transform: str | None = None) -> int:
    """Forget cache entries (of transform key ``transform`` only, if given); runs and
    artifacts stay. Returns how many entries were removed."""
    query = CacheEntry.delete()
    if transform is not None:
        query = query.where(CacheEntry.transform_key == transform)
    return int(query.execute())
