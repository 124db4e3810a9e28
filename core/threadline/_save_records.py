"""The save pipeline's last step (``threadline.saving``): the records, in one transaction.

Writers serialise per key (PostgreSQL: an advisory lock per key, taken in sorted order;
SQLite: its single writer lock). The state of every key and content is read with one
statement per 500 keys (and one per 500 keyless contents); one artifact is inserted with
the statement built once per table, many with multi-row inserts.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import _context
from ._db import unwrap, write_transaction
from .models import Artifact, Storage, write_values_many
from .models._base import new_uid, utcnow

if TYPE_CHECKING:
    from .saving import Item, Values

_CHUNK = 500  # values per statement: well under SQLite's and PostgreSQL's limits
Identity = tuple[str | None, str, bool]  # key, content hash, whether it is a file


def write_records(items: Sequence["Item"], storage: Storage) -> None:
    """Insert or find each item's record, link schemas, write annotations: all or none."""
    db = Artifact._meta.database
    locks = sorted({f"artifact:{item.artifact.key}" for item in items})
    with write_transaction(db, lock=locks[0]):
        for lock in locks[1:]:  # joins the transaction, taking one more key's lock
            with write_transaction(db, lock=lock):
                pass
        existing, tops = _state(items)
        fresh, found, twins = _sort_out(items, existing, tops, storage)
        stale = sorted({i.artifact.key for i in fresh if i.artifact.key and i.artifact.version > 1})
        for chunk in _chunks(stale):
            _run_sql(
                f"UPDATE artifact SET is_latest = ? WHERE key IN ({_marks(chunk)}) "
                "AND is_latest = ?",
                (False, *chunk, True),
            )
        _link_schemas(fresh)
        _insert([i.artifact for i in fresh])
        records: dict[int, Artifact] = {}
        if found:
            query = Artifact.select().where(Artifact.id.in_(sorted(set(found.values()))))
            records = {a.id: a for a in query}
        for item in items:
            if item.artifact.key is None and id(item) in twins:
                _become(item.artifact, twins[id(item)].artifact)
            elif id(item) in found:
                _become(item.artifact, records[found[id(item)]])
        _annotate(items)


def _prepared(item: "Item") -> Any:
    assert item.prepared is not None  # set by the objects step
    return item.prepared


def _sort_out(
    items: Sequence["Item"],
    existing: dict[Identity, int],
    tops: dict[str, int],
    storage: Storage,
) -> tuple[list["Item"], dict[int, int], dict[int, "Item"]]:
    """(new records, ids of existing records by item, keyless repeats within this call);
    new records get their fields and versions here."""
    fresh: list[Item] = []
    found: dict[int, int] = {}
    twins: dict[int, Item] = {}
    first_keyless: dict[tuple[str, bool], Item] = {}
    for item in items:
        artifact, prepared = item.artifact, _prepared(item)
        content = (prepared.hash, prepared.n_files is None)
        same = existing.get((artifact.key, *content))
        if same is not None:
            found[id(item)] = same
        elif artifact.key is None and content in first_keyless:
            twins[id(item)] = first_keyless[content]
        else:
            if artifact.key is None:
                first_keyless[content] = item
            else:
                tops[artifact.key] = tops.get(artifact.key, 0) + 1
                artifact.version = tops[artifact.key]
            _fill(artifact, prepared, storage)
            fresh.append(item)
    return fresh, found, twins


def _fill(artifact: Artifact, prepared: Any, storage: Storage) -> None:
    run = _context.current_run()
    artifact.hash, artifact.size, artifact.n_files = prepared.hash, prepared.size, prepared.n_files
    artifact.suffix, artifact.path = prepared.suffix, prepared.object_path
    artifact.in_place = prepared.in_place
    artifact.storage = storage
    artifact.kind = artifact.kind or ("folder" if prepared.n_files is not None else "file")
    artifact.otype = artifact.otype or prepared.otype
    if artifact.n_observations is None:
        artifact.n_observations = prepared.n_observations
    if artifact.run_id is None and run is not None:
        artifact.run = run
    artifact.is_latest = True
    artifact.uid = artifact.uid or new_uid()
    artifact.created_at = artifact.created_at or utcnow()


def _become(artifact: Artifact, saved: Artifact) -> None:
    """``artifact`` is the record ``saved`` (same key and content) from now on."""
    artifact.__data__, artifact._dirty, artifact.__rel__ = dict(saved.__data__), set(), {}


def _link_schemas(fresh: list["Item"]) -> None:
    """New records link the schema they were validated against (saved first if new)."""
    for item in fresh:
        if item.report is not None:
            schema = item.report.schema
            item.artifact.schema = schema if schema.id is not None else schema.save()


def _annotate(items: Sequence["Item"]) -> None:
    """Existing records link the validating schema too; every record gets the categorical
    values validation found plus the values it was saved with (the latter win)."""
    merged: dict[int, dict[str, tuple[Any, Any]]] = {}
    records: dict[int, Artifact] = {}
    for item in items:
        artifact, report = item.artifact, item.report
        checked: Values = list(report.annotations) if report is not None else []
        if report is not None and artifact.schema_id != report.schema.id:
            schema = report.schema if report.schema.id is not None else report.schema.save()
            Artifact.update(schema=schema.id).where(Artifact.id == artifact.id).execute()
            artifact.schema_id = schema.id
        checked += item.values
        if checked:
            records[artifact.id] = artifact
            values = merged.setdefault(artifact.id, {})
            values.update({feature.name: (feature, value) for feature, value in checked})
    write_values_many([(records[i], list(values.values())) for i, values in merged.items()])


def _insert(artifacts: list[Artifact]) -> None:
    if len(artifacts) == 1:
        artifacts[0].insert_now()
        return
    rows = [_row(a) for a in artifacts]
    for start in range(0, len(rows), _CHUNK):
        Artifact.insert_many(rows[start : start + _CHUNK]).execute()
    ids: dict[str, int] = {}
    for chunk in _chunks([a.uid for a in artifacts]):
        query = Artifact.select(Artifact.uid, Artifact.id).where(Artifact.uid.in_(chunk))
        ids.update({a.uid: a.id for a in query})
    for artifact in artifacts:
        artifact.id, artifact._dirty = ids[artifact.uid], set()


def _row(artifact: Artifact) -> dict[str, Any]:
    data = {name: artifact.__data__.get(name) for name in Artifact._meta.fields if name != "id"}
    for name, field in Artifact._meta.fields.items():
        if data.get(name) is None and field.default is not None and name != "id":
            data[name] = field.default() if callable(field.default) else field.default
    return data


def _state(items: Sequence["Item"]) -> tuple[dict[Identity, int], dict[str, int]]:
    """({(key, hash, is a file): id of the newest visible artifact with that key and
    content}, {key: its highest version}) for the keys and keyless contents saved now:
    one statement per 500 keys (a single save: one), one per 500 keyless contents. A
    file and a folder are never the same content, even where their hashes agree (a
    file can hold the very lines a folder's hash is made of)."""
    keys = sorted({i.artifact.key for i in items if i.artifact.key is not None})
    existing: dict[Identity, int] = {}
    tops: dict[str, int] = {}
    for chunk in _chunks(keys):
        cursor = _run_sql(
            "SELECT key, hash, n_files IS NULL, MAX(version), "
            "MAX(CASE WHEN visibility NOT IN ('trash', 'purged') THEN id END) FROM artifact "
            f"WHERE key IN ({_marks(chunk)}) GROUP BY key, hash, n_files IS NULL",
            tuple(chunk),
        )
        for key, hash_, is_file, top, visible in cursor.fetchall():
            tops[key] = max(tops.get(key, 0), top)
            if visible is not None:
                existing[(key, hash_, bool(is_file))] = visible
    keyless = sorted({_prepared(i).hash for i in items if i.artifact.key is None})
    for chunk in _chunks(keyless):
        cursor = _run_sql(
            "SELECT hash, n_files IS NULL, MAX(id) FROM artifact WHERE key IS NULL AND hash "
            f"IN ({_marks(chunk)}) AND visibility NOT IN ('trash', 'purged') "
            "GROUP BY hash, n_files IS NULL",
            tuple(chunk),
        )
        for hash_, is_file, row_id in cursor.fetchall():
            existing[(None, hash_, bool(is_file))] = row_id
    return existing, tops


def _chunks(values: list[Any]) -> list[list[Any]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


def _marks(values: list[Any]) -> str:
    return ", ".join("?" * len(values))


def _run_sql(sql: str, params: tuple[Any, ...]) -> Any:
    db = unwrap(Artifact._meta.database)
    return db.execute_sql(sql.replace("?", db.param), params)
