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

import contextvars
import json
import logging
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import _context
from ._cachevalues import Uncacheable, artifact_ids, canonical, decode, digest, encode
from ._code import code_hash
from ._db import unwrap
from .errors import InvalidInput
from .hashing import hash_path, hash_paths
from .models import Artifact, CacheEntry, Run, RunInput

__all__ = [
    "Decision",
    "Hit",
    "Key",
    "clear",
    "entries",
    "key",
    "lookup",
    "note_reads",
    "record",
    "reuse",
]

log = logging.getLogger("threadline.caching")
# files read through threadline during a cached call: absolute path -> content hash
_reads: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "threadline_cache_reads", default=None
)
MODES = (False, True, "refresh")


@dataclass(frozen=True)
class Key:
    """A call's cache key. ``base`` is None when the call cannot be cached (``note``)."""

    transform: str
    base: str | None
    parts: dict[str, Any] = field(default_factory=dict)
    arguments: tuple[int, ...] = ()  # ids of the artifacts handed to the call
    note: str | None = None


@dataclass(frozen=True)
class Hit:
    """A cache entry that a call may reuse: the run that made it and what it returned."""

    id: int
    run_id: int
    run_uid: str
    reads: list[dict[str, str]]
    result: dict[str, Any]


@dataclass(frozen=True)
class Decision:
    """What a lookup found: an entry to reuse, or the reason it must run."""

    entry: Hit | None
    reason: str | None


# the hot path of every cached call: plain SQL, built once
_LOOKUP = (
    "SELECT e.id, e.run_id, r.uid, e.reads, e.result FROM cache_entry e "
    "JOIN run r ON r.id = e.run_id WHERE e.base = ? ORDER BY e.id DESC"
)


def check_mode(cache: Any) -> bool | str:
    if cache not in MODES or (cache is not False and not isinstance(cache, bool | str)):
        raise InvalidInput(f"cache must be True, False or 'refresh', not {cache!r}")
    return cache  # type: ignore[no-any-return]


# -- the key ------------------------------------------------------------------------------


def _input_hashes(inputs: list[tuple[str, Any]]) -> dict[str, str]:
    """label -> content hash; paths through the stat cache (unchanged files cost a stat)."""
    hashes: dict[str, str] = {}
    slow: list[tuple[str, str]] = []
    cache: Any = _context.instance().stat_cache if inputs else None
    for label, item in inputs:  # unchanged files: a stat and a lookup each, no thread pool
        if isinstance(item, Artifact):
            hashes[label] = item.hash
            continue
        try:
            st = os.stat(item)
        except OSError:
            hashes[label] = "absent"
            continue
        known = cache.get(st) if stat.S_ISREG(st.st_mode) else None
        if known is None:
            slow.append((label, item))
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
            name: digest(canonical(value, name, name, inputs)) for name, value in arguments.items()
        }  # ``self`` too: a method's result depends on its object's state
    except Uncacheable as exc:
        return Key(transform, None, note=f"not cached: {exc}")
    try:
        hashes = _input_hashes(inputs)
    except InvalidInput as exc:  # a FIFO or device, a file changing while it is read
        return Key(transform, None, note=f"not cached: {' '.join(str(exc).split())}")
    parts = {"code": code_hash(fn), "params": params, "inputs": hashes}
    ids = tuple(item.id for _, item in inputs if isinstance(item, Artifact))
    return Key(transform, digest({"transform": transform, **parts}), parts, ids)


def note_reads(pairs: Iterable[tuple[str, str | None]]) -> None:
    """Tell the cached call in progress (if any) that it read these files, as (path,
    content hash): its entry is then reused only while they hold the same content. The
    adapter API calls this for every path it links or registers as an input."""
    found = _reads.get()
    if found is not None:
        for path, digest_ in pairs:
            if digest_ is not None and "://" not in path:
                found[os.path.abspath(path)] = digest_


def start_reads() -> contextvars.Token[dict[str, str] | None]:
    """Begin collecting the files a cached call reads (``note_reads``)."""
    return _reads.set({})


def stop_reads(token: contextvars.Token[dict[str, str] | None]) -> dict[str, str]:
    """The files collected since ``start_reads``; an enclosing cached call (a cached
    flow around a cached step) inherits them."""
    found = _reads.get() or {}
    try:
        _reads.reset(token)
    except ValueError:  # ended in another context (a thread): nothing to restore
        _reads.set(None)
    outer = _reads.get()
    if outer is not None:
        outer.update(found)
    return found


# -- lookup -------------------------------------------------------------------------------


def lookup(k: Key) -> Decision:
    """The entry to reuse for ``k``, or why there is none."""
    if k.base is None:
        return Decision(None, k.note)
    reason = None
    db: Any = unwrap(CacheEntry._meta.database)
    for row in db.execute_sql(_LOOKUP.replace("?", db.param), (k.base,)).fetchall():
        entry = Hit(row[0], row[1], row[2], json.loads(row[3]), json.loads(row[4] or "{}"))
        reason = _stale(entry)
        if reason is None:
            return Decision(entry, None)
    return Decision(None, reason or _what_changed(k))


def _sql(template: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Plain SQL on the hot path: peewee's query building costs more than the query."""
    db: Any = unwrap(CacheEntry._meta.database)
    return list(db.execute_sql(template.replace("?", db.param), params).fetchall())


def _marks(n: int) -> str:
    return ", ".join(["?"] * n)


def _stale(entry: Hit) -> str | None:
    """Why ``entry`` cannot be reused now (None: it can)."""
    keyed = {r["key"]: r["hash"] for r in entry.reads if "key" in r}
    if keyed:
        names = sorted(keyed)
        sql = (
            f"SELECT key, hash FROM artifact WHERE is_latest = ? AND key IN ({_marks(len(names))})"
        )
        latest = dict(_sql(sql, [True, *names]))
        for name in names:
            if latest.get(name) != keyed[name]:
                return f"input {name} changed (read by the body)"
    uids = sorted({r["uid"] for r in entry.reads if "uid" in r})
    if uids:
        sql = f"SELECT uid FROM artifact WHERE visibility = ? AND uid IN ({_marks(len(uids))})"
        if len(_sql(sql, ["main", *uids])) < len(uids):
            return "an input read by the body is gone"
    files = {r["path"]: r["hash"] for r in entry.reads if "path" in r}
    changed = _paths_changed(files, "input file {} changed (read by the body)")
    if changed is not None:
        return changed
    result = entry.result
    returned = artifact_ids(result.get("value"))  # an input handed back is checked too
    ids = sorted({*result.get("outputs", []), *returned})
    return _outputs_gone(ids) or _paths_changed(result.get("paths", {}))


def _outputs_gone(ids: list[int]) -> str | None:
    if not ids:
        return None
    sql = (
        "SELECT a.id, a.key, a.uid, a.visibility, a.path, s.root FROM artifact a "
        f"JOIN storage s ON s.id = a.storage_id WHERE a.id IN ({_marks(len(ids))})"
    )
    found = {row[0]: row for row in _sql(sql, ids)}
    inst = _context.instance()
    for artifact_id in ids:
        row = found.get(artifact_id)
        if row is None or row[3] != "main":
            return f"output {row[1] or row[2] if row else artifact_id} is gone (deleted)"
        root = row[5]
        backend = inst.backend if root == inst.storage.root else inst.backend_for(root)
        if not backend.exists(row[4]):
            return f"output {row[1] or row[2]} is gone (its object was purged)"
    return None


def _paths_changed(paths: dict[str, str], message: str = "returned path {} changed") -> str | None:
    if not paths:
        return None
    cache = _context.instance().stat_cache
    for path, expected in sorted(paths.items()):
        try:
            same = os.path.exists(path) and hash_path(path, cache).hash == expected
        except (OSError, InvalidInput):  # unreadable, or changing as it is read: not the same
            same = False
        if not same:
            return message.format(path)
    return None


def _what_changed(k: Key) -> str:
    before = (
        CacheEntry.select()
        .where(CacheEntry.transform_key == k.transform)
        .order_by(CacheEntry.id.desc())  # type: ignore[misc]
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
        query = Run.select(Run.id).where(Run.parent.in_(frontier))  # type: ignore[misc]
        frontier = [r.id for r in query]
        ids.extend(frontier)
    return ids


SOURCE_NOTE = "source data read from "  # how adapters.resolve_inputs describes source data


def _from_a_path(artifact: Artifact) -> bool:
    """Registered when a file was read by its path: keyless, or source data."""
    return not artifact.key or (artifact.description or "").startswith(SOURCE_NOTE)


def record(
    k: Key,
    run: Run,
    result: Any,
    files: dict[str, str] | None = None,
    *,
    replace: bool = False,
) -> str | None:
    """Record the completed ``run`` under ``k``, with the ``files`` its body read
    (``stop_reads``); returns a note when it cannot be cached. ``replace`` (a refresh)
    first removes the entries recorded under the same key.

    Two processes recording the same key at once both succeed: one row wins."""
    if k.base is None:
        return None  # the key's note says why, on the run already
    paths: dict[str, str] = {}
    try:
        value = encode(result, paths)
    except Uncacheable as exc:
        return str(exc)
    ids = _subtree(run)
    outputs = Artifact.select(Artifact.id).where(Artifact.run.in_(ids))  # type: ignore[misc]
    made = [a.id for a in outputs]
    found = list(
        Artifact.select(
            Artifact.key,
            Artifact.uid,
            Artifact.hash,
            Artifact.run,
            Artifact.created_at,
            Artifact.description,
        )
        .join(RunInput, on=RunInput.artifact == Artifact.id)  # type: ignore[misc]
        .where(RunInput.run.in_(ids) & Artifact.id.not_in(made + list(k.arguments) or [0]))  # type: ignore[misc]
        .distinct()
    )
    files = files or {}
    known = set(files.values())
    unseen = [a for a in found if a.run_id is None and _from_a_path(a) and a.hash not in known]
    if unseen:  # a file no run made, read by a path this call was not told about
        return f"not cached: the body read a file it did not name ({unseen[0].uid})"
    reads = sorted(
        [{"key": a.key, "hash": a.hash} if a.key else {"uid": a.uid, "hash": a.hash} for a in found]
        + [{"path": path, "hash": h} for path, h in files.items()],
        key=digest,
    )
    if replace:
        CacheEntry.delete().where(CacheEntry.base == k.base).execute()
    CacheEntry.insert(
        key=digest({"base": k.base, "reads": reads}),
        base=k.base,
        transform_key=k.transform,
        run=run.id,
        parts=k.parts,
        reads=reads,
        result={"value": value, "outputs": sorted(made), "paths": paths},
    ).on_conflict_ignore().execute()
    return None


def reuse(entry: Hit, run: Run) -> Any:
    """Link ``run`` (status ``cached``) to the inputs of the run it reuses; return the
    reused result, its artifacts loaded as the body returned them."""
    db: Any = unwrap(CacheEntry._meta.database)
    copy = "INSERT INTO run_input (run_id, artifact_id) SELECT ?, artifact_id FROM run_input "
    db.execute_sql((copy + "WHERE run_id = ?").replace("?", db.param), (run.id, entry.run_id))
    value = entry.result.get("value")
    ids = sorted(set(artifact_ids(value)))
    artifacts: dict[int, Artifact] = {}
    if ids:
        sql = f"SELECT * FROM artifact WHERE id IN ({_marks(len(ids))})".replace("?", db.param)
        artifacts = {a.id: a for a in Artifact.raw(sql, *ids)}
    return decode(value, artifacts)


# -- housekeeping -------------------------------------------------------------------------


def entries(transform: str | None = None) -> list[CacheEntry]:
    """Cache entries, newest first; only those of transform key ``transform`` if given."""
    query = CacheEntry.select(CacheEntry, Run).join(Run).order_by(CacheEntry.id.desc())  # type: ignore[misc]
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
