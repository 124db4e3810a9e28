"""The public API that engine adapters (Prefect, Snakemake, Lightning, Nextflow) drive.

Everything an adapter needs is here, so that adapters never import private modules:

- ``start_run`` / ``finish_run``: a run of a transform given key, kind, source and the
  engine's reference, with an explicit parent; ``start_runs`` for thousands at once;
- ``activate``: make a run current, so artifacts saved inside it belong to it;
- ``register_outputs``: many output files for a run in one call (parallel hashing, bulk
  insert, one transaction), optionally annotated with features;
- ``link_inputs``: by path (found by content, registered when unknown), hash or artifact;
- ``transaction``: many of these calls in one database transaction (bulk ingests);
- ``annotate`` (``check_features`` first, writing nothing), ``link_runs``
  (``link_runs_many``), ``child_environment``,
  ``find_by_hash``, ``check_key``;
- ``strict``: whether an adapter should re-raise its own failures (tests).
"""

import contextlib
import datetime as dt
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import _context
from ._config import ENV_DB, ENV_PARENT_RUN, ENV_STORAGE
from ._db import write_transaction
from ._keys import check_key as _check_key
from ._redact import redact as _redact_value
from ._redact import redact_text
from .errors import InvalidInput, NotFound
from .hashing import hash_paths
from .models import Artifact, Project, Run, RunInput, RunLink, Transform
from .models._base import insert_records
from .models._bulk import save_artifacts
from .models.feature import Feature, check_values, write_values_many
from .models.run import RUN_STATUSES

__all__ = [
    "Output",
    "activate",
    "annotate",
    "annotate_many",
    "check_features",
    "check_key",
    "child_environment",
    "find_by_hash",
    "finish_run",
    "get_transform",
    "link_inputs",
    "link_runs",
    "link_runs_many",
    "redact",
    "register_outputs",
    "start_run",
    "start_runs",
    "strict",
    "transaction",
]

FINAL_STATUSES = ("completed", "errored", "aborted")
ENV_STRICT = "THREADLINE_STRICT"


@dataclass(frozen=True)
class Output:
    """One output file or folder: where it is, its key, features for it alone, and the run
    that made it when that is not the ``register_outputs`` call's own run (the outputs
    of many jobs registered in one call)."""

    path: str
    key: str | None = None
    features: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    run: Run | None = None


def source_hash(source: str | bytes) -> str:
    data = source.encode() if isinstance(source, str) else source
    return hashlib.sha256(data).hexdigest()


def get_transform(
    key: str,
    kind: str,
    *,
    source: str | None = None,
    hash: str | None = None,
    reference: str | None = None,
    description: str | None = None,
) -> Transform:
    """The transform for ``key`` with this source; new source under a key is a new version."""
    if not key:
        raise InvalidInput("a transform needs a non-empty key")
    digest = hash or (source_hash(source) if source is not None else source_hash(key))
    found = Transform.get_or_none((Transform.key == key) & (Transform.hash == digest))
    if found is not None:
        return found  # type: ignore[no-any-return]
    with write_transaction(Transform._meta.database, lock=f"transform:{key}"):
        found = Transform.get_or_none((Transform.key == key) & (Transform.hash == digest))
        if found is not None:
            return found  # type: ignore[no-any-return]
        top = (
            Transform.select(Transform.version)
            .where(Transform.key == key)
            .order_by(Transform.version.desc())
            .scalar()
        )
        return Transform.create(  # type: ignore[no-any-return]
            key=key,
            kind=kind,
            hash=digest,
            version=(top or 0) + 1,
            reference=reference,
            source=redact_text(source) if source is not None else None,
            description=description,
        )


def start_run(
    key: str,
    kind: str,
    *,
    source: str | None = None,
    hash: str | None = None,
    engine: str | None = None,
    reference: str | None = None,
    parent: Run | str | None = None,
    params: dict[str, Any] | None = None,
    name: str | None = None,
    project: str | None = None,
    status: str = "started",
    started_at: dt.datetime | None = None,
    transform: Transform | None = None,
    **fields: Any,
) -> Run:
    """Create a run of the transform ``key``/``kind``; ``parent`` is a Run or its uid."""
    transform = transform or get_transform(key, kind, source=source, hash=hash)
    for text in ("error", "traceback"):
        if fields.get(text):
            fields[text] = redact_text(fields[text])
    run = Run(
        transform=transform,
        engine=engine,
        reference=reference,
        name=name,
        parent=_as_run(parent),
        params=_redact_value(params) if params else None,
        status=status,
        project=_project(project),
        **fields,
    )
    if started_at is not None:
        run.started_at = started_at
    run.insert_now()
    return run


def start_runs(runs: Iterable[dict[str, Any]]) -> list[Run]:
    """``start_run`` for many runs at once, with one INSERT statement (a bulk ingest of
    thousands of task runs). Each item holds a ``transform`` (from ``get_transform``) and
    any other run fields: ``engine``, ``reference``, ``parent`` (a Run or its uid),
    ``params``, ``name``, ``project``, ``status``, ``started_at``, ``finished_at``,
    ``error``... Every item is checked before anything is written; returns the runs in
    order."""
    found: dict[tuple[str, Any], Any] = {}  # parents, looked up once each
    rows = [_run_row(item, found) for item in runs]
    with write_transaction(Run._meta.database):  # projects made only once all is checked
        projects: dict[str, int] = {}
        for row in rows:
            name = row.get("project")
            if name:
                if name not in projects:
                    projects[name] = _project(name).id  # type: ignore[union-attr]
                row["project"] = projects[name]
        return insert_records(Run, rows)


_RUN_FIELDS = frozenset(Run._meta.fields) - {"id", "uid"}


def _run_row(item: dict[str, Any], found: dict[tuple[str, Any], Any]) -> dict[str, Any]:
    row = dict(item)
    transform = row.pop("transform", None)
    if not isinstance(transform, Transform) or transform.id is None:
        raise InvalidInput("start_runs: every run needs a saved transform (get_transform)")
    if not _RUN_FIELDS.issuperset(row):
        unknown = ", ".join(sorted(row.keys() - _RUN_FIELDS))
        raise InvalidInput(f"start_runs: unknown or reserved run fields: {unknown}")
    if row.get("status", "started") not in RUN_STATUSES:
        raise InvalidInput(f"run status must be one of {RUN_STATUSES}, not {row['status']!r}")
    row["transform"] = transform.id
    parent = row.get("parent")
    if parent is not None:
        key = ("parent", parent.id if isinstance(parent, Run) else parent)
        if key not in found:
            found[key] = _as_run(parent).id  # type: ignore[union-attr]
        row["parent"] = found[key]
    if row.get("project") is not None and not isinstance(row["project"], str):
        raise InvalidInput(f"start_runs: project is a name, not {row['project']!r}")
    if row.get("params"):
        row["params"] = _redact_value(row["params"])
    for name in ("error", "traceback"):
        if row.get(name):
            row[name] = redact_text(row[name])
    return row


def finish_run(
    run: Run,
    status: str = "completed",
    *,
    error: str | None = None,
    traceback: str | None = None,
    finished_at: dt.datetime | None = None,
    **fields: Any,
) -> Run:
    """Close ``run`` with a final status; errors and tracebacks are stored redacted."""
    if status not in FINAL_STATUSES:
        raise InvalidInput(f"final status must be one of {FINAL_STATUSES}, not {status!r}")
    run.status = status
    run.finished_at = finished_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    run.error = redact_text(error) if error else run.error
    run.traceback = redact_text(traceback) if traceback else run.traceback
    for name, value in fields.items():
        setattr(run, name, value)
    run.save(only=run.dirty_fields)
    return run


@contextlib.contextmanager
def activate(run: Run) -> Iterator[Run]:
    """Make ``run`` the current run inside the block (artifacts saved belong to it)."""
    token = _context.enter_run(run)
    try:
        yield run
    finally:
        _context.exit_run(run, token)


@contextlib.contextmanager
def transaction() -> Iterator[None]:
    """Make the adapter calls inside the block one database transaction: all or nothing,
    and one commit instead of one per record (thousands of task runs in a bulk ingest).
    Keep slow work such as hashing big files out of the block: it holds the write lock."""
    with write_transaction(Run._meta.database):
        yield


def register_outputs(
    run: Run | None,
    outputs: Iterable[Output | str | os.PathLike[str]],
    *,
    features: dict[str, Any] | None = None,
    kind: str | None = None,
    create_features: bool = True,
) -> list[Artifact]:
    """Save many outputs of ``run`` at once; returns their artifacts in input order.

    ``features`` annotate every output, ``Output.features`` one output (and win). Every
    feature value is checked before anything is stored or written.
    """
    items = [o if isinstance(o, Output) else Output(os.fspath(o)) for o in outputs]
    known: dict[str, Feature] = {}
    checked = [
        check_values({**(features or {}), **item.features}, create_features, known)
        for item in items
    ]
    artifacts = [
        Artifact(
            o.path,
            key=o.key,
            description=o.description,
            kind=kind,
            run=o.run if o.run is not None else run,
        )
        for o in items
    ]
    save_artifacts(artifacts)
    write_values_many(list(zip(artifacts, checked, strict=True)))
    return artifacts


def find_by_hash(hash_: str) -> Artifact | None:
    """The most recent visible artifact with this content hash."""
    return (
        Artifact.select()
        .where((Artifact.hash == hash_) & (Artifact.visibility != "trash"))
        .order_by(Artifact.is_latest.desc(), Artifact.id.desc())
        .first()
    )


def link_inputs(
    run: Run,
    *,
    paths: Iterable[str | os.PathLike[str]] = (),
    hashes: Iterable[str] = (),
    artifacts: Iterable[Artifact] = (),
    register_unknown: bool = True,
) -> list[Artifact]:
    """Record inputs of ``run``; paths are matched by content, unknown ones registered."""
    linked = list(artifacts)
    if any(a.id is None for a in linked):
        raise InvalidInput("link_inputs takes saved artifacts; save them first")
    digests = list(hashes)
    by_hash = _find_many(sorted(set(digests)))
    unknown = [d for d in digests if d not in by_hash]
    if unknown:
        raise NotFound(f"no artifact has hash {unknown[0]}")
    linked.extend(by_hash[d] for d in digests)
    path_list = [os.fspath(p) for p in paths]
    if path_list:
        linked.extend(_artifacts_for_paths(path_list, register_unknown))
    rows = [{"run": run.id, "artifact": a.id} for a in linked if a.run_id != run.id]
    if rows:
        RunInput.insert_many(rows).on_conflict_ignore().execute()
    return linked


def _artifacts_for_paths(paths: list[str], register_unknown: bool) -> list[Artifact]:
    """An artifact per distinct content, in path order: found by hash, else registered."""
    inst = _context.instance()
    missing = [p for p in paths if "://" not in p and not os.path.exists(p)]
    if missing:
        raise InvalidInput(f"input path not found: {missing[0]}")
    local = [p for p in paths if "://" not in p]
    digest_of: dict[str, str | None] = dict(
        zip(local, (h.hash for h in hash_paths(local, inst.stat_cache)), strict=True)
    )
    for path in paths:
        if "://" in path:
            digest_of[path] = _remote_hash(inst.backend, path)
    found = _find_many(sorted({d for d in digest_of.values() if d}))
    unknown: dict[str, Artifact] = {}  # by content (by path where no hash is known yet)
    for path in paths:
        ident = digest_of[path] or path
        if found.get(ident) is None and ident not in unknown:
            unknown[ident] = Artifact(path)
    if unknown and register_unknown:
        with _context.no_run():  # reading a file does not make the reader its creator
            save_artifacts(list(unknown.values()))
    elif unknown:
        unknown = {}
    result: dict[int, Artifact] = {}
    for path in paths:
        ident = digest_of[path] or path
        artifact = found.get(ident) or unknown.get(ident)
        if artifact is not None:
            result.setdefault(artifact.id, artifact)
    return list(result.values())


def _find_many(digests: list[str]) -> dict[str, Artifact]:
    """``find_by_hash`` for many hashes, a query per 500."""
    found: dict[str, Artifact] = {}
    for start in range(0, len(digests), 500):
        query = (
            Artifact.select()
            .where(
                Artifact.hash.in_(digests[start : start + 500]) & (Artifact.visibility != "trash")
            )
            .order_by(Artifact.is_latest.desc(), Artifact.id.desc())
        )
        for artifact in query:
            found.setdefault(artifact.hash, artifact)
    return found


def _remote_hash(backend: Any, uri: str) -> str | None:
    """The content hash of a remote file under the storage root (None: let save decide)."""
    rel = backend.relative(uri) if "://" in uri else None
    info = backend.info(rel) if rel is not None else None
    if info is None or info["type"] == "directory":
        return None
    return backend.sha256(rel)  # type: ignore[no-any-return]


def annotate(
    record: Artifact | Run, values: dict[str, Any], *, create_features: bool = False
) -> None:
    """Set feature values on an artifact or a run (features made on demand if asked)."""
    record.features.add_values(values, create_features=create_features)


def annotate_many(
    items: Iterable[tuple[Artifact | Run, dict[str, Any]]], *, create_features: bool = False
) -> None:
    """``annotate`` for many records of one kind in one transaction; every value is
    checked before anything is written."""
    known: dict[str, Feature] = {}
    checked = [(record, check_values(values, create_features, known)) for record, values in items]
    kinds = {type(record) for record, _ in checked}
    if len(kinds) > 1:
        raise InvalidInput("annotate_many takes artifacts or runs, not both in one call")
    write_values_many(checked)


def check_features(values: dict[str, Any], *, create_features: bool = False) -> None:
    """Raise ``UnknownFeature`` or ``InvalidFeatureValue`` if ``annotate`` would refuse
    ``values``; writes nothing. For adapters that must know a set of values is good
    before they store files that will carry them."""
    check_values(values, create_features)


def link_runs(upstream: Run, downstream: Run) -> None:
    """Record that ``downstream`` consumed what ``upstream`` produced."""
    link_runs_many([(upstream, downstream)])


def link_runs_many(pairs: Iterable[tuple[Run, Run]]) -> None:
    """``link_runs`` for many (upstream, downstream) pairs in one statement; pairs already
    linked are left as they are."""
    rows = []
    for upstream, downstream in pairs:
        if upstream.id == downstream.id:
            raise InvalidInput(f"a run cannot be its own upstream ({upstream.uid})")
        rows.append({"upstream": upstream.id, "downstream": downstream.id})
    if not rows:
        return
    with write_transaction(RunLink._meta.database):
        for start in range(0, len(rows), 500):
            RunLink.insert_many(rows[start : start + 500]).on_conflict_ignore().execute()


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid artifact key (a relative virtual path), else raise
    ``InvalidKey`` (an ``InvalidInput``) saying what is wrong: the rule ``tl.Artifact``
    applies, for adapters that take keys from users (storage plugins, key templates)."""
    return _check_key(key)


def strict() -> bool:
    """Whether ``THREADLINE_STRICT`` asks adapters to re-raise their own failures instead of
    logging them and letting the engine go on (set to ``1`` by threadline's tests)."""
    return os.environ.get(ENV_STRICT, "").strip().lower() not in ("", "0", "false", "no")


def redact(value: Any) -> Any:
    """``value`` with secrets masked as threadline stores params, errors and sources."""
    return redact_text(value) if isinstance(value, str) else _redact_value(value)


def child_environment(run: Run | None = None) -> dict[str, str]:
    """Variables that make a child process write into this instance under ``run``."""
    inst = _context.instance()
    env = {ENV_DB: inst.settings.db, ENV_STORAGE: inst.settings.storage}
    run = run or _context.current_run()
    if run is not None:
        env[ENV_PARENT_RUN] = run.uid
    return env


def _as_run(parent: Run | str | None) -> Run | None:
    if parent is None or isinstance(parent, Run):
        return parent
    found = Run.get_or_none(Run.uid == parent)
    if found is None:
        raise NotFound(f"no run with uid {parent!r}")
    return found  # type: ignore[no-any-return]


def _project(name: str | None) -> Project | None:
    if not name:
        return None
    Project.insert(name=name).on_conflict_ignore().execute()
    return Project.get(Project.name == name)  # type: ignore[no-any-return]
