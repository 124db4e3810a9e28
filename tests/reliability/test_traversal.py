"""Nothing outside its root: a corpus of traversal attempts against every backend, the
save API, crafted database rows and a hostile S3 bucket listing (0 escapes)."""

import os
from pathlib import Path

import pytest
import threadline as tl
from threadline.errors import InvalidInput, StorageError
from threadline.storage import FsspecBackend, LocalBackend, inside, open_backend

from tests import harness
from tests.reliability.faults import TRAVERSAL, traverse_backend


@pytest.mark.parametrize("kind", ["local", "memory", "s3"])
def test_every_backend_refuses_the_traversal_corpus(kind, tmp_path, request):
    root = tmp_path / "a" / "b" / "c" / "root"  # deep enough that every '..' lands in tmp
    root.mkdir(parents=True)
    if kind == "local":
        backend = LocalBackend(str(root))
    elif kind == "memory":
        backend = FsspecBackend(f"memory://traversal-{os.getpid()}-{id(root)}/data")
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        harness.make_bucket(endpoint, "traversal")
        backend = open_backend("s3://traversal/data")
    result = traverse_backend(backend, tmp_path, root)
    assert result.escapes == 0
    # every corpus path has '..', an absolute start or NUL: each operation refuses it
    assert result.refused == result.attempts


def test_containment_accepts_ordinary_paths():
    for ok in ("a", "a/b.txt", ".threadline/objects/sha256/ab/cd.txt", "a..b/c", "...", "x.."):
        assert inside(ok, "/root") == f"/root/{ok}"
    for bad in TRAVERSAL:
        with pytest.raises(StorageError, match="refusing path"):
            inside(bad, "/root")


@pytest.mark.parametrize(
    "suffix", ["/../../x", "/x", "../x", ".a/b", ".\x00", "x", "." + "a" * 80, ".a\nb"]
)
def test_a_suffix_cannot_become_a_path(local_instance, isolated, suffix):
    source = isolated / "f.txt"
    source.write_text("content")
    with pytest.raises(InvalidInput, match="invalid suffix"):
        tl.Artifact(source, key="f.txt", suffix=suffix).save()
    assert tl.Artifact.filter().count() == 0
    root = Path(tl.instance().backend.root)
    outside = [p for p in isolated.parent.rglob("*") if p.name == "x" and root not in p.parents]
    assert outside == []


def crafted(path_value: str, instance_dir: Path) -> tl.Artifact:
    source = instance_dir / "victim.txt"
    source.write_text("recorded content")
    saved = tl.Artifact(source, key="victim.txt").save()
    tl.Artifact.update(path=path_value).where(tl.Artifact.id == saved.id).execute()
    return tl.Artifact.get(key="victim.txt")


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "object-dotdot"])
def test_a_crafted_path_row_is_never_followed(instance, isolated, kind):
    outside = isolated / "outside.txt"
    outside.write_text("must survive")
    value = {
        "absolute": str(outside),
        "dotdot": "../" * 12 + str(outside).lstrip("/"),
        "object-dotdot": ".threadline/objects/sha256/../../../../outside.txt",
    }[kind]
    artifact = crafted(value, isolated)
    with pytest.raises(StorageError, match="refusing path"):
        artifact.load()
    with pytest.raises(StorageError, match="refusing path"):
        artifact.open("rb")
    problems = tl.maintenance.check()
    assert [p.issue for p in problems] == ["path outside the storage root"]
    with pytest.raises(StorageError, match="refusing path"):
        artifact.delete(permanent=True)
    assert outside.read_text() == "must survive"


def test_an_s3_listing_with_dotdot_keys_writes_nothing_outside_the_cache(
    isolated, tmp_path, monkeypatch, s3_endpoint
):
    harness.make_bucket(s3_endpoint, "hostile")
    cache = tmp_path / "c1" / "c2" / "c3" / "cache"
    monkeypatch.setenv("THREADLINE_CACHE_DIR", str(cache))
    tl.connect(db=f"sqlite:///{tmp_path / 'tl.db'}", storage="s3://hostile/data")
    try:
        client = _client(s3_endpoint)
        client.put_object(Bucket="hostile", Key="data/results/a.txt", Body=b"a")
        folder = tl.Artifact("s3://hostile/data/results", key="results").save()
        managed = tl.Artifact(_folder(isolated), key="managed").save()
        depth = len(Path(folder.path).parts) + 12
        for prefix in ("data/results", f"data/{managed.path}"):
            for n in (1, 3, depth):
                key = f"{prefix}/{'../' * n}escape-{n}.txt"
                client.put_object(Bucket="hostile", Key=key, Body=b"owned")
        with pytest.raises(StorageError, match="refusing path"):
            folder.cache()
        managed_copy = managed.cache()  # its manifest names its files: listing unused
        assert sorted(os.listdir(managed_copy)) == ["one.txt", "two.txt"]
        escaped = [p for p in tmp_path.rglob("escape-*") if cache not in p.parents]
        assert escaped == []
    finally:
        tl.disconnect()


def _folder(base: Path) -> Path:
    folder = base / "managed"
    folder.mkdir()
    (folder / "one.txt").write_text("1")
    (folder / "two.txt").write_text("2")
    return folder


def _client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_a_link_inside_the_local_root_that_points_out_is_refused(tmp_path):
    """A symbolic link below the root counts by where it leads: out of the root it is
    refused for every operation (the object folder, a folder of an in-place path, the
    object itself); a link that stays inside the root is followed."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("must survive")
    backend = LocalBackend(str(root))
    backend.put_bytes(b"first", ".threadline/objects/sha256/aa/first.txt")
    (root / ".threadline/objects/sha256/bb").symlink_to(outside)
    (root / "data").symlink_to(outside)
    (root / "inner").mkdir()
    (root / "inner" / "file.txt").write_text("inside")
    (root / "alias").symlink_to(root / "inner")
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    for path in (".threadline/objects/sha256/bb/new.txt", "data/secret.txt", "leak.txt"):
        for operation in (
            lambda p: backend.put_bytes(b"owned", p),
            lambda p: backend.put_file(str(root / "inner" / "file.txt"), p),
            backend.info,
            backend.open,
            backend.remove,
            backend.list,
            lambda p: backend.get_file(p, str(tmp_path / "copy.txt")),
            lambda p: backend.move(p, "moved.txt"),
        ):
            with pytest.raises(StorageError, match="resolves outside"):
                operation(path)
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "must survive"
    assert backend.info("alias/file.txt") == backend.info("inner/file.txt") is not None
    with backend.open("alias/file.txt") as handle:
        assert handle.read() == b"inside"
