"""Connections and configuration: driver errors, SQLite pragmas, the resolution order, init."""

import subprocess
import threading
from pathlib import Path

import pytest
import threadline as tl
from threadline import _config
from threadline._config import redact_url, resolve
from threadline._db import open_database
from threadline.errors import ConfigError, DatabaseError, StorageError

from tests import harness


def closed_port_url(password: str = "s3cr3t-pw") -> str:
    return f"postgresql://alice:{password}@127.0.0.1:{harness.free_port()}/threadline"


# -- database errors ------------------------------------------------------------------------


def test_unreachable_postgres_is_a_one_line_database_error(isolated):
    url = closed_port_url()
    with pytest.raises(DatabaseError) as caught:
        tl.connect(db=url, storage=str(isolated / "storage"))
    message = str(caught.value)
    assert "\n" not in message
    assert "s3cr3t-pw" not in message
    assert message.startswith("database postgresql://alice:***@127.0.0.1:")
    assert "refused" in message.lower() or "failed" in message.lower()
    assert isinstance(caught.value, tl.errors.ThreadlineError)


def test_a_failed_connect_leaves_no_half_open_instance(isolated):
    with pytest.raises(DatabaseError):
        tl.connect(db=closed_port_url(), storage=str(isolated / "storage"))
    inst = tl.connect(db=f"sqlite:///{isolated / 'ok.db'}", storage=str(isolated / "storage"))
    try:
        assert tl.Artifact.filter().count() == 0
        assert inst.settings.db.endswith("ok.db")
    finally:
        tl.disconnect()


@pytest.mark.parametrize(
    "url", ["mysql://bob:hunter2@db/x", "redis://localhost", "just-a-path", "sqlite:/x.db"]
)
def test_unsupported_database_urls_are_config_errors(isolated, url):
    with pytest.raises(ConfigError, match="unsupported database URL") as caught:
        tl.connect(db=url, storage=str(isolated / "storage"))
    assert "hunter2" not in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "url, problem",
    [
        ("postgresql://bob:hunter2@db.example:5432/", "names no database"),
        ("postgresql://bob:hunter2@db.example:port/x", "invalid port"),
        ("postgresql://bob:hunter2@db.example/x?sslmode", "invalid port or query"),
    ],
)
def test_malformed_postgres_urls_are_config_errors(url, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        open_database(url)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "url, password",
    [
        ("postgresql://bob:p%40ss@db/x", "p@ss"),
        ("postgresql://bob@db/x?password=a+b", "a+b"),  # as libpq reads it: not "a b"
        ("postgresql://bob:first@db/x?password=second", "second"),  # the query wins
        ("postgresql://bob@db/x", None),
        ("sqlite:////tmp/x.db", None),
    ],
)
def test_the_password_masked_in_errors_is_the_one_used(url, password):
    assert _config.url_password(url) == password


def test_the_urls_query_parameters_reach_postgresql(isolated, postgres):
    """libpq keywords in the query (sslmode, application_name, ...) are passed on; before,
    they were dropped without a word, so ``?sslmode=require`` connected without TLS."""
    url = postgres.create_database("query_parameters")
    tl.connect(db=f"{url}?application_name=tl-query-test", storage=str(isolated / "st"))
    try:
        shown = tl.instance().db.execute_sql("SHOW application_name").fetchone()[0]
        assert shown == "tl-query-test"
    finally:
        tl.disconnect()
    with pytest.raises(DatabaseError, match="SSL") as caught:  # the test server has no TLS
        tl.connect(db=f"{url}?sslmode=require", storage=str(isolated / "st"))
    assert "\n" not in str(caught.value)
    with pytest.raises(DatabaseError, match="invalid connection option") as caught:
        tl.connect(db=f"{url}?password=hunter2&no_such_option=1", storage=str(isolated / "st"))
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
        (
            "postgresql://u@h/db?password=secret&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(local_instance):
    db = tl.instance().db

    def pragmas() -> dict[str, object]:
        return {
            name: db.execute_sql(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "busy_timeout", "foreign_keys")
        }

    expected = {"journal_mode": "wal", "busy_timeout": 120_000, "foreign_keys": 1}
    assert pragmas() == expected
    in_thread: list[dict[str, object]] = []  # each thread has its own connection
    worker = threading.Thread(target=lambda: in_thread.append(pragmas()))
    worker.start()
    worker.join()
    assert in_thread == [expected]


@pytest.mark.parametrize(("level", "expected"), [("", 1), ("full", 2), ("EXTRA", 3)])
def test_sqlite_synchronous_comes_from_the_environment(isolated, monkeypatch, level, expected):
    monkeypatch.setenv("THREADLINE_SQLITE_SYNCHRONOUS", level)
    db = open_database(f"sqlite:///{isolated / 'sync.db'}")
    try:
        assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == expected  # 1 = NORMAL
    finally:
        db.close()


def test_a_bad_sqlite_synchronous_is_a_config_error(isolated, monkeypatch):
    monkeypatch.setenv("THREADLINE_SQLITE_SYNCHRONOUS", "off")
    with pytest.raises(ConfigError, match="THREADLINE_SQLITE_SYNCHRONOUS must be normal"):
        open_database(f"sqlite:///{isolated / 'sync.db'}")
    assert not (isolated / "sync.db").exists()


# -- resolution order -----------------------------------------------------------------------


def project_file(folder: Path, storage: str, db: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "threadline.toml"
    path.write_text(f'storage = "{storage}"\ndb = "{db}"\n')
    return path


def test_default_instance_lives_under_threadline_home(isolated, tmp_path):
    settings = resolve()
    home = tmp_path / "home"
    assert settings.source == "default"
    assert settings.db == f"sqlite:///{home.resolve() / 'threadline.db'}"
    assert settings.storage == str((home / "storage").resolve())
    inst = tl.connect()  # created on first use
    try:
        assert (home / "threadline.db").is_file() and inst.settings == settings
        (isolated / "a.txt").write_text("a")
        tl.Artifact(isolated / "a.txt", key="a.txt").save()
        assert (home / "storage").is_dir()
    finally:
        tl.disconnect()


def test_project_file_found_upward_beats_the_default(isolated, monkeypatch):
    path = project_file(isolated, "shared-storage", "sqlite:///state/db.sqlite")
    deeper = isolated / "analysis" / "notebooks"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    settings = resolve()
    assert settings.source == str(path.resolve())
    assert settings.storage == str((isolated / "shared-storage").resolve())  # beside the file
    assert settings.db == f"sqlite:///{(isolated / 'state' / 'db.sqlite').resolve()}"


def test_nearest_project_file_wins(isolated, monkeypatch):
    project_file(isolated, "outer", "sqlite:///outer.db")
    inner = project_file(isolated / "inner", "inner-storage", "sqlite:///inner.db")
    monkeypatch.chdir(isolated / "inner")
    assert resolve().source == str(inner.resolve())


def test_environment_beats_the_project_file(isolated, monkeypatch):
    project_file(isolated, "from-file", "sqlite:///file.db")
    monkeypatch.setenv("THREADLINE_DB", f"sqlite:///{isolated / 'env.db'}")
    monkeypatch.setenv("THREADLINE_STORAGE", str(isolated / "env-storage"))
    settings = resolve()
    assert settings.source == "environment"
    assert settings.db.endswith("/env.db") and settings.storage.endswith("/env-storage")


def test_arguments_beat_the_environment(isolated, monkeypatch):
    monkeypatch.setenv("THREADLINE_DB", f"sqlite:///{isolated / 'env.db'}")
    monkeypatch.setenv("THREADLINE_STORAGE", str(isolated / "env-storage"))
    both = resolve(db=f"sqlite:///{isolated / 'arg.db'}", storage=str(isolated / "arg-storage"))
    assert both.source == "arguments"
    assert both.db.endswith("/arg.db") and both.storage.endswith("/arg-storage")
    only_db = resolve(db=f"sqlite:///{isolated / 'arg.db'}")  # the other from the next level
    assert only_db.db.endswith("/arg.db") and only_db.storage.endswith("/env-storage")
    inst = tl.connect(db=f"sqlite:///{isolated / 'arg.db'}", storage=str(isolated / "arg-st"))
    try:
        assert inst.settings.source == "arguments" and (isolated / "arg.db").is_file()
        assert not (isolated / "env.db").exists()
    finally:
        tl.disconnect()


@pytest.mark.parametrize(
    "present, missing",
    [("THREADLINE_DB", "THREADLINE_STORAGE"), ("THREADLINE_STORAGE", "THREADLINE_DB")],
)
def test_one_environment_variable_alone_is_a_config_error(isolated, monkeypatch, present, missing):
    monkeypatch.setenv(
        present,
        f"sqlite:///{isolated / 'x.db'}" if present.endswith("DB") else str(isolated / "st"),
    )
    with pytest.raises(ConfigError, match=f"{missing} must be set together") as caught:
        resolve()
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError):
        tl.connect()


def test_bad_project_files_are_config_errors(isolated):
    (isolated / "threadline.toml").write_text('storage = "only-storage"\n')
    with pytest.raises(ConfigError, match="must set both 'storage' and 'db'"):
        resolve()
    (isolated / "threadline.toml").write_text("storage = \n")
    with pytest.raises(ConfigError, match="cannot read"):
        resolve()


def test_unsupported_storage_is_a_config_error(isolated):
    with pytest.raises(ConfigError, match="unsupported storage 'ftp://host/x'"):
        resolve(db=f"sqlite:///{isolated / 'x.db'}", storage="ftp://host/x")
    with pytest.raises(ConfigError, match="names no bucket"):
        resolve(db=f"sqlite:///{isolated / 'x.db'}", storage="s3://")


# -- init -----------------------------------------------------------------------------------


def test_init_writes_the_project_file_after_opening(isolated, monkeypatch):
    inst = tl.init(storage="data")
    try:
        text = (isolated / "threadline.toml").read_text()
        assert _config.read_project_file(isolated / "threadline.toml") == (
            inst.settings.db,
            inst.settings.storage,
            _config.Transport(),
        )
        assert inst.settings.storage == str((isolated / "data").resolve())
        assert inst.settings.db.endswith("/.threadline/threadline.db") and "storage" in text
        path = isolated / "a.txt"
        path.write_text("a")
        tl.Artifact(path, key="a.txt").save()
    finally:
        tl.disconnect()
    sub = isolated / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    found = tl.connect()
    try:  # found again from a subfolder, through the project file
        assert found.settings.source == str((isolated / "threadline.toml").resolve())
        assert tl.Artifact.get(key="a.txt").load() == "a"
    finally:
        tl.disconnect()


def test_init_with_an_unreachable_database_writes_no_file(isolated):
    with pytest.raises(DatabaseError):
        tl.init(storage="data", db=closed_port_url())
    assert not (isolated / "threadline.toml").exists()


def test_init_with_unusable_storage_writes_no_file(isolated):
    (isolated / "a-file").write_text("not a folder")
    with pytest.raises(StorageError):
        tl.init(storage="a-file/data")
    assert not (isolated / "threadline.toml").exists()


def test_openlineage_url_from_the_project_file_and_the_environment(isolated, monkeypatch):
    monkeypatch.delenv("THREADLINE_OPENLINEAGE_URL", raising=False)
    (isolated / "threadline.toml").write_text(
        'storage = "st"\ndb = "sqlite:///x.db"\nopenlineage_url = "http://127.0.0.1:5000"\n'
    )
    assert resolve().openlineage_url == "http://127.0.0.1:5000"
    monkeypatch.setenv("THREADLINE_OPENLINEAGE_URL", "https://ol.example/api")
    assert resolve().openlineage_url == "https://ol.example/api"
    monkeypatch.setenv("THREADLINE_OPENLINEAGE_URL", "ol.example")
    with pytest.raises(ConfigError, match="must be an http"):
        resolve()


@pytest.mark.parametrize(
    "name", ['dq"uote', "back\\slash", "new\nline", "tab\there", "del\x7fchar", "ünï €", "#hash"]
)
def test_init_round_trips_any_storage_path(isolated, name):
    """The project file is written by a TOML library: whatever the folder is called, the
    next command reads back exactly what init was given."""
    inst = tl.init(storage=name)
    try:
        expected = str((isolated / name).resolve())
        assert inst.settings.storage == expected
        assert _config.read_project_file(isolated / "threadline.toml")[1] == expected
    finally:
        tl.disconnect()


def test_only_init_creates_an_instance(isolated):
    url = f"sqlite:///{isolated / 'typo' / 'x.db'}"
    with pytest.raises(ConfigError, match=r"no threadline instance at .*threadline init"):
        tl.connect(db=url, storage=str(isolated / "st"), create=False)
    assert not (isolated / "typo").exists() and not (isolated / "st").exists()
    tl.init(storage="st", db=url)
    tl.disconnect()
    assert tl.connect(db=url, storage=str(isolated / "st"), create=False).settings.db == url
    tl.disconnect()


def test_a_postgres_database_without_an_instance_is_refused(isolated, postgres):
    url = postgres.create_database("empty_no_instance")
    with pytest.raises(ConfigError, match="no threadline instance"):
        tl.connect(db=url, storage=str(isolated / "st"), create=False)


def test_sqlite_after_a_read_only_episode(isolated):
    """A process that found the database read-only (PRAGMA query_only, as a reader
    without write permission does) leaves -wal/-shm behind; later runs work."""
    import sqlite3

    url = f"sqlite:///{isolated / 'db' / 'tl.db'}"
    tl.init(storage="st", db=url)
    (isolated / "a.txt").write_text("a")
    tl.Artifact(isolated / "a.txt", key="a.txt").save()
    tl.disconnect()
    reader = sqlite3.connect(isolated / "db" / "tl.db")
    reader.execute("PRAGMA query_only=1")
    assert reader.execute("SELECT COUNT(*) FROM artifact").fetchone()[0] == 1
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("INSERT INTO storage (root, type, created_at) VALUES ('x', 'y', 'z')")
    assert (isolated / "db" / "tl.db-wal").exists()
    tl.connect(db=url, storage=str(isolated / "st"), create=False)  # while it still reads
    try:
        (isolated / "b.txt").write_text("b")
        assert tl.Artifact(isolated / "b.txt", key="b.txt").save().version == 1
    finally:
        tl.disconnect()
        reader.close()
    tl.connect(db=url, storage=str(isolated / "st"), create=False)
    try:
        assert tl.Artifact.filter().count() == 2
    finally:
        tl.disconnect()


def _chattr(flag: str, path: Path) -> bool:
    try:
        return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0
    except OSError:
        return False


def test_an_immutable_sqlite_file_then_writable_again(isolated):
    """A real read-only database, even for root: ``chattr +i``. Opening it is one clear
    line; the -wal/-shm files that episode leaves behind do not break the next run."""
    url = f"sqlite:///{isolated / 'db' / 'tl.db'}"
    db_file = isolated / "db" / "tl.db"
    tl.init(storage="st", db=url)
    (isolated / "a.txt").write_text("a")
    tl.Artifact(isolated / "a.txt", key="a.txt").save()
    tl.disconnect()
    if not _chattr("+i", db_file):
        pytest.skip("chattr +i is not available here (needs root and an ext4/xfs/btrfs folder)")
    try:
        (isolated / "b.txt").write_text("b")
        with pytest.raises(DatabaseError, match="readonly database") as caught:
            tl.connect(db=url, storage=str(isolated / "st"), create=False)  # may open...
            tl.Artifact(isolated / "b.txt", key="b.txt").save()  # ...but never write
        assert "\n" not in str(caught.value)
    finally:
        tl.disconnect()
        _chattr("-i", db_file)
    tl.connect(db=url, storage=str(isolated / "st"), create=False)
    try:
        assert tl.Artifact(isolated / "b.txt", key="b.txt").save().version == 1
        assert tl.Artifact.filter().count() == 2
    finally:
        tl.disconnect()
