"""Artifact references, read one way everywhere: a uid, a ``key`` or ``key@version``.

The CLI (``threadline load REF``), the Snakemake storage plugin (``threadline://key@3``) and
any adapter resolve references here, through ``threadline.adapters.resolve_reference`` and
``resolve_references``:

- a uid names that artifact;
- ``key@N`` names version N of the key (``key@x`` is bad input);
- a bare ``key`` names its latest version.

By default trashed versions and purged tombstones are never found (what an engine must
see: a version in the trash does not exist). ``hidden=True`` (what a person at the CLI asks
for) also finds trashed, archived and purged versions: a bare key then means its newest
visible version, else the newest hidden one. ``trashed=True`` (what ``restore`` brings
back) makes a bare key mean its newest version in the trash.
"""

from collections.abc import Iterable

from .errors import InvalidInput, NotFound
from .models import Artifact

CHUNK = 500  # keys or uids per query, under every database's limit on parameters
GONE = ("trash", "purged")  # never found by an engine: deleted, or a tombstone


def split_reference(ref: str) -> tuple[str, int | None]:
    """``"raw/x.csv@3"`` -> ``("raw/x.csv", 3)``; a uid or bare key -> ``(ref, None)``."""
    if not isinstance(ref, str) or not ref:
        raise InvalidInput(f"an artifact reference is a uid, KEY or KEY@VERSION, not {ref!r}")
    if "@" not in ref:
        return ref, None
    head, _, text = ref.rpartition("@")
    if not text.isdigit() or not head:
        raise InvalidInput(
            f"cannot read {ref!r}: use KEY@VERSION with a version number, e.g. {head or 'key'}@1"
        )
    return head, int(text)


def resolve_references(refs: Iterable[str], *, hidden: bool = False) -> dict[str, Artifact]:
    """The artifact of each reference that names one (missing ones are left out), in a
    few queries for any number of references. Every reference is checked first."""
    wanted = {ref: split_reference(ref) for ref in refs}
    heads = sorted({head for head, _ in wanted.values()})
    by_uid = _by_uid(heads, hidden)
    keyed = [(ref, head, v) for ref, (head, v) in wanted.items() if head not in by_uid]
    pinned = sorted({v for _, _, v in keyed if v is not None})
    versions = _by_key([head for _, head, _ in keyed], hidden, pinned)
    found: dict[str, Artifact] = {}
    for ref, (head, _) in wanted.items():
        if head in by_uid and wanted[ref][1] is None:
            found[ref] = by_uid[head]
    for ref, head, version in keyed:
        artifact = _pick(versions.get(head, []), version, hidden)
        if artifact is not None:
            found[ref] = artifact
    return found


def resolve_reference(ref: str, *, hidden: bool = False, trashed: bool = False) -> Artifact:
    """The artifact ``ref`` names, else ``NotFound`` saying what was looked for."""
    head, version = split_reference(ref)
    if trashed and version is None and head not in _by_uid([head], True):
        found = Artifact.filter(key=head, visibility="trash").order_by("-version").first()
        if found is not None:
            return found  # type: ignore[no-any-return]
        if Artifact.filter(key=head, visibility__in=("main", "archive")).exists():
            raise NotFound(f"no version of key {head!r} is in the trash")
    artifact = resolve_references([ref], hidden=hidden or trashed).get(ref)
    if artifact is not None:
        return artifact
    if version is not None:
        raise NotFound(f"no version {version} of key {head!r}")
    raise NotFound(f"no artifact with uid or key {head!r}")


def _by_uid(heads: list[str], hidden: bool) -> dict[str, Artifact]:
    found: dict[str, Artifact] = {}
    for start in range(0, len(heads), CHUNK):
        query = Artifact.select().where(Artifact.uid.in_(heads[start : start + CHUNK]))
        if not hidden:
            query = query.where(Artifact.visibility.not_in(GONE))
        found.update({a.uid: a for a in query})
    return found


def _by_key(keys: list[str], hidden: bool, pinned: list[int]) -> dict[str, list[Artifact]]:
    """The versions of each key that may be asked for, newest first: with ``hidden`` all
    of them, else the latest and the ``pinned`` version numbers, never trashed ones."""
    unique = sorted(set(keys))
    found: dict[str, list[Artifact]] = {}
    for start in range(0, len(unique), CHUNK):
        query = Artifact.select().where(Artifact.key.in_(unique[start : start + CHUNK]))
        if not hidden:
            which = Artifact.is_latest == True  # noqa: E712  # a SQL expression
            if pinned:
                which = which | Artifact.version.in_(pinned)
            query = query.where(Artifact.visibility.not_in(GONE) & which)
        for artifact in query.order_by(Artifact.version.desc()):
            found.setdefault(str(artifact.key), []).append(artifact)
    return found


def _pick(versions: list[Artifact], version: int | None, hidden: bool) -> Artifact | None:
    """Version ``version`` among a key's versions (newest first), else the latest."""
    if version is not None:
        return next((a for a in versions if a.version == version), None)
    if not hidden:
        return next((a for a in versions if a.is_latest), None)
    visible = next((a for a in versions if a.visibility == "main"), None)
    return visible or (versions[0] if versions else None)
