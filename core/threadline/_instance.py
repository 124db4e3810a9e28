"""The active instance: one database and one default storage root, opened lazily.

``connect()`` resolves settings (``_config.resolve``), opens the database, creates or
upgrades its schema, checks that the storage root is usable and registers it. Everything
else reaches the instance through ``_context.instance()``, which calls ``connect()`` on
first use, so ``import threadline`` itself opens nothing.
"""

from __future__ import annotations

import functools
import os
import threading

import peewee

from . import _context
from ._config import (
    Settings,
    normalize_db,
    normalize_storage,
    redact_url,
    resolve,
    same_database,
    sqlite_url,
    write_project_file,
)
from ._db import open_database, sqlite_path
from ._digests import StatCache
from .errors import ConfigError, DatabaseError, TrackingError
from .models import TABLES, Storage, database, ensure_schema
from .storage import Backend, open_backend

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

_lock = threading.RLock()


class Instance:
    """An open instance: its settings, database, storage backend and storage record (a
    plain class: ``dataclasses`` costs ~4 ms of every start)."""

    def __init__(
        self, settings: Settings, db: peewee.Database, backend: Backend, storage: Storage
    ) -> None:
        self.settings, self.db, self.backend, self.storage = settings, db, backend, storage

    def __repr__(self) -> str:
        return f"Instance(db={redact_url(self.settings.db)!r}, storage={self.settings.storage!r})"

    @functools.cached_property
    def stat_cache(self) -> StatCache:
        """The hash cache in the cache folder, made on first use (reads never need it)."""
        return StatCache(os.path.join(self.settings.cache_dir, "statcache.sqlite"))

    def backend_for(self, root: str) -> Backend:
        """A backend for another registered root (artifacts saved from another instance)."""
        if root == self.backend.root:
            return self.backend
        return open_backend(root, self.settings.transport)

    def describe(self) -> dict[str, Any]:
        return {
            "db": redact_url(self.settings.db),
            "storage": self.settings.storage,
            "cache_dir": self.settings.cache_dir,
            "source": self.settings.source,
        }


def connect(db: str | None = None, storage: str | None = None, create: bool = True) -> Instance:
    """Open (and make current) the instance for ``db``/``storage``, resolved as documented.

    ``create=False`` (every CLI command but ``init``) refuses a database that holds no
    instance yet, so a typo in a URL never creates a new, empty one; the embedded default
    is always created on first use.
    """
    settings = resolve(db, storage)
    with _lock:
        current = _context._active_instance
        if current is not None and current.settings == settings:
            return current  # type: ignore[no-any-return]
        if current is not None:
            _refuse_while_runs_open(current.settings, settings)
            _context.leaving_instance()  # e.g. queued writes go to the instance they were for
        instance = _open(settings, create or settings.source == "default")
        if current is not None:
            current.db.close()
        database.initialize(instance.db)
        _context.set_instance(instance)
        if current is None or not same_database(current.settings.db, settings.db):
            _context.clear()  # (no run is open: see _refuse_while_runs_open)
        return instance


def _refuse_while_runs_open(current: Settings, wanted: Settings | None) -> None:
    """Another database (``wanted``; None: none, ``disconnect``) while a run is open
    would split its records between two instances: the run's row in one, its outputs,
    children and close written into the other with ids that mean nothing there. The same
    database (another storage root, or another spelling of its URL: ``same_database``)
    keeps every id valid."""
    if wanted is not None and same_database(wanted.db, current.db):
        return
    runs = _context.open_runs()
    if not runs:
        return
    run = runs[0]
    named = f"{run.name!r} ({run.uid})" if run.name else run.uid
    where = f"run {named} is open in {redact_url(current.db)}"
    if wanted is None:
        raise TrackingError(f"cannot disconnect while {where}: disconnect after the run ends")
    raise TrackingError(
        f"cannot connect to {redact_url(wanted.db)} while {where}: "
        "connect before the run starts or after it ends"
    )


def init(storage: str, db: str | None = None, folder: str | None = None) -> Instance:
    """Create an instance and write ``threadline.toml`` in ``folder`` (default: cwd).

    The database defaults to ``.threadline/threadline.db`` beside the project file. The
    instance is opened (and so checked) before the file is written.
    """
    from pathlib import Path  # not at import (see _config's docstring)

    base = Path(folder or os.getcwd()).resolve()
    storage_root = normalize_storage(storage, base)
    db_url = normalize_db(db, base) if db else sqlite_url(base / ".threadline" / "threadline.db")
    instance = connect(db=db_url, storage=storage_root)
    write_project_file(base, storage_root, db_url)
    return instance


def _missing(settings: Settings) -> ConfigError:
    return ConfigError(
        f"no threadline instance at {redact_url(settings.db)} (from {settings.source}): "
        "check the URL, or create one with `threadline init`"
    )


def _sqlite_folder(settings: Settings, create: bool) -> None:
    """The SQLite file's folder: created only when creating an instance."""
    path = sqlite_path(settings.db)
    if os.path.exists(path):
        if os.path.isdir(path):
            raise DatabaseError(f"database {path} is a folder, not an SQLite file")
        return
    if not create:
        raise _missing(settings)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as exc:
        folder = os.path.dirname(path)
        reason = exc.strerror or str(exc)
        raise DatabaseError(f"cannot create the database folder {folder}: {reason}") from exc


def _open(settings: Settings, create: bool = True) -> Instance:
    if settings.db.startswith("sqlite:///"):
        _sqlite_folder(settings, create)
    backend = open_backend(settings.storage, settings.transport)
    backend.check_reachable()
    db = open_database(settings.db)
    previous = database.obj
    database.initialize(db)
    try:
        db.connect(reuse_if_open=True)
        if not create and not db.get_tables():
            raise _missing(settings)
        ensure_schema(db, TABLES)
        record = _storage_record(backend)
    except BaseException:
        database.initialize(previous)  # leave the previous instance as it was
        db.close()
        raise
    backend.create_root()  # the embedded default's folder appears on first use
    return Instance(settings, db, backend, record)


def _storage_record(backend: Backend) -> Storage:
    kind = "local" if backend.is_local else backend.root.split("://", 1)[0]
    record = Storage.get_or_none(Storage.root == backend.root)
    if record is None:
        Storage.insert(root=backend.root, type=kind).on_conflict_ignore().execute()
        record = Storage.get(Storage.root == backend.root)
    return record  # type: ignore[no-any-return]


def _connect_default() -> None:
    with _lock:
        if _context._active_instance is None:
            connect()


_context.register_connector(_connect_default)


def disconnect() -> None:
    """Close the current instance; the next use resolves and opens one again. Refused
    while a run is open: its outputs and close would go to whichever instance the next
    use opens."""
    with _lock:
        current = _context._active_instance
        if current is not None:
            _refuse_while_runs_open(current.settings, None)
            _context.leaving_instance()
            current.db.close()
        _context.set_instance(None)
        _context.clear()
        database.initialize(None)
