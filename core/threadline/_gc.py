"""What ``gc`` purges and forgets: the plan (listed before anything is done) and its doing.

A trashed artifact that a run used (its output, one of its inputs, its logs) is purged:
its object is freed and its record becomes a tombstone (visibility ``purged``, never the
latest version, its version number never reused). One no run used goes entirely. A
tombstone goes only when forgotten; forgetting one that the outputs of a run read would
cut their lineage, so that needs the tombstone named. ``maintenance`` is the public door.
``delete_now`` does the same to one artifact at once (``Artifact.delete(permanent=True)``,
reached through ``_context.layers()``): one mechanism for both.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import peewee

from ._context import instance
from ._db import write_transaction
from ._output import human_size
from ._purge import current_user
from .errors import InvalidInput, NotFound
from .models import Artifact, Run, RunInput
from .models._base import utcnow
from .models.artifact import refresh_latest
from .storage import inside

CHUNK = 500  # ids per IN (...) list
SHOW = 5  # dependents named in a refusal


@dataclass(frozen=True)
class Purge:
    """A trashed artifact ``gc`` purges; ``tombstone``: a run used it, its record stays."""

    uid: str
    key: str | None
    version: int
    hash: str
    size: int | None
    uri: str
    tombstone: bool

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "action": "tombstone" if self.tombstone else "erase"}

    def line(self) -> str:
        size = human_size(self.size) if self.size is not None else "?"
        what = f"purge {self.key or '(no key)'} v{self.version} ({self.uid}, {size}): "
        if self.tombstone:
            return what + "object freed, record kept as a tombstone (runs used it)"
        return what + "object and record removed (no run used it)"


@dataclass(frozen=True)
class Forget:
    """A tombstone whose record ``gc`` removes; ``cuts``: records whose lineage loses it."""

    uid: str
    key: str | None
    version: int
    cuts: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "cuts": list(self.cuts), "action": "forget"}

    def line(self) -> str:
        what = f"forget {self.key or '(no key)'} v{self.version} ({self.uid}): record removed"
        return what + (f", cutting the lineage of {_names(self.cuts)}" if self.cuts else "")


@dataclass
class GcPlan:
    """What one ``gc`` does: purges, orphan objects removed, tombstones forgotten."""

    purge: list[Purge] = field(default_factory=list)
    orphans: list[Any] = field(default_factory=list)  # maintenance.Orphan
    forget: list[Forget] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.purge or self.orphans or self.forget)

    def lines(self) -> list[str]:
        return [
            *(p.line() for p in self.purge),
            *(f"remove orphan object {o.uri}" for o in self.orphans),
            *(f.line() for f in self.forget),
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "purge": [p.to_dict() for p in self.purge],
            "orphans": [o.to_dict() for o in self.orphans],
            "forget": [f.to_dict() for f in self.forget],
        }


def plan(
    *, keep_trash: bool = False, orphans: list[Any], forget: bool | Sequence[str] = False
) -> GcPlan:
    """The plan (see ``maintenance.gc_plan``); raises before anything is done."""
    trashed = [] if keep_trash else list(_select(visibility="trash"))
    used = _used([a.id for a in trashed])
    purges = [_purge_item(a, a.id in used) for a in trashed]
    purged = list(_select(visibility="purged"))
    candidates = purged + [a for a in trashed if a.id in used]
    chosen = _chosen(candidates, forget)
    cuts = _dependents({a.id for a in chosen})
    if forget is True and cuts:
        first = next(a for a in chosen if cuts.get(a.id))
        raise InvalidInput(
            f"refusing to forget: {len(cuts)} purged records are still in the lineage of "
            f"others, e.g. {_name(first)} of {_names(cuts[first.id])}; name the ones to "
            "forget anyway (threadline gc --forget KEY...), nothing was done"
        )
    forgets = [Forget(a.uid, a.key, a.version, cuts.get(a.id, ())) for a in chosen]
    return GcPlan(purges, orphans, forgets)


def execute(todo: GcPlan) -> dict[str, int]:
    """Do the purges and forgets of ``todo`` (items restored or gone since are skipped);
    orphans are ``maintenance.gc``'s. Returns the counts."""
    who, now = current_user(), utcnow()
    purged = kept = forgot = 0
    for item in todo.purge:
        artifact = Artifact.get_or_none(Artifact.uid == item.uid)
        if artifact is None or artifact.visibility != "trash":
            continue  # restored (or gone) since it was listed
        outcome = _purge(artifact, bool(_used([artifact.id])), who, now)
        purged += outcome is not None
        kept += outcome is True
    for gone in todo.forget:
        artifact = Artifact.get_or_none(Artifact.uid == gone.uid)
        if artifact is not None:
            forgot += _erase(artifact, ("purged",)) is False
    return {"trash_purged": purged, "tombstones_kept": kept, "records_forgotten": forgot}


def delete_now(artifact: Artifact, forget: bool = False) -> str:
    """``Artifact.delete(permanent=True)``: what ``gc`` does to a trashed artifact, done
    to this one now, whether it is in the trash or not: ``"tombstone"`` (a run used it:
    object freed, record kept, stamped with who deleted it and when), ``"erase"`` (no run
    used it: record and object gone) or ``"purged"`` (a tombstone already: nothing done).
    ``forget``: the record goes in any case (``"forget"``), as ``gc --forget`` removes a
    tombstone; refused (``InvalidInput``, nothing done) while the lineage of other
    records needs it: ``gc --forget KEY@VERSION`` names a tombstone to forget anyway."""
    if forget:
        cuts = _dependents({artifact.id}).get(artifact.id)
        if cuts:
            raise InvalidInput(
                f"refusing to forget {_name(artifact)} ({artifact.uid}): it is in the lineage "
                f"of {_names(cuts)}; nothing was done (delete --permanent keeps it as a "
                f"tombstone, then 'threadline gc --forget {_ref(artifact)}' forgets it anyway)"
            )
    if artifact.visibility == "purged" and not forget:
        return "purged"
    if not artifact.in_place:
        inside(artifact.path)  # a crafted path: refused before the record changes
    states = ("main", "trash", "purged") if forget else ("main", "trash")
    if forget or not _used([artifact.id]):
        done = _erase(artifact, states) is False
        return ("forget" if forget else "erase") if done else _gone(artifact)
    if _purge(artifact, True, current_user(), utcnow(), states) is not True:
        return _gone(artifact)
    fresh = Artifact.get_by_id(artifact.id)  # the caller's object shows the tombstone
    for name in ("visibility", "is_latest", "deleted_at", "deleted_by", "purged_at", "purged_by"):
        setattr(artifact, name, getattr(fresh, name))
    return "tombstone"


def _gone(artifact: Artifact) -> str:
    """The record changed between the read and the write: purged by another, or gone."""
    if Artifact.select().where(Artifact.id == artifact.id).exists():
        return "purged"
    raise NotFound(f"artifact {_name(artifact)} ({artifact.uid}) was removed meanwhile")


def _purge(
    artifact: Artifact,
    keep: bool,
    who: str | None,
    now: Any,
    states: tuple[str, ...] = ("trash",),
) -> bool | None:
    """Free ``artifact``'s object; keep its record as a tombstone when ``keep`` (True),
    else remove it (False); None when it left ``states`` meanwhile (nothing done). Who
    deleted it and when are stamped unless the trash already did."""
    if not artifact.in_place:
        inside(artifact.path)  # a crafted path: refused before the record changes
    if not keep:
        return _erase(artifact, states)
    stamps = {
        "deleted_at": peewee.fn.COALESCE(Artifact.deleted_at, now),
        "deleted_by": peewee.fn.COALESCE(Artifact.deleted_by, who),
    }
    with write_transaction(Artifact._meta.database, lock=f"artifact:{artifact.key}"):
        changed = (
            Artifact.update(
                visibility="purged", is_latest=False, purged_at=now, purged_by=who, **stamps
            )
            .where((Artifact.id == artifact.id) & Artifact.visibility.in_(states))
            .execute()
        )
        if not changed:
            return None  # restored since it was read
        if artifact.key is not None:
            refresh_latest(artifact.key)
        unshared = not _shared(artifact)
    if unshared and not artifact.in_place:
        artifact._backend(instance()).remove(artifact.path)
    return True


def _erase(artifact: Artifact, states: tuple[str, ...]) -> bool | None:
    """Remove the record (and its links) if its visibility is still one of ``states``,
    and the object too where nothing else holds it; False when done, None when it
    changed meanwhile."""
    with write_transaction(Artifact._meta.database, lock=f"artifact:{artifact.key}"):
        this = (Artifact.id == artifact.id) & Artifact.visibility.in_(states)
        if not Artifact.select().where(this).exists():
            return None  # restored (or gone) since it was read
        RunInput.delete().where(RunInput.artifact == artifact.id).execute()
        Run.update(logs=None).where(Run.logs == artifact.id).execute()
        # ``Artifact.delete`` is the instance method: build peewee's query directly
        peewee.ModelDelete(Artifact).where(this).execute()
        if artifact.key is not None:
            refresh_latest(artifact.key)
        unshared = not _shared(artifact)
    if unshared and not artifact.in_place and artifact.visibility != "purged":
        artifact._backend(instance()).remove(artifact.path)
    return False


def _shared(artifact: Artifact) -> bool:
    """Does another record with content hold ``artifact``'s object?"""
    return bool(
        Artifact.select()
        .where(
            (Artifact.path == artifact.path)
            & (Artifact.storage == artifact.storage_id)
            & (Artifact.id != artifact.id)
            & (Artifact.visibility != "purged")
        )
        .exists()
    )


def _select(**where: Any) -> Iterable[Artifact]:
    return (
        Artifact.select()
        .where(*(getattr(Artifact, k) == v for k, v in where.items()))
        .order_by(Artifact.key, Artifact.version, Artifact.id)
    )


def _used(ids: list[int]) -> set[int]:
    """Those of ``ids`` a run used: as an output, an input, or its logs."""
    used: set[int] = set()
    for part in _chunks(ids):
        used.update(
            a.id
            for a in Artifact.select(Artifact.id).where(
                Artifact.id.in_(part) & Artifact.run.is_null(False)
            )
        )
        used.update(
            r.artifact_id
            for r in RunInput.select(RunInput.artifact).where(RunInput.artifact.in_(part))
        )
        logs = Run.select(Run.logs).where(Run.logs.in_(part))
        used.update(r.logs_id for r in logs if r.logs_id is not None)
    return used


def _chosen(candidates: list[Artifact], forget: bool | Sequence[str]) -> list[Artifact]:
    """The tombstones ``forget`` names (all for ``True``); a name that matches none is
    refused."""
    if forget is False:
        return []
    if forget is True:
        return candidates
    chosen: dict[int, Artifact] = {}
    for ref in forget:
        key, _, version = ref.rpartition("@") if "@" in ref else (ref, "", "")
        found = [
            a
            for a in candidates
            if a.uid == ref or (a.key == key and (not version or str(a.version) == version))
        ]
        if not found:
            raise InvalidInput(
                f"no purged artifact matches {ref!r}: only a tombstone can be forgotten "
                "(delete the artifact, then gc purges it); nothing was done"
            )
        chosen.update((a.id, a) for a in found)
    return sorted(chosen.values(), key=lambda a: (a.key or "", a.version, a.id))


def _dependents(ids: set[int]) -> dict[int, tuple[str, ...]]:
    """For each of ``ids``: the records (outside ``ids``) written by runs that read it."""
    found: dict[int, set[str]] = {}
    for part in _chunks(sorted(ids)):
        reads = RunInput.select(RunInput.artifact, RunInput.run).where(RunInput.artifact.in_(part))
        readers: dict[int, set[int]] = {}
        for link in reads:
            readers.setdefault(link.run_id, set()).add(link.artifact_id)
        for run_part in _chunks(sorted(readers)):
            made = Artifact.select().where(Artifact.run.in_(run_part) & Artifact.id.not_in(ids))
            for output in made:
                for source in readers.get(output.run_id or 0, ()):
                    found.setdefault(source, set()).add(_name(output))
    return {k: tuple(sorted(v)) for k, v in found.items()}


def _purge_item(artifact: Artifact, used: bool) -> Purge:
    return Purge(
        artifact.uid,
        artifact.key,
        artifact.version,
        artifact.hash,
        artifact.size,
        artifact.uri,
        used,
    )


def _name(artifact: Artifact) -> str:
    return f"{artifact.key or artifact.uid} v{artifact.version}"


def _ref(artifact: Artifact) -> str:
    return f"{artifact.key}@{artifact.version}" if artifact.key else artifact.uid


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:SHOW])
    return shown + (f" and {len(names) - SHOW} more" if len(names) > SHOW else "")


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    items = list(ids)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
