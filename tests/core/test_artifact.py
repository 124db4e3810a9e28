"""Artifacts on every backend: save, idempotence, versions, reading, deletion, bad input."""

import json
import os
from pathlib import Path

import pytest
import threadline as tl
from threadline.errors import InvalidInput, InvalidKey, NotFound, StorageError

from tests.harness import write


def test_save_returns_record_with_identity(instance, isolated):
    path = write(isolated / "a.txt", "hello")
    artifact = tl.Artifact(path, key="raw/a.txt", description="greeting").save()
    assert artifact.id is not None and len(artifact.uid) == 16
    assert artifact.hash == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert (artifact.size, artifact.suffix, artifact.version) == (5, ".txt", 1)
    assert artifact.is_latest and artifact.kind == "file"
    assert tl.Artifact.get(key="raw/a.txt").uid == artifact.uid


def test_same_key_same_content_returns_existing(instance, isolated):
    path = write(isolated / "a.txt", "same")
    first = tl.Artifact(path, key="k/a.txt").save()
    second = tl.Artifact(path, key="k/a.txt").save()
    assert second.uid == first.uid
    assert tl.Artifact.filter(key="k/a.txt").count() == 1


def test_new_content_is_next_version(instance, isolated):
    path = isolated / "a.txt"
    uids = []
    for text in ("one", "two", "three"):
        write(path, text)
        uids.append(tl.Artifact(path, key="k/a.txt").save().uid)
    latest = tl.Artifact.get(key="k/a.txt")
    assert latest.uid == uids[-1] and latest.version == 3
    assert [v.version for v in latest.versions] == [1, 2, 3]
    assert [v.is_latest for v in latest.versions] == [False, False, True]
    assert latest.versions[0].load() == "one"


def test_same_content_new_key_shares_object(instance, isolated):
    path = write(isolated / "a.txt", "shared")
    one = tl.Artifact(path, key="x/a.txt").save()
    two = tl.Artifact(path, key="y/a.txt").save()
    assert one.uid != two.uid
    assert one.path == two.path and one.hash == two.hash


def test_folder_artifact_hash_and_roundtrip(instance, isolated):
    folder = isolated / "sample.zarr"
    write(folder / "b.txt", "B")
    write(folder / "sub" / "a.txt", "A")
    artifact = tl.Artifact(folder, key="folders/sample.zarr").save()
    assert artifact.n_files == 2 and artifact.size == 2 and artifact.kind == "folder"
    local = Path(artifact.cache())
    assert (local / "sub" / "a.txt").read_text() == "A"
    assert (local / "b.txt").read_text() == "B"
    # the same files again: same hash, same artifact
    assert tl.Artifact(folder, key="folders/sample.zarr").save().uid == artifact.uid


def test_load_known_suffixes(instance, isolated):
    data = {"a": [1, 2], "b": "x"}
    as_json = tl.Artifact(write(isolated / "d.json", json.dumps(data)), key="d.json").save()
    as_yaml = tl.Artifact(write(isolated / "d.yaml", "a: [1, 2]\nb: x\n"), key="d.yaml").save()
    as_text = tl.Artifact(write(isolated / "d.txt", "plain"), key="d.txt").save()
    assert as_json.load() == data and as_yaml.load() == data and as_text.load() == "plain"
    with as_text.open() as handle:
        assert handle.read() == b"plain"
    unknown = tl.Artifact(write(isolated / "d.bin", "x"), key="d.bin").save()
    with pytest.raises(InvalidInput, match=r"no loader for suffix '\.bin'"):
        unknown.load()


def test_open_refuses_writes(instance, isolated):
    artifact = tl.Artifact(write(isolated / "a.txt", "x"), key="a.txt").save()
    with pytest.raises(InvalidInput, match="immutable"):
        artifact.open("wb")


def test_delete_restore_and_permanent(instance, isolated):
    path = isolated / "a.txt"
    write(path, "v1")
    v1 = tl.Artifact(path, key="k.txt").save()
    write(path, "v2")
    v2 = tl.Artifact(path, key="k.txt").save()
    v2.delete()
    assert tl.Artifact.get(key="k.txt").uid == v1.uid  # latest visible is v1 again
    assert tl.Artifact.filter(key="k.txt").count() == 1
    assert tl.Artifact.filter(key="k.txt", visibility="trash").count() == 1
    v2.restore()
    assert tl.Artifact.get(key="k.txt").uid == v2.uid
    v2.delete(permanent=True)
    assert tl.Artifact.filter(uid=v2.uid, visibility__in=["main", "trash"]).count() == 0
    inst = tl.instance()
    assert not inst.backend.exists(v2.path)
    assert inst.backend.exists(v1.path)


def test_permanent_delete_keeps_shared_object(instance, isolated):
    path = write(isolated / "a.txt", "shared")
    one = tl.Artifact(path, key="x.txt").save()
    two = tl.Artifact(path, key="y.txt").save()
    one.delete(permanent=True)
    assert tl.instance().backend.exists(two.path)
    assert two.load() == "shared"


def test_permanent_delete_of_a_crafted_path_keeps_the_record(instance, isolated):
    # a record whose path would leave the storage root (written into the database by
    # hand, as an attacker with database access could): refused before anything changes
    outside = write(isolated / "outside.txt", "not threadline's")
    artifact = tl.Artifact(write(isolated / "a.txt", "a"), key="c/a.txt").save()
    crafted = "../" * 12 + str(outside).lstrip("/")
    tl.Artifact.update(path=crafted).where(tl.Artifact.id == artifact.id).execute()
    record = tl.Artifact.get(key="c/a.txt")
    with pytest.raises(StorageError, match="refusing path"):
        record.delete(permanent=True)
    assert tl.Artifact.get(key="c/a.txt").uid == artifact.uid  # the record stays
    assert outside.read_text() == "not threadline's"


@pytest.mark.parametrize(
    "key, reason",
    [
        ("../a", "'..' segment"),
        ("/abs/a", "absolute"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("", "empty"),
        ("a\x00b", "NUL"),
        ("x" * 1025, "longer than"),
    ],
)
def test_invalid_keys_write_nothing(instance, isolated, key, reason):
    path = write(isolated / "a.txt", "x")
    with pytest.raises(InvalidKey, match=reason):
        tl.Artifact(path, key=key).save()
    assert tl.Artifact.filter().count() == 0
    assert tl.instance().backend.list(".threadline/objects") == []


def test_a_saved_artifact_keeps_its_key(instance, isolated):
    """Saving a saved artifact writes its changed fields, but never a new key: a key with
    a newline, or one that another artifact's version holds, was written before (or
    failed as a database UNIQUE error)."""
    a = tl.Artifact(write(isolated / "a.txt", "a"), key="k/a.txt").save()
    tl.Artifact(write(isolated / "b.txt", "b"), key="k/b.txt").save()
    for key in ("bad\nkey", "k/b.txt", None):
        a.key = key
        with pytest.raises(InvalidKey, match="a saved artifact keeps its key 'k/a\\.txt'"):
            a.save()
    rows = tl.Artifact.select().order_by(tl.Artifact.id)
    assert [(r.key, r.version, r.is_latest) for r in rows] == [
        ("k/a.txt", 1, True),
        ("k/b.txt", 1, True),
    ]
    a.key, a.description = "k/a.txt", "same key"
    a.save()  # its other fields are still written
    assert tl.Artifact.get(key="k/a.txt").description == "same key"


def test_missing_path_is_one_line_error(instance, isolated):
    with pytest.raises(InvalidInput) as caught:
        tl.Artifact(isolated / "nope.txt", key="a.txt").save()
    assert "path not found" in str(caught.value) and "\n" not in str(caught.value)
    assert tl.Artifact.filter().count() == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without read permission")
def test_unreadable_path(instance, isolated):
    path = write(isolated / "secret.txt", "x")
    path.chmod(0)
    with pytest.raises(InvalidInput, match="not readable"):
        tl.Artifact(path, key="s.txt").save()


def test_get_errors_are_clear(instance, isolated):
    with pytest.raises(NotFound, match="no Artifact matches key='missing'"):
        tl.Artifact.get(key="missing")


def test_registered_in_place_under_storage_root(instance, isolated):
    inst = tl.instance()
    source = write(isolated / "r.txt", "results")
    inst.backend.put_file(str(source), "results/r.txt")
    artifact = tl.Artifact(inst.backend.uri("results/r.txt"), key="results/r.txt").save()
    assert artifact.in_place and artifact.path == "results/r.txt"
    assert artifact.hash == tl.Artifact(source, key="copy/r.txt").save().hash
    assert inst.backend.list(".threadline/objects") != []  # only the copy was uploaded
    assert artifact.load() == "results"
    artifact.delete(permanent=True)
    assert inst.backend.exists("results/r.txt")  # in-place objects are never removed


def test_outside_remote_path_rejected(instance, isolated):
    with pytest.raises(InvalidInput, match="not under the storage root"):
        tl.Artifact("s3://some-other-bucket/x.txt", key="x.txt").save()


def test_bulk_save_matches_single_saves(instance, isolated):
    paths = [write(isolated / f"f{i}.txt", f"content {i}") for i in range(30)]
    saved = tl.save([tl.Artifact(p, key=f"bulk/f{i}.txt") for i, p in enumerate(paths)])
    assert all(a.id is not None and a.version == 1 for a in saved)
    again = tl.save([tl.Artifact(p, key=f"bulk/f{i}.txt") for i, p in enumerate(paths)])
    assert [a.uid for a in again] == [a.uid for a in saved]
    write(paths[0], "changed")
    bumped = tl.save([tl.Artifact(paths[0], key="bulk/f0.txt")])[0]
    assert bumped.version == 2 and tl.Artifact.get(key="bulk/f0.txt").uid == bumped.uid
    with pytest.raises(InvalidInput, match="same key appears twice"):
        tl.save([tl.Artifact(paths[1], key="d.txt"), tl.Artifact(paths[2], key="d.txt")])


def test_bulk_save_of_identical_keyless_content_makes_one_record(instance, isolated):
    one = write(isolated / "one.txt", "same bytes")
    two = write(isolated / "two.txt", "same bytes")
    saved = tl.save([tl.Artifact(one), tl.Artifact(two)])
    assert saved[0].uid == saved[1].uid
    assert tl.Artifact.filter(key=None).count() == 1


def test_trashed_artifact_can_be_fetched_by_key(instance, isolated):
    artifact = tl.Artifact(write(isolated / "a.txt", "x"), key="t/a.txt").save()
    artifact.delete()
    assert tl.Artifact.get(key="t/a.txt", visibility="trash").uid == artifact.uid
