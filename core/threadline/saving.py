"""The one save pipeline: ``tl.save([...])``, ``Artifact.save()`` (one artifact) and the
adapters' ``register_outputs`` all run it, so that they agree on every record.

1. **prepare** (nothing written): each unsaved artifact's key is checked (a key twice in
   one call is refused), a file saved with a validating schema is loaded and validated;
2. **objects**: in-memory DataFrames and AnnData (``from_dataframe``/``from_anndata``)
   are written to a scratch folder, every path is hashed (stat cache, parallel where it
   pays) and its object stored content-addressed (``storage._objects``);
3. **records**: one write transaction, serialised per key, finds the existing artifact
   for the same key and content (or keyless content), or inserts the next version and
   moves ``is_latest``; schemas are linked and annotations written in it too.

The records are written only after their objects are complete, so a crash leaves at worst
an unreferenced object, which ``threadline gc`` removes. Each artifact is updated in
place: an artifact whose key and content exist already becomes that artifact.
"""

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from . import _context, _tables
from ._instance import Instance
from ._keys import check_key, suffix_of
from ._loaders import load_path
from ._save_records import write_records
from .errors import InvalidInput
from .hashing import StatCache
from .models import Artifact, Feature
from .models.artifact import PendingSave
from .storage._objects import Prepared, prepare, store
from .validation import ValidationReport, validate

PARALLEL_BYTES = 32 << 20  # below this much local data, hash and copy in one thread
NO_CACHE = StatCache(None)  # for scratch files: hashes, remembers nothing
Values = list[tuple[Feature, Any]]  # checked feature values (``check_values``)


@dataclass
class Item:
    """One artifact on its way through the pipeline."""

    artifact: Artifact
    pending: PendingSave
    values: Values = field(default_factory=list)  # feature values to write with it
    report: ValidationReport | None = None  # validated against its schema
    source: str = ""  # the path hashed and stored (a scratch file for in-memory objects)
    scratch: bool = False
    prepared: Prepared | None = None

    @property
    def suffix(self) -> str:
        a = self.artifact
        return a.suffix or suffix_of(a.key or str(self.pending.source))


def save_artifacts(
    artifacts: Sequence[Artifact], workers: int = 8, values: Sequence[Values] | None = None
) -> list[Artifact]:
    """Save unsaved artifacts together; each element is updated in place and returned.

    ``values``: checked feature values per artifact (``adapters.register_outputs``),
    written in the records' transaction. Saved artifacts are passed over.
    """
    extra = list(values) if values is not None else [[] for _ in artifacts]
    if len(extra) != len(artifacts):
        raise InvalidInput("save_artifacts: one list of values per artifact")
    items = plan([(a, v) for a, v in zip(artifacts, extra, strict=True) if a.id is None])
    if items:
        inst = _context.instance()
        with _scratch_folder(inst, items) as folder:
            for item in items:
                _write_out(item, folder)
            _prepare_and_store(items, inst, workers)
        _run_written()
        with _undone_on_failure(items):
            write_records(items, inst.storage)
        for item in items:
            item.artifact.pending = None
    return list(artifacts)


def _run_written() -> None:
    """The current run's row, written now if it is still queued (a run an engine adapter
    started with ``start_run(..., later=True)``): the records' transaction reads its id,
    and must not wait there for the background writer (SQLite's single write lock)."""
    run = _context.current_run()
    if run is not None:
        run.id  # noqa: B018  # reading it is what writes a queued run's row


@contextlib.contextmanager
def _undone_on_failure(items: list[Item]) -> Iterator[None]:
    """A records transaction that fails is rolled back in the database: undo it on the
    objects too (an id, version or schema of a row that does not exist would make the
    next ``save()`` pass the artifact over), so that saving them again writes them."""
    artifacts = [(i.artifact, dict(i.artifact.__data__), set(i.artifact._dirty)) for i in items]
    reports = [i.report for i in items if i.report is not None]
    unsaved: list[Any] = [r.schema for r in reports if r.schema.id is None]
    unsaved += [f for i in items for f, _ in _all_values(i) if f.id is None]
    try:
        yield
    except BaseException:
        for artifact, data, dirty in artifacts:
            artifact.__data__, artifact._dirty, artifact.__rel__ = data, dirty, {}
        for record in unsaved:
            record.id = None
        raise


def _all_values(item: Item) -> Values:
    return [*(item.report.annotations if item.report else ()), *item.values]


# -- 1. prepare ------------------------------------------------------------------------------


def plan(pairs: Sequence[tuple[Artifact, Values]]) -> list[Item]:
    """Check every artifact before anything is written (keys, schemas)."""
    items = []
    for artifact, extra in pairs:
        pending = artifact.pending
        if pending is None:
            raise InvalidInput("nothing to save: give a path, tl.Artifact(path, key=...)")
        if artifact.key is not None:
            check_key(artifact.key)
        items.append(Item(artifact, pending, list(extra), pending.report))
    keys = [i.artifact.key for i in items if i.artifact.key is not None]
    if len(keys) != len(set(keys)):
        raise InvalidInput("the same key appears twice in one bulk save")
    for item in items:
        if item.pending.data is None and item.artifact.schema_id is not None:
            item.report = _validate_file(item)
    return items


def _validate_file(item: Item) -> ValidationReport | None:
    """A table file saved with a validating schema is loaded and checked first; it is
    stored as it is (coercion checks that values convert, it does not rewrite files)."""
    schema = item.artifact.schema
    if schema.kind == "record":
        return None  # a plain record describes the file, it has no rules
    source, suffix = str(item.pending.source), item.suffix
    if suffix.lower() not in _tables.OTYPES or (
        "://" in source and not source.startswith("file://")
    ):
        raise InvalidInput(
            f"schema {schema.label} validates local DataFrame and AnnData "
            f"files ({', '.join(_tables.OTYPES)}), not {source}"
        )
    local = source.removeprefix("file://")
    if not os.path.exists(local):
        raise InvalidInput(f"path not found: {os.path.abspath(local)}")
    report = validate(load_path(local, suffix), schema)
    report.raise_for_problems()
    return report


# -- 2. objects ------------------------------------------------------------------------------


@contextlib.contextmanager
def _scratch_folder(inst: Instance, items: list[Item]) -> Iterator[str | None]:
    """A temporary folder for in-memory objects: beside the objects on local storage (so
    that files are renamed into place), in the cache folder otherwise."""
    if all(item.pending.data is None for item in items):
        yield None
        return
    base = inst.backend.local_path(".threadline/tmp")
    base = base or os.path.join(inst.settings.cache_dir, "tmp")
    os.makedirs(base, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as folder:
        yield folder


def _write_out(item: Item, folder: str | None) -> None:
    pending = item.pending
    if pending.data is None or folder is None:
        item.source = str(pending.source)
        return
    own = os.path.join(folder, str(len(os.listdir(folder))))
    os.makedirs(own)
    item.source = _tables.write_object(pending.data, own, pending.format or "parquet")
    item.scratch = True


def _prepare_and_store(items: list[Item], inst: Instance, workers: int) -> None:
    def run(item: Item) -> None:
        cache = NO_CACHE if item.scratch else inst.stat_cache
        item.prepared = prepare(item.source, inst.backend, cache, item.suffix)
        store(item.prepared, inst.backend, move=item.scratch)

    if _worth_threads(items, inst.backend.is_local):
        with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
            list(pool.map(run, items))
    else:
        for item in items:
            run(item)


def _worth_threads(items: list[Item], local_storage: bool) -> bool:
    """Threads pay off for remote storage or big files; small local files go faster in
    this thread (per-file work is then mostly Python, which threads cannot overlap)."""
    if not local_storage or len(items) < 2:
        return not local_storage and len(items) > 1
    total = 0
    for item in items:
        if "://" in item.source or os.path.isdir(item.source):
            return True
        total += os.path.getsize(item.source) if os.path.exists(item.source) else 0
    return total > PARALLEL_BYTES
