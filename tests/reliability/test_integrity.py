"""Storage that cannot lie: folders complete or absent, sources that move refused, the
umask honoured, orphans of failed database writes found and collected."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import threadline as tl
from click.testing import CliRunner
from threadline.cli import main
from threadline.errors import DatabaseError, SourceChanged
from threadline.maintenance import check, gc, orphans
from threadline.storage import OBJECTS, _manifest, manifest_path


def write_folder(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"f{i:03d}.txt").write_text(f"file {i}")
    return folder


def test_a_partial_folder_without_manifest_does_not_count(instance, isolated):
    """What a save killed mid-upload leaves: 30 of 200 files at the content address and
    no manifest. The next identical save must upload the rest, not record 30 files."""
    folder = write_folder(isolated / "data", 200)
    first = tl.Artifact(folder, key="data").save()
    backend = tl.instance().backend
    first.delete(permanent=True)
    for i in range(30):  # the state an interrupted upload leaves behind
        backend.put_file(str(folder / f"f{i:03d}.txt"), f"{first.path}/f{i:03d}.txt")
    assert not _manifest.complete(backend, first.path, first.hash)
    again = tl.Artifact(folder, key="data").save()
    assert again.path == first.path and again.n_files == 200
    assert len(backend.list(again.path)) == 200
    assert _manifest.complete(backend, again.path, again.hash)
    assert check() == []
    assert sorted(os.listdir(again.cache())) == sorted(os.listdir(folder))


def test_a_manifest_is_written_last_and_removed_first(instance, isolated):
    folder = write_folder(isolated / "d", 3)
    saved = tl.Artifact(folder, key="d").save()
    backend = tl.instance().backend
    assert backend.exists(manifest_path(saved.path))
    entries = _manifest.read(backend, saved.path)
    assert [e[0] for e in entries or []] == ["f000.txt", "f001.txt", "f002.txt"]
    saved.delete(permanent=True)
    assert not backend.exists(manifest_path(saved.path)) and backend.list(saved.path) == []


def test_an_empty_folder_is_a_valid_artifact(instance, isolated):
    empty = isolated / "empty"
    empty.mkdir()
    saved = tl.Artifact(empty, key="empty").save()
    assert saved.n_files == 0 and saved.size == 0
    assert os.listdir(saved.cache()) == []
    assert tl.Artifact(empty, key="empty").save().id == saved.id
    assert check() == []


WRITER = textwrap.dedent("""
    import os, sys, time
    path, stop = sys.argv[1], sys.argv[2]
    with open(path, "r+b") as handle:
        n = 0
        while not os.path.exists(stop):
            handle.seek((n * 7919) % (50 << 20))
            handle.write(os.urandom(4096))
            handle.flush()
            n += 1
            time.sleep(0.001)
""")


def test_a_file_rewritten_during_the_save_is_refused(local_instance, isolated):
    big = isolated / "big.bin"
    with open(big, "wb") as handle:
        handle.truncate(50 << 20)
    stop = isolated / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(big), str(stop)])
    try:
        time.sleep(0.3)
        with pytest.raises(SourceChanged, match="changed while it was being saved"):
            tl.Artifact(big, key="big.bin").save()
    finally:
        stop.touch()
        writer.wait(timeout=60)
    assert tl.Artifact.filter(key="big.bin").count() == 0
    assert orphans() == []  # no object either: the copy was never renamed into place
    saved = tl.Artifact(big, key="big.bin").save()  # quiet now: saved
    assert check() == [] and saved.size == 50 << 20


def test_same_size_same_mtime_replacement_is_a_new_version(local_instance, isolated):
    path, other = isolated / "f.txt", isolated / "g.txt"
    path.write_text("version-1")
    other.write_text("version-2")
    os.utime(other, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    first = tl.Artifact(path, key="f.txt").save()
    subprocess.run(["cp", "-p", str(other), str(path)], check=True)
    second = tl.Artifact(path, key="f.txt").save()
    assert second.version == 2 and second.hash != first.hash
    assert second.load() == "version-2"


@pytest.mark.parametrize("mask, mode", [(0o077, 0o400), (0o022, 0o444)])
def test_objects_and_folders_honour_the_umask(local_instance, isolated, mask, mode):
    big = isolated / "big.bin"
    big.write_bytes(os.urandom(300 << 10))  # above the one-read size: copied
    small = isolated / "small.txt"
    small.write_text("small")
    folder = write_folder(isolated / "folder", 2)
    old = os.umask(mask)
    try:
        saved = [tl.Artifact(p, key=p.name).save() for p in (big, small, folder)]
    finally:
        os.umask(old)
    backend = tl.instance().backend
    for artifact in saved:
        paths = [artifact.path] if artifact.n_files is None else backend.list(artifact.path)
        for rel in paths:
            assert os.stat(backend.local_path(rel)).st_mode & 0o777 == mode, rel


def test_a_failed_database_write_leaves_an_orphan_that_check_and_gc_handle(db_instance, isolated):
    """A read-only database for real: SQLite ``PRAGMA query_only``, PostgreSQL
    ``default_transaction_read_only`` for the session. The object is stored, the record
    is not: ``orphans()`` lists it and ``gc`` removes it; writes work again afterwards."""
    db = tl.instance().db
    source = isolated / "a.bin"
    source.write_bytes(os.urandom(1000))
    if "sqlite" in tl.instance().settings.db:
        db.execute_sql("PRAGMA query_only=1")
    else:
        db.execute_sql("SET SESSION default_transaction_read_only = on")
    try:
        with pytest.raises(DatabaseError, match="read") as caught:
            tl.Artifact(source, key="a.bin").save()
        assert "\n" not in str(caught.value)
    finally:
        if "sqlite" in tl.instance().settings.db:
            db.execute_sql("PRAGMA query_only=0")
        else:
            db.execute_sql("SET SESSION default_transaction_read_only = off")
    assert check() == []  # no record is wrong...
    found = orphans()
    assert [o.path.startswith(OBJECTS) for o in found] == [True]  # ...one object is extra
    result = CliRunner().invoke(main, ["check"], prog_name="threadline")
    assert f"orphan object: {found[0].uri}" in result.stdout, result.stdout
    assert gc(min_age_s=3600)["objects_removed"] == 0  # young: perhaps a save in progress
    assert gc(min_age_s=0)["objects_removed"] == 1 and orphans() == []
    assert tl.Artifact(source, key="a.bin").save().version == 1
    assert check() == [] and orphans() == []
