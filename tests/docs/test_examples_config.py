"""Examples of docs/configuration.md and docs/errors.md, run for real."""

from pathlib import Path

import pytest
import threadline as tl


def test_init(isolated):
    # -- start config-init --
    import threadline as tl

    inst = tl.init("lineage-store")  # writes ./threadline.toml; SQLite in ./.threadline/
    assert Path("threadline.toml").is_file()
    assert inst.describe()["storage"] == str(Path("lineage-store").resolve())
    # -- end config-init --
    text = Path("threadline.toml").read_text()
    assert f'storage = "{isolated / "lineage-store"}"' in text
    assert f'db = "sqlite:///{isolated / ".threadline" / "threadline.db"}"' in text
    tl.disconnect()
    (isolated / "sub").mkdir()
    import os

    os.chdir(isolated / "sub")
    assert tl.connect().describe()["source"] == str(isolated / "threadline.toml")
    tl.disconnect()


def test_connect(isolated, tmp_path):
    db_file = tmp_path / "other" / "lineage.db"
    store = tmp_path / "other" / "objects"
    # -- start config-connect --
    tl.connect(db=f"sqlite:///{db_file}", storage=str(store))  # explicit: wins over all
    info = tl.instance().describe()
    assert info["source"] == "arguments" and info["storage"] == str(store)

    tl.disconnect()  # the next use resolves and opens an instance again
    # -- end config-connect --
    assert db_file.is_file()
    assert tl.instance().describe()["source"] == "default"
    assert tl.instance().settings.db == f"sqlite:///{isolated.parent / 'home' / 'threadline.db'}"
    tl.disconnect()


def test_switch_while_a_run_is_open(local_instance, tmp_path):
    other_db, store = tmp_path / "other.db", tmp_path / "other-store"
    # -- start config-switch --
    run = tl.track()
    with pytest.raises(tl.errors.TrackingError, match=r"while run .* is open"):
        tl.connect(db=f"sqlite:///{other_db}", storage=str(store))  # nothing opened
    with pytest.raises(tl.errors.TrackingError, match=r"cannot disconnect while run"):
        tl.disconnect()  # the instance stays open
    tl.finish()
    tl.connect(db=f"sqlite:///{other_db}", storage=str(store))  # the run has ended: fine
    # -- end config-switch --
    assert tl.Run.select().count() == 0  # the run is in the first instance only
    tl.connect(db=local_instance.settings.db, storage=local_instance.settings.storage)
    assert tl.Run.get(uid=run.uid).status == "completed"


def test_environment(isolated, tmp_path, monkeypatch):
    monkeypatch.setenv("THREADLINE_DB", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("THREADLINE_STORAGE", str(tmp_path / "env-store"))
    tl.init("project-store")
    tl.disconnect()
    assert tl.instance().describe()["source"] == "environment"  # env beats threadline.toml
    tl.disconnect()
    monkeypatch.delenv("THREADLINE_STORAGE")
    with pytest.raises(tl.errors.ConfigError, match="must be set together"):
        tl.connect()


def test_bad_urls(isolated):
    with pytest.raises(tl.errors.ConfigError, match="unsupported database URL"):
        tl.connect(db="mysql://x/y", storage="s")
    with pytest.raises(tl.errors.ConfigError, match="unsupported storage"):
        tl.connect(db="sqlite:///x.db", storage="ftp://host/x")


def test_errors(local_instance, isolated):
    # -- start errors-catch --
    try:
        tl.Artifact.get(key="raw/missing.fasta")
    except tl.errors.NotFound as err:
        print(err)  # no Artifact matches key='raw/missing.fasta'

    try:
        tl.Artifact("missing.fasta", key="raw/missing.fasta").save()
    except tl.errors.ThreadlineError as err:  # the root: everything threadline raises
        assert isinstance(err, ValueError)  # InvalidInput is also a ValueError
    # -- end errors-catch --
    with pytest.raises(tl.errors.NotFound, match=r"raw/missing\.fasta"):
        tl.Artifact.get(key="raw/missing.fasta")
    with pytest.raises(LookupError):
        tl.Artifact.get(key="raw/missing.fasta")
    with pytest.raises(tl.errors.InvalidInput, match="path not found"):
        tl.Artifact("missing.fasta", key="raw/missing.fasta").save()


def test_new_storage_root_keeps_old_artifacts_readable(isolated):
    """As docs/configuration.md says: a second root, same database, old artifacts load."""
    tl.init("store-a")
    Path("a.txt").write_text("in a")
    old = tl.Artifact("a.txt", key="a.txt").save()
    tl.init("store-b")  # same folder: the same SQLite database
    Path("b.txt").write_text("in b")
    new = tl.Artifact("b.txt", key="b.txt").save()
    assert tl.Artifact.get(key="a.txt").load() == "in a"
    assert old.uri.startswith(str(isolated / "store-a"))
    assert new.uri.startswith(str(isolated / "store-b"))
    assert sorted(s.root for s in tl.Storage.filter()) == [
        str(isolated / "store-a"),
        str(isolated / "store-b"),
    ]
    tl.disconnect()
